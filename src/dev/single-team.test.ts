import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { singleTeamApplierObjects } from './single-team.js';

describe('the single-team applier', () => {
  it('is what deploy/single-team/applier.yaml installs', async () => {
    const text = await readFile(new URL('../../deploy/single-team/applier.yaml', import.meta.url), 'utf8');
    const documents = parseAllDocuments(text).map((d) => d.toJS() as unknown);
    expect(documents).toEqual(singleTeamApplierObjects());
  });
});
