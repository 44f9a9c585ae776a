/**
 * Capstan's version, from package.json: inlined by esbuild into the bundle (the image carries no
 * package.json lookup at run time) and read as JSON from a clone.
 */
import packageJson from '../../package.json' with { type: 'json' };

export const CAPSTAN_VERSION: string = packageJson.version;
