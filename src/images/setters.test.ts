import { describe, expect, it } from 'vitest';
import { UserError } from '../core/errors.js';
import {
  parseMarker,
  updateImagesInYaml,
  updateImagesInYamlAsync,
  type HelmValuesTarget,
  type ImageChoice,
  type YamlUpdate,
} from './setters.js';

const DIGEST_A = `sha256:${'a'.repeat(64)}`;
const DIGEST_B = `sha256:${'b'.repeat(64)}`;

const app: ImageChoice = {
  policy: { namespace: 'apps', name: 'web' },
  image: 'ghcr.io/acme/web',
  tag: '1.3.0',
};
const appWithDigest: ImageChoice = { ...app, digest: DIGEST_A };
const other: ImageChoice = {
  policy: { namespace: 'apps', name: 'api' },
  image: 'ghcr.io/acme/api',
  tag: '2.0.1',
};

function update(
  file: string,
  text: string,
  choices: readonly ImageChoice[] = [app],
  helmValues?: readonly HelmValuesTarget[],
): YamlUpdate {
  return updateImagesInYaml({ file, text, choices, ...(helmValues ? { helmValues } : {}) });
}

const marker = (value: string) => `# {"$imagepolicy": "${value}"}`;

describe('setter comments', () => {
  it('sets the whole reference, keeping quoting style, comments and CRLF line endings', () => {
    const text = [
      '# the web deployment\r\n',
      'spec:\r\n',
      '  containers:\r\n',
      `    - image: ghcr.io/acme/web:1.2.0 ${marker('apps:web')}\r\n`,
      `      other: 'ghcr.io/acme/web:1.2.0'   ${marker('apps:web')}\r\n`,
      `      third: "ghcr.io/acme/web:1.2.0"\t${marker('apps:web')}\r\n`,
      '      untouched: ghcr.io/acme/web:1.2.0 # no marker\r\n',
    ].join('');
    const result = update('deploy.yaml', text);
    const lines = text.split('\r\n');
    const expected = lines.map((line, index) =>
      index >= 3 && index <= 5 ? line.replace('1.2.0', '1.3.0') : line,
    );
    expect(result.text).toBe(expected.join('\r\n'));
    expect(result.text.split('1.2.0')).toHaveLength(2); // only the unmarked one is left
    expect(result.changes).toEqual([
      { line: 4, before: 'ghcr.io/acme/web:1.2.0', after: 'ghcr.io/acme/web:1.3.0', how: 'setter' },
      { line: 5, before: 'ghcr.io/acme/web:1.2.0', after: 'ghcr.io/acme/web:1.3.0', how: 'setter' },
      { line: 6, before: 'ghcr.io/acme/web:1.2.0', after: 'ghcr.io/acme/web:1.3.0', how: 'setter' },
    ]);
  });

  it('sets only the tag, the name or the digest with the :tag, :name and :digest suffixes', () => {
    const text = [
      `image:\n`,
      `  repository: ghcr.io/acme/old ${marker('apps:web:name')}\n`,
      `  tag: "1.2.0" ${marker('apps:web:tag')}\n`,
      `  digest: '${DIGEST_B}' ${marker('apps:web:digest')}\n`,
    ].join('');
    const result = update('values.yaml', text, [appWithDigest]);
    expect(result.text).toBe(
      text.replace('acme/old', 'acme/web').replace('"1.2.0"', '"1.3.0"').replace(DIGEST_B, DIGEST_A),
    );
    expect(result.changes.map((change) => change.line)).toEqual([2, 3, 4]);
    // Without a digest in the choice, a :digest marker is left alone.
    expect(update('values.yaml', text, [app]).text).toBe(
      text.replace('acme/old', 'acme/web').replace('"1.2.0"', '"1.3.0"'),
    );
  });

  it('keeps a digest pinned where there was one, with the new digest, and never adds or keeps a stale one', () => {
    const pinned = `image: ghcr.io/acme/web:1.2.0@${DIGEST_B} ${marker('apps:web')}\n`;
    expect(update('a.yaml', pinned, [appWithDigest]).text).toBe(
      `image: ghcr.io/acme/web:1.3.0@${DIGEST_A} ${marker('apps:web')}\n`,
    );
    // The old digest would win over the new tag: it goes when the choice has none.
    expect(update('a.yaml', pinned, [app]).text).toBe(
      `image: ghcr.io/acme/web:1.3.0 ${marker('apps:web')}\n`,
    );
    const unpinned = `image: ghcr.io/acme/web:1.2.0 ${marker('apps:web')}\n`;
    expect(update('a.yaml', unpinned, [appWithDigest]).text).toBe(
      `image: ghcr.io/acme/web:1.3.0 ${marker('apps:web')}\n`,
    );
  });

  it('writes the policy image where the old name is another image, keeping a port', () => {
    const text = `image: localhost:5000/old ${marker('apps:web')}\n`;
    expect(update('a.yaml', text).text).toBe(`image: ghcr.io/acme/web:1.3.0 ${marker('apps:web')}\n`);
    const local: ImageChoice = { ...app, image: '127.0.0.1:5000/team/web' };
    expect(update('a.yaml', `image: 127.0.0.1:5000/team/web:1 ${marker('apps:web')}\n`, [local]).text).toBe(
      `image: 127.0.0.1:5000/team/web:1.3.0 ${marker('apps:web')}\n`,
    );
  });

  it('keeps the image name as written when it names the same image (Docker Hub short names)', () => {
    const hub: ImageChoice = { ...app, image: 'docker.io/library/nginx' };
    const text = `a: nginx:1.25 ${marker('apps:web')}\nb: index.docker.io/library/nginx ${marker('apps:web:name')}\n`;
    expect(update('a.yaml', text, [hub]).text).toBe(text.replace('nginx:1.25', 'nginx:1.3.0'));
    const kustomization = 'images:\n- name: nginx\n  newTag: "1.25"\n';
    expect(update('kustomization.yaml', kustomization, [hub]).text).toBe(
      kustomization.replace('1.25', '1.3.0'),
    );
  });

  it('leaves markers of other policies and namespaces alone, and applies each choice to its own', () => {
    const text = [
      `a: ghcr.io/acme/web:1 ${marker('apps:web')}\n`,
      `b: ghcr.io/acme/api:1 ${marker('apps:api')}\n`,
      `c: ghcr.io/acme/web:1 ${marker('other:web')}\n`,
      `d: ghcr.io/acme/web:1 ${marker('apps:web2')}\n`,
    ].join('');
    const result = update('a.yaml', text, [app, other]);
    expect(result.text).toBe(text.replace('web:1 ', 'web:1.3.0 ').replace('api:1 ', 'api:2.0.1 '));
    expect(update('a.yaml', text, [other]).changes).toHaveLength(1);
  });

  it('returns the very same text and no change when the value is already there', () => {
    const text = `image: ghcr.io/acme/web:1.3.0 ${marker('apps:web')}\ntag: '1.3.0' ${marker('apps:web:tag')}\n`;
    const result = update('a.yaml', text);
    expect(result.text).toBe(text);
    expect(result.changes).toEqual([]);
  });

  it('quotes a value plain YAML would read as a number, boolean or null', () => {
    const text = `tag: 1.2.0 ${marker('apps:web:tag')}\n`;
    for (const [tag, written] of [
      ['1.10', '"1.10"'],
      ['10', '"10"'],
      ['1_000', '"1_000"'],
      ['yes', '"yes"'],
      ['on', '"on"'],
      ['null', '"null"'],
      ['1e5', '"1e5"'],
      ['0x1F', '"0x1F"'],
      ['1.3.0', '1.3.0'],
      ['v2', 'v2'],
      ['main-abc-1700000000', 'main-abc-1700000000'],
    ] as const) {
      expect(update('a.yaml', text, [{ ...app, tag }]).text, tag).toBe(
        `tag: ${written} ${marker('apps:web:tag')}\n`,
      );
    }
  });

  it('handles sequences, multi-document files, anchors and tags', () => {
    const text = [
      'kind: A\n',
      '---\n',
      'images:\n',
      `  - &img ghcr.io/acme/web:1.0 ${marker('apps:web')}\n`,
      `  - !!str ghcr.io/acme/web:1.0 ${marker('apps:web')}\n`,
      '  - *img\n',
      '---\n',
      `ghcr.io/acme/web:1.0 ${marker('apps:web')}\n`,
    ].join('');
    const result = update('a.yaml', text);
    expect(result.text).toBe(text.replaceAll('web:1.0 ', 'web:1.3.0 '));
    expect(result.changes.map((change) => change.line)).toEqual([4, 5, 8]);
  });

  it('leaves block scalars, multi-line values, flow collections and keys alone', () => {
    const text = [
      `block: | ${marker('apps:web')}\n`,
      '  ghcr.io/acme/web:1.0\n',
      `folded: >- ${marker('apps:web')}\n`,
      '  ghcr.io/acme/web:1.0\n',
      'multi: "ghcr.io/acme/web:1.0\n',
      `  more" ${marker('apps:web')}\n`,
      `flow: {image: ghcr.io/acme/web:1.0, ${marker('apps:web')}\n`,
      '  x: 1}\n',
      `? key ${marker('apps:web')}\n`,
      ': value\n',
      `above: ${marker('apps:web')}\n`,
      '  ghcr.io/acme/web:1.0\n',
    ].join('');
    const result = update('a.yaml', text);
    expect(result.changes).toEqual([]);
    expect(result.text).toBe(text);
  });

  it('sets a marked value inside a flow sequence when the marker follows it on its line', () => {
    const text = `list: [ghcr.io/acme/web:1.0 ${marker('apps:web')}\n  , x]\n`;
    expect(update('a.yaml', text).text).toBe(text.replace('web:1.0', 'web:1.3.0'));
  });

  it('ignores markers that are not exactly one $imagepolicy string', () => {
    const lines = [
      `a: x:1 # {"$imagepolicy": "apps:web", "$imagepolicy": "apps:api"}`,
      `b: x:1 # {"\\u0024imagepolicy": "apps:web"}`,
      `c: x:1 # {"$imagepolicy": "apps:web", "other": 1}`,
      `d: x:1 # {"$imagepolicy": ["apps:web"]}`,
      `e: x:1 # {"$imagepolicy": "apps:web:bogus"}`,
      `f: x:1 # {"$imagepolicy": "apps"}`,
      `g: x:1 # {"$imagepolicy": "apps:web:tag:x"}`,
      `h: x:1 # {"$imagepolicy": "apps:web"`,
      `i: x:1 # $imagepolicy: apps:web`,
      `j: x:1 # {"$imagepolicy": "apps:web"} trailing`,
      `k: '# {"$imagepolicy": "apps:web"}'`,
      `l: "x:1 # {\\"$imagepolicy\\": \\"apps:web\\"}"`,
      `m: x:1 # {"$imagepolicy": "apps:web", "pad": "${'x'.repeat(2000)}"}`,
    ];
    const text = `${lines.join('\n')}\n`;
    expect(update('a.yaml', text, [app, other])).toEqual({ text, changes: [] });
    const huge = `image: ghcr.io/acme/web:1 # {"$imagepolicy": "apps:web", "pad": "${'x'.repeat(1_000_000)}"}\n`;
    expect(update('a.yaml', huge)).toEqual({ text: huge, changes: [] });
    expect(parseMarker(' {"$imagepolicy": "apps:web:tag"}')).toEqual({
      namespace: 'apps',
      name: 'web',
      field: 'tag',
    });
    expect(parseMarker(`{"$imagepolicy": "apps:web", "x": "${'y'.repeat(1_000_000)}"}`)).toBeUndefined();
  });
});

