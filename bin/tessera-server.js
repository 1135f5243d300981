#!/usr/bin/env node
// `npm start`: the server, from dist/ (compiled at install time), never compiling on start.
import { launch } from './launch.js';

await launch('src/main');
