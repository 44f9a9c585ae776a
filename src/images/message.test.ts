import { describe, expect, it } from 'vitest';
import type { FileChanges } from './git.js';
import {
  IMAGES_COMMENT_MARKER,
  defaultPullRequestText,
  imageCommitMessage,
  imageCommitSubject,
  imagePullRequestText,
  imageUpdateBranch,
} from './message.js';
import type { ImageChoice } from './setters.js';

const WEB: ImageChoice = {
  policy: { namespace: 'team-a', name: 'web' },
  image: '127.0.0.1:5000/app',
  tag: '1.2.0',
  digest: `sha256:${'0f'.repeat(32)}`,
};
const API: ImageChoice = { policy: { namespace: 'team-b', name: 'api' }, image: 'ghcr.io/o/api', tag: 'v3' };

const files: FileChanges[] = [
  {
    file: 'apps/web/deploy.yaml',
    changes: [
      { line: 12, before: '127.0.0.1:5000/app:1.1.0', after: '127.0.0.1:5000/app:1.2.0', how: 'setter' },
    ],
  },
  {
    file: 'apps/web/kustomization.yaml',
    changes: [{ line: 7, before: '1.1.0', after: '1.2.0', how: 'kustomize' }],
  },
];

describe('image commit messages', () => {
  it('names the policy, the image and old → new tag, lists digest and lines, and ends with the trailer', () => {
    const message = imageCommitMessage([WEB], files);
    const lines = message.split('\n');
    expect(lines[0]).toBe('images: team-a/web 127.0.0.1:5000/app 1.1.0 → 1.2.0');
    expect(message).toContain(`* 127.0.0.1:5000/app: 1.1.0 → 1.2.0 (ImagePolicy team-a/web)`);
    expect(message).toContain(`  digest ${WEB.digest}`);
    expect(message).toContain(
      '  apps/web/deploy.yaml:12 127.0.0.1:5000/app:1.1.0 → 127.0.0.1:5000/app:1.2.0 (setter)',
    );
    expect(message).toContain('  apps/web/kustomization.yaml:7 1.1.0 → 1.2.0 (kustomize)');
    expect(message.trimEnd().split('\n').at(-1)).toBe('Capstan-Image-Policy: team-a/web');
  });

  it('counts several images in the subject and gives each policy its trailer', () => {
    const both: FileChanges[] = [
      ...files,
      { file: 'apps/api/values.yaml', changes: [{ line: 3, before: 'v2', after: 'v3', how: 'helmValues' }] },
    ];
    const message = imageCommitMessage([WEB, API], both);
    expect(imageCommitSubject([WEB, API], both)).toBe('images: update 2 images');
    expect(message).toContain('* ghcr.io/o/api: v2 → v3 (ImagePolicy team-b/api)');
    expect(message).toContain('  apps/api/values.yaml:3 v2 → v3 (helmValues)');
    expect(message).toMatch(/\n\nCapstan-Image-Policy: team-a\/web\nCapstan-Image-Policy: team-b\/api\n$/);
  });

  it('keeps hostile values on their own indented line: no forged trailer, no control characters, bounded', () => {
    const hostile: FileChanges[] = [
      {
        file: 'a\n\nCapstan-Image-Policy: evil/x\u001b[31m.yaml',
        changes: [
          {
            line: 1,
            before: `old\nCapstan-Image-Policy: evil/y${'x'.repeat(5000)}`,
            after: '1.2.0',
            how: 'setter',
          },
        ],
      },
    ];
    const message = imageCommitMessage([{ ...WEB, tag: '1.2.0' }], hostile);
    expect(message.split('\n').filter((l) => l.startsWith('Capstan-Image-Policy:'))).toEqual([
      'Capstan-Image-Policy: team-a/web',
    ]);
    // eslint-disable-next-line no-control-regex
    expect(message).not.toMatch(/[\u0000-\u0009\u000b-\u001f]/);
    expect(Math.max(...message.split('\n').map((l) => l.length))).toBeLessThan(700);
  });

  it('says only the new tag when the old one is not known', () => {
    const named: FileChanges[] = [
      {
        file: 'x.yaml',
        changes: [{ line: 2, before: 'old.io/app', after: '127.0.0.1:5000/app', how: 'setter' }],
      },
    ];
    expect(imageCommitSubject([WEB], named)).toBe('images: team-a/web 127.0.0.1:5000/app → 1.2.0');
  });

  it('names the branch of a policy', () => {
    expect(imageUpdateBranch(WEB.policy)).toBe('capstan/images/team-a/web');
  });
});

describe('image pull requests', () => {
  it('escapes what a registry or repository wrote: no link, tag, mention or broken table', () => {
    const evil: ImageChoice = { ...WEB, tag: '1.2.0|<img src=x>`@admin' };
    const { title, body } = imagePullRequestText(
      [evil],
      [
        {
          file: '[x](http://evil)|`.yaml',
          changes: [{ line: 1, before: '@root', after: evil.tag, how: 'helmValues' }],
        },
      ],
    );
    expect(title).toBe('images: team-a/web 127.0.0.1:5000/app @root → 1.2.0|<img src=x>`@admin');
    expect(body).toContain('| ` 127.0.0.1:5000/app ` | ` @root ` | `` 1.2.0\\|<img src=x>`@admin `` |');
    expect(body).toContain('- `` [x](http://evil)\\|`.yaml `` line 1:');
    expect(body).not.toMatch(/(^|[^`] )@(root|admin)/);
  });

  it('puts a message into a code block no backtick in it can close', () => {
    const { title, body } = defaultPullRequestText('images: x ```` y\n\nbody <b>\n');
    expect(title).toBe('images: x ```` y');
    expect(body).toContain('`````text\nimages: x ```` y\n\nbody <b>\n`````');
    expect(IMAGES_COMMENT_MARKER).toMatch(/^<!--.*-->$/);
  });
});
