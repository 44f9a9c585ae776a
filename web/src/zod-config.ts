/**
 * Imported first by main.tsx, before any schema is built: zod 4 otherwise probes `new Function`
 * to compile fast parsers, which the Content-Security-Policy (no 'unsafe-eval') refuses — a
 * violation report on every page load that would hide a real one. Parsing a page of apps does not
 * need the compiled parsers.
 */
import { config } from 'zod';

config({ jitless: true });
