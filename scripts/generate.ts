/** Writes the generated files: deploy/crds.yaml from the API's zod schemas. */
import { writeFile } from 'node:fs/promises';
import { crdsYaml } from '../src/api/crds.js';

await writeFile(new URL('../deploy/crds.yaml', import.meta.url), crdsYaml());
console.log('wrote deploy/crds.yaml');
