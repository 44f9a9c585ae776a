/** A commit as the page shows it everywhere: its short SHA, linked to the forge's page when known. */
import { commitUrl, shortSha } from '../../format.js';

export function RevisionLink({
  sha,
  repositoryUrl,
  className,
}: {
  sha: string | undefined;
  repositoryUrl: string | undefined;
  className?: string;
}) {
  if (!sha) return <span className="muted">—</span>;
  const href = commitUrl(repositoryUrl, sha);
  const classes = `sha mono ${className ?? ''}`.trim();
  return href ? (
    <a className={classes} href={href} target="_blank" rel="noreferrer noopener" title={sha}>
      {shortSha(sha)}
    </a>
  ) : (
    <code className={classes} title={sha}>
      {shortSha(sha)}
    </code>
  );
}