describe('kustomize images entries', () => {
  it('sets newTag of the entry naming the image (by name or newName), and its digest when both have one', () => {
    const text = [
      'apiVersion: kustomize.config.k8s.io/v1beta1\r\n',
      'kind: Kustomization\r\n',
      'images:\r\n',
      '  - name: ghcr.io/acme/web\r\n',
      "    newTag: '1.2.0' # pinned by CI\r\n",
      '  - name: web\r\n',
      '    newName: ghcr.io/acme/web\r\n',
      '    newTag: 1.2.0\r\n',
      `    digest: ${DIGEST_B}\r\n`,
      '  - name: ghcr.io/acme/api\r\n',
      '    newTag: 1.2.0\r\n',
    ].join('');
    const result = update('overlays/prod/kustomization.yaml', text, [appWithDigest]);
    expect(result.text).toBe(
      text
        .replace("'1.2.0'", "'1.3.0'")
        .replace('newTag: 1.2.0\r\n    digest', 'newTag: 1.3.0\r\n    digest')
        .replace(DIGEST_B, DIGEST_A),
    );
    expect(result.changes).toEqual([
      { line: 5, before: '1.2.0', after: '1.3.0', how: 'kustomize' },
      { line: 8, before: '1.2.0', after: '1.3.0', how: 'kustomize' },
      { line: 9, before: DIGEST_B, after: DIGEST_A, how: 'kustomize' },
    ]);
  });

  it('adds newTag under name, at its indentation, when the entry has none', () => {
    const text = [
      'images:\r\n',
      '- name: ghcr.io/acme/web # the app\r\n',
      '  newName: ghcr.io/acme/web\r\n',
      '- {name: ghcr.io/acme/web, newName: x}\r\n',
      'resources: [a.yaml]\r\n',
      'patches:\r\n',
      '  - path: p.yaml\r\n',
      'replicas:\r\n',
      '  - name: x\r\n',
      '    count: 1\r\n',
      'labels: {}\r\n',
      'extra:\r\n',
      '    images:\r\n',
      '    - name: ghcr.io/acme/web\r\n',
    ].join('');
    const result = update('Kustomization', text);
    expect(result.text).toBe(
      text
        .replace('# the app\r\n', '# the app\r\n  newTag: 1.3.0\r\n')
        .replace('web, newName: x}', 'web, newTag: 1.3.0, newName: x}'),
    );
    expect(result.changes).toEqual([
      { line: 3, before: '', after: '1.3.0', how: 'kustomize' },
      { line: 5, before: '', after: '1.3.0', how: 'kustomize' },
    ]);
  });

  it('adds newTag at the end of a file without a final newline, quoting a number-like tag', () => {
    const text = 'images:\n  -   name: ghcr.io/acme/web';
    expect(update('kustomization.yml', text, [{ ...app, tag: '20240101' }]).text).toBe(
      `${text}\n      newTag: "20240101"`,
    );
  });

  it('finds the entry by a marker of its policy; markers inside entries set kustomize fields', () => {
    const text = [
      'images:\n',
      `- name: web ${marker('apps:web')}\n`,
      '  newTag: 1.2.0\n',
      '- name: podinfo\n',
      `  newName: ghcr.io/acme/old ${marker('apps:web:name')}\n`,
      `  newTag: 1.2.0 ${marker('apps:web:tag')}\n`,
      '- name: other\n',
      `  newTag: 1.2.0 ${marker('apps:web')}\n`, // a whole-reference marker still sets only the tag here
    ].join('');
    const result = update('kustomization.yaml', text);
    expect(result.text).toBe(
      text.replaceAll('newTag: 1.2.0', 'newTag: 1.3.0').replace('acme/old', 'acme/web'),
    );
    expect(result.changes.every((change) => change.how === 'kustomize')).toBe(true);
    expect(result.changes).toHaveLength(4);
  });

  it('leaves an entry alone when it cannot add newTag safely (anchor before name, name on two lines)', () => {
    const text = 'images:\n- &web name: ghcr.io/acme/web\n- name: ghcr.io/acme/web\n   /more\n';
    expect(update('kustomization.yaml', text)).toEqual({ text, changes: [] });
  });

  it('treats images: in other files as ordinary YAML', () => {
    const text = 'images:\n- name: ghcr.io/acme/web\n  newTag: 1.2.0\n';
    expect(update('base/deployment.yaml', text)).toEqual({ text, changes: [] });
  });
});

