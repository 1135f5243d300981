#!/usr/bin/env node
// `npm start`, the image's CMD: sizes libuv's thread pool from the cores, then starts the server
// from dist/ (compiled at install time; bin/launch.js). CommonJS on purpose: the pool starts with
// the first fs, crypto or dns job, and an ES module entry is already read through the pool before
// its first line runs, so only a CommonJS entry (read synchronously) can still set its size.
'use strict';
const { availableParallelism } = require('node:os');

// docs/scaling.md: argon2 hashes run on the pool, `cores - 1` at a time (src/tokens/hashing_queue.ts),
// and two more threads stay free for the signature checks and fs work of every other request.
// An operator's own UV_THREADPOOL_SIZE is kept.
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(availableParallelism() + 1);

import('./launch.js').then(({ launch }) => launch('src/main'));
