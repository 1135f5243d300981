import test from 'ava';
import fc from 'fast-check';
import { commandArbitraries } from './commands.js';
import { initialModel } from './model.js';
import { newRun, type Server, startModelServer } from './system.js';

/**
 * Model-based test of the session protocol (docs/sessions.md, "The session protocol as a model"):
 * random command sequences (logins, codes, refreshes with and without leeway, reuse, revocation,
 * logout, ending all sessions, disabling a user, client changes, key rotation, races) run against
 * the real HTTP app on this run's stores and are checked against a reference model after every
 * step. CI runs a bounded number of runs per fixed seed; `npm run model -- --runs N [--seed S]`
 * runs longer (MODEL_RUNS, MODEL_SEED, MODEL_COMMANDS).
 */

const SEEDS = process.env.MODEL_SEED ? [Number(process.env.MODEL_SEED)] : [20261203, 7, 424242];
// PGlite runs every statement on one connection in this process: fewer runs keep the file short.
const RUNS = Number(process.env.MODEL_RUNS ?? (process.env.DATABASE_URL ? 3 : 2));
const MAX_COMMANDS = Number(process.env.MODEL_COMMANDS ?? 25);

let server: Server;
const executed = new Map<string, number>();
const tally = (real: { executed: Map<string, number> }) => {
  for (const [k, v] of real.executed) executed.set(k, (executed.get(k) ?? 0) + v);
};
test.before(async () => {
  server = await startModelServer();
});
test.after.always(async () => {
  await server?.close();
});

const settings = (seed: number) => ({
  seed,
  numRuns: RUNS,
  includeErrorInReport: true,
  endOnFailure: process.env.MODEL_SHRINK !== '1',
});

test.serial('the session model holds for command sequences with concurrent races', async (t) => {
  for (const seed of SEEDS) {
    await fc.assert(
      fc.asyncProperty(
        fc.commands(commandArbitraries(true), { maxCommands: MAX_COMMANDS, size: 'max' }),
        async (cmds) => {
          const real = await newRun(server);
          await fc.asyncModelRun(() => ({ model: initialModel(real), real }), cmds);
          tally(real);
        },
      ),
      settings(seed),
    );
  }
  t.log([...executed].map(([k, v]) => `${k} ${v}`).join(', '));
  executed.clear();
  t.pass();
});

test.serial('the session model holds when the scheduler orders every race', async (t) => {
  for (const seed of SEEDS) {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.commands(commandArbitraries(true), { maxCommands: MAX_COMMANDS, size: 'max' }),
        async (s, cmds) => {
          const real = await newRun(server, s);
          await fc.asyncModelRun(() => ({ model: initialModel(real), real }), cmds);
          tally(real);
        },
      ),
      // Other sequences than the first test's.
      settings(seed + 1),
    );
  }
  t.log([...executed].map(([k, v]) => `${k} ${v}`).join(', '));
  executed.clear();
  t.pass();
});
