import { createRequire } from 'node:module';
import type { PGlite, PGliteOptions } from '@electric-sql/pglite';
import type { NodeFS } from '@electric-sql/pglite/nodefs';
import { OWNER_ONLY } from './data_dir.js';

/** The part of Emscripten's NODEFS that changes a file's mode on disk. */
interface ModeSetter {
  setattr(target: unknown, attr: { mode?: number | null }): void;
}

interface EmscriptenNodeFs {
  node_ops: ModeSetter;
  stream_ops: ModeSetter;
}

/**
 * PGlite's Emscripten file system keeps its own umask (022) and, after creating a file, sets the
 * mode Postgres asked for with an explicit chmod (0666 for most files): the process umask never
 * applies to those, so DATA_DIR/pgdata filled with world-readable files. Every mode Emscripten
 * sets on disk loses its group and other bits here instead, before the first file is written
 * (docs/security.md, N14); the process umask (data_dir.ts) covers what is created without chmod.
 */
function ownerOnlyModes(nodefs: EmscriptenNodeFs): void {
  for (const ops of [nodefs.node_ops, nodefs.stream_ops]) {
    const setattr = ops.setattr.bind(ops);
    ops.setattr = (target, attr) =>
      setattr(target, attr.mode == null ? attr : { ...attr, mode: attr.mode & ~OWNER_ONLY });
  }
}

const require = createRequire(import.meta.url);

/**
 * A PGlite on `clusterDir` whose files are owner-only whatever the umask. Loaded on demand: a
 * production process never carries the embedded database's code (CommonJS builds, so this stays
 * synchronous like connectDatabase).
 */
export function openOwnerOnlyPglite(clusterDir: string): PGlite {
  const { PGlite: PGliteClass } = require('@electric-sql/pglite') as typeof import('@electric-sql/pglite');
  const { NodeFS: NodeFSClass } = require('@electric-sql/pglite/nodefs') as {
    NodeFS: typeof NodeFS;
  };
  class OwnerOnlyNodeFS extends NodeFSClass {
    override async init(...args: Parameters<NodeFS['init']>) {
      const { emscriptenOpts } = await super.init(...args);
      const preRun = [
        ...(emscriptenOpts.preRun ?? []),
        (mod: unknown) => ownerOnlyModes((mod as { NODEFS: EmscriptenNodeFs }).NODEFS),
      ];
      return { emscriptenOpts: { ...emscriptenOpts, preRun } };
    }
  }
  const options: PGliteOptions = { fs: new OwnerOnlyNodeFS(clusterDir) };
  return new PGliteClass(options);
}
