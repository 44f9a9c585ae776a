#!/usr/bin/env node
// The installed entry point runs the compiled CLI (`npm run build`); in a clone, `npm run capstan -- …` runs the sources.
import { main } from '../dist/cli/main.js';

process.exitCode = await main(process.argv);