describe('helm values', () => {
  const values = [
    '# values for the web chart\n',
    'replicaCount: 2\n',
    'image:\n',
    '  repository: ghcr.io/acme/web   # where from\n',
    "  tag: '1.2.0'\n",
    '  digest: ""\n',
    'sidecar:\n',
    '  image:\n',
    '    tag:\n',
  ].join('');

  it('sets the dotted paths of the values file named, and no other file', () => {
    const target = {
      file: 'charts/web/values.yaml',
      tag: 'image.tag',
      repository: 'image.repository',
      digest: 'image.digest',
    };
    const result = update('charts/web/values.yaml', values, [appWithDigest], [target]);
    expect(result.text).toBe(values.replace("'1.2.0'", "'1.3.0'").replace('""', `"${DIGEST_A}"`));
    expect(result.changes).toEqual([
      { line: 5, before: '1.2.0', after: '1.3.0', how: 'helmValues' },
      { line: 6, before: '', after: DIGEST_A, how: 'helmValues' },
    ]);
    expect(result.missing).toBeUndefined();
    expect(update('charts/other/values.yaml', values, [appWithDigest], [target])).toEqual({
      text: values,
      changes: [],
    });
  });

  it('fills an empty value and reports a path that does not exist, without creating it', () => {
    const targets = [
      { file: 'values.yaml', tag: 'sidecar.image.tag' },
      { file: 'values.yaml', tag: 'image.version' },
      { file: 'values.yaml', tag: 'replicaCount.tag' },
      { file: 'values.yaml', tag: 'image' },
    ];
    const result = update('values.yaml', values, [app], targets);
    expect(result.text).toBe(values.replace('    tag:\n', '    tag: 1.3.0\n'));
    expect(result.changes).toEqual([{ line: 9, before: '', after: '1.3.0', how: 'helmValues' }]);
    expect(result.missing).toEqual([
      "'image.version' is not a value there (image updates never add one)",
      "'replicaCount.tag' is not a value there (image updates never add one)",
      "'image' is not a value there (image updates never add one)",
    ]);
  });

  it('writes the image name into repository when it is another image', () => {
    const result = update(
      'values.yaml',
      values,
      [{ ...app, image: 'registry.local:5000/web' }],
      [{ file: 'values.yaml', tag: 'image.tag', repository: 'image.repository' }],
    );
    expect(result.text).toBe(
      values.replace('ghcr.io/acme/web ', 'registry.local:5000/web ').replace('1.2.0', '1.3.0'),
    );
  });

  it('with several choices, picks the one whose image the repository path holds', () => {
    const target = { file: 'values.yaml', tag: 'image.tag', repository: 'image.repository' };
    expect(update('values.yaml', values, [other, app], [target]).text).toBe(values.replace('1.2.0', '1.3.0'));
    const unclear = update('values.yaml', values, [other, app], [{ file: 'values.yaml', tag: 'image.tag' }]);
    expect(unclear.text).toBe(values);
    expect(unclear.missing?.[0]).toMatch(/several images/);
  });

  it('reports a multi-line value instead of rewriting it, and does nothing without a choice', () => {
    const text = 'image:\n  tag: "1.2.0\n    "\n';
    const result = update('values.yaml', text, [app], [{ file: 'values.yaml', tag: 'image.tag' }]);
    expect(result.text).toBe(text);
    expect(result.missing).toEqual(["'image.tag' is a block or multi-line value; image updates leave it"]);
    expect(update('values.yaml', values, [], [{ file: 'values.yaml', tag: 'image.tag' }])).toEqual({
      text: values,
      changes: [],
    });
  });

  it('does not write through an alias', () => {
    const text = 'base: &tag 1.2.0\nimage:\n  tag: *tag\n';
    const result = update('values.yaml', text, [app], [{ file: 'values.yaml', tag: 'image.tag' }]);
    expect(result.text).toBe(text);
    expect(result.missing).toHaveLength(1);
  });
});

