/**
 * Writes the generated files from the API's zod schemas: deploy/crds.yaml, and the same CRDs in
 * Capstan's Helm chart (deploy/chart/capstan/crds/crds.yaml), so `capstan install` and the chart
 * install the same API.
 */
import { writeFile } from 'node:fs/promises';
import { crdsYaml } from '../src/api/crds.js';

const CRD_FILES = ['deploy/crds.yaml', 'deploy/chart/capstan/crds/crds.yaml'];

for (const file of CRD_FILES) {
  await writeFile(new URL(`../${file}`, import.meta.url), crdsYaml());
  console.log(`wrote ${file}`);
}
