import type { Knex } from 'knex';
import type { EventBus } from '../../src/events.js';
import { FactPublisher } from '../../src/facts/publisher.js';
import { MemoryDenylist } from '../../src/stores/memory/denylist.js';
import { PostgresFactWriter } from '../../src/stores/postgres/facts.js';
import { PostgresRefreshTokenStore } from '../../src/stores/postgres/refresh_tokens.js';
import { PostgresRevocationStore } from '../../src/stores/postgres/revocations.js';
import type { Denylist } from '../../src/stores/types.js';

/** The facts writer and publisher as compose.ts wires them, on a test's own database. */
export function factsOn(db: Knex, events: EventBus, now: () => number, given?: Denylist) {
  const denylist = given ?? new MemoryDenylist(new PostgresRevocationStore(db), now);
  const publisher = new FactPublisher({ events, denylist });
  const facts = new PostgresFactWriter(db, { publisher, now });
  return { denylist, publisher, facts };
}

/** The refresh store as compose.ts builds it (ACCESS_TOKEN_TTL 900 s); `publisher` hears what it ends. */
export function refreshStoreOn(
  db: Knex,
  publisher: Pick<FactPublisher, 'published'> = { published: async () => {} },
  now: () => number = Date.now,
) {
  return new PostgresRefreshTokenStore(db, { accessTokenTtl: 900, now, publisher });
}
