#!/usr/bin/env node
// The `tessera` command (npx --no -- tessera …, npm run -s tessera -- …, or on PATH in the image).
import { launch } from './launch.js';

process.env.TESSERA_CLI_ENTRY = '1';
await launch('src/cli/main');
