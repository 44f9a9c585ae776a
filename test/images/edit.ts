/**
 * A stand-in for the setters in tests of the Git side: sets the image of every line
 * `image: <ref> # {"$imagepolicy": "<ns>:<name>"}` marked for the choice's policy, and nothing else.
 */
import type { FileChanges } from '../../src/images/git.js';
import type { ImageChoice, YamlChange } from '../../src/images/setters.js';

export function markerLine(
  choice: Pick<ImageChoice, 'policy' | 'image'>,
  tag: string,
  indent = '    ',
): string {
  return `${indent}image: ${choice.image}:${tag} ${marker(choice)}`;
}

function marker(choice: Pick<ImageChoice, 'policy'>): string {
  return `# {"$imagepolicy": "${choice.policy.namespace}:${choice.policy.name}"}`;
}

/** An `edit` for commitImageUpdates setting `choice` on its marked lines; `seen` records the files it was given. */
export function markerEdit(choice: ImageChoice, seen?: string[]) {
  const suffix = ` ${marker(choice)}`;
  return (file: string, text: string): { text: string; changes: YamlChange[] } | undefined => {
    seen?.push(file);
    const changes: YamlChange[] = [];
    const lines = text.split('\n').map((line, index) => {
      const cr = line.endsWith('\r') ? '\r' : '';
      const body = cr ? line.slice(0, -1) : line;
      const match = /^(\s*(?:- )?image: )(\S+)$/.exec(
        body.endsWith(suffix) ? body.slice(0, -suffix.length) : '',
      );
      if (!match) return line;
      const after = `${choice.image}:${choice.tag}`;
      if (match[2] === after) return line;
      changes.push({ line: index + 1, before: match[2]!, after, how: 'setter' });
      return `${match[1]}${after}${suffix}${cr}`;
    });
    return changes.length === 0 ? undefined : { text: lines.join('\n'), changes };
  };
}

export function changedLines(files: readonly FileChanges[]): string[] {
  return files.flatMap((f) => f.changes.map((c) => `${f.file}:${c.line} ${c.before} → ${c.after}`));
}
