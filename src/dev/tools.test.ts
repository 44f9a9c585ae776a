import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ToolBuildError, ensureTools, parseRequires } from './tools.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'capstan-tools-test-'));
}

/** A stand-in for `go` that reports `version` and fails every build like a compiler would. */
async function fakeGo(version: string): Promise<string> {
  const path = join(await tempDir(), 'go');
  await writeFile(
    path,
    `#!/bin/sh
if [ "$1" = env ]; then echo ${version}; exit 0; fi
echo "# k8s.io/kubernetes/cmd/kube-apiserver" >&2
echo "./apiserver.go:42:2: undefined: brokenSymbol" >&2
exit 1
`,
  );
  await chmod(path, 0o755);
  return path;
}

describe('ensureTools in a bad environment', () => {
  it('says Go is missing', async () => {
    await expect(ensureTools({ cacheDir: await tempDir(), go: '/nonexistent/go' })).rejects.toThrow(
      /Go is not installed \(no '\/nonexistent\/go' command on PATH\).*install Go 1\.26 or newer/,
    );
  });

  it('says Go is too old', async () => {
    await expect(ensureTools({ cacheDir: await tempDir(), go: await fakeGo('go1.25.3') })).rejects.toThrow(
      /Go 1\.25 is too old: the control-plane tools need Go 1\.26 or newer \(found go1\.25\.3/,
    );
  });

  it('says the cache folder cannot be written', async () => {
    const file = join(await tempDir(), 'a-file');
    await writeFile(file, '');
    await expect(
      ensureTools({ cacheDir: join(file, 'cache'), go: await fakeGo('go1.26.8') }),
    ).rejects.toThrow(
      new RegExp(
        `the tools cache folder ${file}/cache cannot be written \\(ENOTDIR\\); set CAPSTAN_CACHE_DIR`,
      ),
    );
  });

  it('names the module and shows the compiler output when a build fails', async () => {
    const lines: string[] = [];
    const failure = await ensureTools({
      cacheDir: await tempDir(),
      go: await fakeGo('go1.26.8'),
      progress: (l) => lines.push(l),
    }).catch((e) => e);
    expect(failure).toBeInstanceOf(ToolBuildError);
    expect(failure.message).toMatch(
      /^building etcd from Go module go\.etcd\.io\/etcd\/server\/v3@v3\.7\.0 \(tools\/kubernetes\) failed:/,
    );
    expect(failure.message).toContain('./apiserver.go:42:2: undefined: brokenSymbol');
    expect(lines).toEqual(['building etcd (1/14) from go.etcd.io/etcd/server/v3@v3.7.0 …']);
  });
});

describe('building gitea', () => {
  it('refuses a module whose checksum differs from tools/gitea/module.json', async () => {
    const go = join(await tempDir(), 'go');
    await writeFile(
      go,
      `#!/bin/sh
if [ "$1" = env ]; then echo go1.26.8; exit 0; fi
if [ "$1" = mod ]; then echo '{"Path":"code.gitea.io/gitea","Version":"v1.27.3","Dir":"/nonexistent","Sum":"h1:tampered="}'; exit 0; fi
echo "go $* should not run" >&2
exit 1
`,
    );
    await chmod(go, 0o755);
    const lines: string[] = [];
    const failure = await ensureTools({
      cacheDir: await tempDir(),
      go,
      only: ['gitea'],
      progress: (l) => lines.push(l),
    }).catch((e) => e);
    expect(failure).toBeInstanceOf(ToolBuildError);
    expect(failure.message).toMatch(
      /^building gitea from Go module code\.gitea\.io\/gitea@v1\.27\.3 \(tools\/gitea\) failed:\nchecksum mismatch: the module proxy served h1:tampered=, tools\/gitea\/module\.json pins h1:/,
    );
    expect(lines).toEqual(['building gitea (1/1) from code.gitea.io/gitea@v1.27.3 (about 3 min, 1.5 GB) …']);
  });
});

describe('parseRequires', () => {
  it('reads single-line and block requires, ignoring comments', () => {
    const requires = parseRequires(`module x

go 1.26.0

require sigs.k8s.io/kwok v0.8.0

require (
\tk8s.io/kubernetes v1.37.2
\tgithub.com/a/b v1.0.0 // indirect
)
`);
    expect(Object.fromEntries(requires)).toEqual({
      'sigs.k8s.io/kwok': 'v0.8.0',
      'k8s.io/kubernetes': 'v1.37.2',
      'github.com/a/b': 'v1.0.0',
    });
  });
});