describe('hostile input', () => {
  const withMarker = (body: string) => `${body}\nimage: ghcr.io/acme/web:1.0 ${marker('apps:web')}\n`;

  it('refuses alias bombs and deep nesting with a UserError naming the file', () => {
    const lol = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      lol.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    expect(() => update('bomb.yaml', withMarker(lol.join('\n')))).toThrow(UserError);
    expect(() => update('bomb.yaml', withMarker(lol.join('\n')))).toThrow(/bomb\.yaml/);
    const deep = `x: ${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(() => update('deep.yaml', withMarker(deep))).toThrow(
      /deep\.yaml:1: invalid YAML: nesting deeper than/,
    );
    expect(() => update('dup.yaml', withMarker('image: 1'))).toThrow(/DUPLICATE_KEY/);
    expect(() => update('bad.yaml', withMarker('x: "unclosed'))).toThrow(UserError);
  });

  it('handles a 3 MB line, and refuses a 10 MB line (files over 4 MiB) with a clear error', () => {
    const long = `blob: ${'x'.repeat(3 * 1024 * 1024)}`;
    const result = update('long.yaml', withMarker(long));
    expect(result.changes).toHaveLength(1);
    expect(result.text).toBe(withMarker(long).replace('web:1.0', 'web:1.3.0'));
    expect(() => update('huge.yaml', withMarker(`blob: ${'x'.repeat(10 * 1024 * 1024)}`))).toThrow(
      /huge\.yaml is larger than 4 MiB; image updates skip it/,
    );
  });

  it('refuses a choice that is not an image reference, never writing it', () => {
    const text = withMarker('a: 1');
    const bad: ImageChoice[] = [
      { ...app, tag: '1.0 # injected' },
      { ...app, tag: "1'0" },
      { ...app, tag: 'x'.repeat(129) },
      { ...app, image: 'ghcr.io/acme/web\nkind: Secret' },
      { ...app, image: 'ghcr.io/acme/web:1' },
      { ...app, digest: 'sha256:short' },
      { ...app, digest: `sha256:${'a'.repeat(64)}\n` },
    ];
    for (const choice of bad)
      expect(() => update('a.yaml', text, [choice]), JSON.stringify(choice)).toThrow(UserError);
  });

  it('skips the parse entirely for files with no marker, no kustomization and no values target', () => {
    const text = 'this: [is not: valid yaml';
    expect(update('a.yaml', text)).toEqual({ text, changes: [] });
    expect(() => update('kustomization.yaml', text)).toThrow(UserError);
  });

  it('updates 10,000 images in a 1 MiB file in one pass', { timeout: 120_000 }, () => {
    const documents: string[] = [];
    for (let i = 0; i < 2_000; i++) {
      const containers = Array.from(
        { length: 5 },
        (_, j) => `        - name: c${j}\n          image: ghcr.io/acme/web:1.2.0 ${marker('apps:web')}\n`,
      ).join('');
      documents.push(
        `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-${i}\n  # ${'padding '.repeat(6)}\nspec:\n  template:\n    spec:\n      containers:\n${containers}`,
      );
    }
    const text = documents.join('---\n');
    expect(text.length).toBeGreaterThan(1024 * 1024);
    const result = update('many.yaml', text);
    expect(result.changes).toHaveLength(10_000);
    expect(result.text).toBe(text.replaceAll('web:1.2.0', 'web:1.3.0'));
    expect(result.changes[9_999]?.line).toBe(text.split('\n').length - 1);
  });
});

