// `node --import tsx bench/readme.ts`: copies bench/results/latest.md into the README's performance
// section (between the bench:latest markers). `npm run bench -- --readme` does the same after a run.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { updateReadme } from './lib/readme.js';

const root = fileURLToPath(new URL('..', import.meta.url));
updateReadme(root, readFileSync(new URL('results/latest.md', import.meta.url), 'utf8'));
