import test from 'ava';
import { AccountError } from '../../src/accounts/users.js';
import { useServer } from '../helpers/app.js';

test('concurrent creates of one username: one wins, the others are `exists`, never a 500', async (t) => {
  const s = await useServer(t);
  const results = await Promise.allSettled(
    Array.from({ length: 5 }, () => s.services.userAccounts.create('twin', 'correct horse battery')),
  );
  t.is(results.filter((r) => r.status === 'fulfilled').length, 1);
  for (const r of results) {
    if (r.status === 'rejected') {
      t.true(r.reason instanceof AccountError, String(r.reason));
      t.is((r.reason as AccountError).code, 'exists');
    }
  }
});
