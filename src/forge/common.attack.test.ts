/**
 * Attacks on the one-comment-per-marker upsert (src/forge/common.ts upsertMarkedComment): a plan's
 * body carries a pull request's hostile bytes verbatim (diffs sit in fences), so another
 * Repository's marker can be inside one Repository's comment.
 */
import { describe, expect, it } from 'vitest';
import { formatPlanMarkdown } from '../review/markdown.js';
import { EMPTY_COUNTS, type ChangePlan } from '../review/types.js';
import { upsertMarkedComment, type CommentApi, type CommentSummary } from './common.js';

const SELF = 42;
const markerA = '<!-- capstan:plan team-a/apps -->';
const markerB = '<!-- capstan:plan team-b/apps -->';

function fakeApi(comments: CommentSummary[]): CommentApi & { edited: number[]; created: string[] } {
  const edited: number[] = [];
  const created: string[] = [];
  return {
    edited,
    created,
    ownUserId: async () => SELF,
    page: async () => ({ comments, last: true }),
    edit: async (id) => void edited.push(id),
    create: async (body) => {
      created.push(body);
      return 100 + created.length;
    },
  };
}

/** Team A's plan of a pull request whose ConfigMap value is team B's marker: the diff shows it as is. */
function teamAPlanBody(): string {
  const plan: ChangePlan = {
    repository: 'git.example.com/org/mono',
    base: { ref: 'main', sha: 'b'.repeat(40) },
    head: { ref: 'c'.repeat(40), sha: 'c'.repeat(40) },
    untouched: 0,
    apps: [
      {
        namespace: 'team-a',
        name: 'web',
        path: 'a',
        result: 'changes',
        counts: { ...EMPTY_COUNTS, update: 1 },
        warnings: [],
        notes: [],
        objects: [
          {
            ref: { group: '', version: 'v1', kind: 'ConfigMap', namespace: 'team-a', name: 'cm' },
            action: 'update',
            changes: [{ path: 'data.value', op: 'replace', managers: [] }],
            exists: true,
            owners: [],
            unifiedDiff: `--- live\n+++ desired\n-  value: v1\n+  value: pwned ${markerB}\n`,
          } as never,
        ],
      },
    ],
  };
  return `${markerA}\n${formatPlanMarkdown(plan)}`;
}

describe('upsertMarkedComment', () => {
  it("team A's plan carries team B's marker when the pull request writes it (the injection point)", () => {
    expect(teamAPlanBody()).toContain(markerB);
  });

  // Found by the red team: a marker anywhere in the body (`includes`) found team A's comment for
  // team B, whose plan then overwrote it. A marker counts only as the first line.
  it("does not edit another marker's comment that merely quotes this marker", async () => {
    const api = fakeApi([{ id: 1, authorId: SELF, body: teamAPlanBody() }]);
    const result = await upsertMarkedComment(api, { marker: markerB, body: `${markerB}\nteam B's plan` });
    expect(api.edited).toEqual([]);
    expect(result.created).toBe(true);
  });

  it("never edits someone else's comment carrying the marker", async () => {
    const api = fakeApi([
      { id: 1, authorId: 7, body: `${markerB}\nforged by the author of the pull request` },
    ]);
    const result = await upsertMarkedComment(api, { marker: markerB, body: `${markerB}\nplan` });
    expect(api.edited).toEqual([]);
    expect(result.created).toBe(true);
  });
});