describe('a Flux-style repository, round-tripped', () => {
  const files: Record<string, string> = {
    'clusters/prod/web/deployment.yaml': [
      '---\n',
      'apiVersion: apps/v1\n',
      'kind: Deployment\n',
      'metadata:\n',
      '  name: web\n',
      '  namespace: apps # managed by Capstan\n',
      'spec:\n',
      '  selector:\n',
      '    matchLabels: {app: web}\n',
      '  template:\n',
      '    metadata:\n',
      '      labels:\n',
      '        app: web\n',
      '    spec:\n',
      '      containers:\n',
      '        - name: web\n',
      `          image: ghcr.io/acme/web:1.2.0 ${marker('apps:web')}\n`,
      '          ports:\n',
      '            - containerPort: 8080   # http\n',
      '        - name: api\n',
      `          image: "ghcr.io/acme/api:2.0.0" ${marker('apps:api')}\n`,
      '---\n',
      'apiVersion: v1\n',
      'kind: Service\n',
      'metadata: {name: web}\n',
      'spec:\n',
      '  ports: [{port: 80, targetPort: 8080}]\n',
    ].join(''),
    'clusters/prod/web/kustomization.yaml': [
      'apiVersion: kustomize.config.k8s.io/v1beta1\n',
      'kind: Kustomization\n',
      'resources:\n',
      '  - deployment.yaml\n',
      'images:\n',
      '  - name: podinfo\n',
      `    newName: ghcr.io/acme/web ${marker('apps:web:name')}\n`,
      `    newTag: 1.2.0 ${marker('apps:web:tag')}\n`,
    ].join(''),
    'charts/web/values.yaml': 'image:\n  repository: ghcr.io/acme/web\n  tag: "1.2.0"  # set by Capstan\n',
  };

  it('changes only the marked fields, byte for byte', () => {
    const helm = [{ file: 'charts/web/values.yaml', tag: 'image.tag', repository: 'image.repository' }];
    const results = Object.fromEntries(
      Object.entries(files).map(([file, text]) => [
        file,
        updateImagesInYaml({ file, text, choices: [app], helmValues: helm }),
      ]),
    );
    for (const [file, text] of Object.entries(files)) {
      expect(results[file]?.text, file).toBe(
        text.replace(/(?<=ghcr\.io\/acme\/web:|newTag: |tag: ")1\.2\.0/g, '1.3.0'),
      );
      expect(results[file]?.changes, file).toHaveLength(1);
    }
    expect(results['clusters/prod/web/deployment.yaml']?.changes[0]).toEqual({
      line: 17,
      before: 'ghcr.io/acme/web:1.2.0',
      after: 'ghcr.io/acme/web:1.3.0',
      how: 'setter',
    });
    // And back again: the same edit in reverse restores the original bytes.
    const back = updateImagesInYaml({
      file: 'clusters/prod/web/deployment.yaml',
      text: results['clusters/prod/web/deployment.yaml']?.text ?? '',
      choices: [{ ...app, tag: '1.2.0' }],
    });
    expect(back.text).toBe(files['clusters/prod/web/deployment.yaml']);
  });
});

describe('the tree the setters read', () => {
  it('reads anchors, aliases, explicit keys and flow pairs, and refuses what the parser marks', () => {
    const text = [
      'base: &base {a: 1, b: [x, y]}\n',
      'copy: *base\n',
      '? explicit\n',
      ': value\n',
      `list: [plain: pair, ghcr.io/acme/web:1.0 ${marker('apps:web')}\n`,
      '  ]\n',
      'yes: 1\n',
      '"yes": 2\n', // a boolean key and a string key: not duplicates in YAML 1.1
      `image: ghcr.io/acme/web:1.0 ${marker('apps:web')}\n`,
    ].join('');
    const result = update('tree.yaml', text);
    expect(result.text).toBe(text.replaceAll('web:1.0', 'web:1.3.0'));
    expect(result.changes.map((change) => change.line)).toEqual([5, 9]);
    const withMarker = (body: string) => `${body}\nimage: ghcr.io/acme/web:1.0 ${marker('apps:web')}\n`;
    expect(() => update('alias.yaml', withMarker('a: *nowhere'))).toThrow(
      /^alias\.yaml:1:4: invalid YAML: .*\(BAD_ALIAS\)$/,
    );
    expect(() => update('self.yaml', withMarker('a: &a [*a]'))).toThrow(/BAD_ALIAS/);
    expect(() => update('dup.yaml', withMarker('"image": 1'))).toThrow(/dup\.yaml:2:1: .*DUPLICATE_KEY/);
    expect(() => update('flow.yaml', withMarker('a: {b: 1, b: 2}'))).toThrow(/DUPLICATE_KEY/);
    expect(() => update('escape.yaml', withMarker('a: "\\q"'))).toThrow(/BAD_DQ_ESCAPE/);
    expect(() => update('seq.yaml', withMarker('a: b\n- c'))).toThrow(/seq\.yaml:2:1: .*UNEXPECTED_TOKEN/);
  });

  it('never quotes the content in its errors', () => {
    const secret = 'hunter2-secret-value';
    for (const body of [
      `a: "${secret}\\q"`,
      `a: *${secret}`,
      `${secret}: 1\n${secret}: 2`,
      `a: [${secret}`,
    ]) {
      const text = `${body}\nimage: ghcr.io/acme/web:1.0 ${marker('apps:web')}\n`;
      expect(() => update('s.yaml', text)).toThrow(UserError);
      try {
        update('s.yaml', text);
      } catch (error) {
        expect(String(error)).not.toContain(secret);
      }
    }
  });
});

describe('updateImagesInYamlAsync', () => {
  /** A ~1 MiB file of one document (the worst case: the `yaml` composer would take it in one go). */
  function bigMarkedFile(): string {
    const items: string[] = ['items:\n'];
    let size = items[0]!.length;
    for (let i = 0; size < 1024 * 1024; i++) {
      const item = `  - name: c${i}\n    image: ghcr.io/acme/web:1.2.0 ${marker('apps:web')}\n    env: {a: 1, b: [x, "y"]}\n`;
      items.push(item);
      size += item.length;
    }
    return items.join('');
  }

  it(
    'gives the event loop a turn while it edits a 1 MiB file, with the same result',
    { timeout: 120_000 },
    async () => {
      const text = bigMarkedFile();
      let ticks = 0;
      let largestGap = 0;
      let last = performance.now();
      const timer = setInterval(() => {
        const now = performance.now();
        largestGap = Math.max(largestGap, now - last);
        last = now;
        ticks++;
      }, 10);
      const started = performance.now();
      let result: YamlUpdate;
      try {
        result = await updateImagesInYamlAsync({ file: 'big.yaml', text, choices: [app] });
      } finally {
        clearInterval(timer);
      }
      const duration = performance.now() - started;
      expect(result.text).toBe(text.replaceAll('web:1.2.0', 'web:1.3.0'));
      expect(result.changes.length).toBeGreaterThan(5_000);
      // No bound on time itself (the machine may be loaded): the timer must have run all along, at
      // least once per 100 ms on average (at a load of 13 on two cores it ticked twice as often);
      // a synchronous edit lets it tick not at all.
      expect(
        ticks,
        `${ticks} ticks in ${Math.round(duration)} ms, largest gap ${Math.round(largestGap)} ms`,
      ).toBeGreaterThanOrEqual(Math.max(3, Math.floor(duration / 100)));
    },
  );

  it('refuses what the synchronous one refuses, with the same error', async () => {
    const text = `a: [unclosed\nimage: ghcr.io/acme/web:1.0 ${marker('apps:web')}\n`;
    await expect(updateImagesInYamlAsync({ file: 'bad.yaml', text, choices: [app] })).rejects.toThrow(
      UserError,
    );
    const message = (() => {
      try {
        update('bad.yaml', text);
        return '';
      } catch (error) {
        return String(error);
      }
    })();
    await expect(updateImagesInYamlAsync({ file: 'bad.yaml', text, choices: [app] })).rejects.toThrow(
      message.replace(/^UserError: /, ''),
    );
  });
});
