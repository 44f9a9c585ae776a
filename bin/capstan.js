#!/usr/bin/env node
// The installed entry point runs the bundled CLI (`npm run build`); in a clone, `npm run capstan -- …` runs the sources.
import { main } from '../dist/capstan.mjs';

process.exitCode = await main(process.argv);
