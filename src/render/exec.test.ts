import { describe, expect, it } from 'vitest';
import { EnvironmentError, TransientError, UserError } from '../core/errors.js';
import { caught } from '../../test/render/repo.js';
import type { ToolInvocation } from './exec.js';
import { runTool, sanitizeToolMessage } from './exec.js';

/** Node itself stands in for a tool: `node -e <script>`. */
function node(
  script: string,
  overrides: Partial<ToolInvocation> = {},
): Promise<Awaited<ReturnType<typeof runTool>>> {
  return runTool({
    tool: 'fake',
    binary: process.execPath,
    args: ['-e', script],
    cwd: process.cwd(),
    env: { ONLY: 'this' },
    timeoutMs: 10_000,
    maxStdoutBytes: 1024 * 1024,
    maxStderrBytes: 1024,
    ...overrides,
  });
}

describe('runTool', () => {
  it('returns stdout, stderr and the exit code, with exactly the environment given', async () => {
    const output = await node(
      'process.stdout.write(JSON.stringify(process.env)); process.stderr.write("warn"); process.exit(3)',
    );
    expect(output.exitCode).toBe(3);
    expect(output.stderr).toBe('warn');
    const env = JSON.parse(output.stdout) as Record<string, string>;
    expect(env.ONLY).toBe('this');
    expect(env.HOME).toBeUndefined();
  });

  it('passes arguments without a shell', async () => {
    const output = await runTool({
      tool: 'fake',
      binary: process.execPath,
      args: [
        '-e',
        'process.stdout.write(JSON.stringify(process.argv.slice(1)))',
        '$(touch /tmp/x)',
        '; rm -rf /',
        '`id`',
      ],
      cwd: process.cwd(),
      env: {},
      timeoutMs: 10_000,
      maxStdoutBytes: 1024,
      maxStderrBytes: 1024,
    });
    expect(JSON.parse(output.stdout)).toEqual(['$(touch /tmp/x)', '; rm -rf /', '`id`']);
  });

  it('kills a tool that runs past its timeout', async () => {
    const started = Date.now();
    const error = await caught(() => node('setInterval(() => {}, 1000)', { timeoutMs: 300 }));
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toBe('fake did not finish within 300ms and was stopped');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('kills a tool whose output passes the cap, while streaming', async () => {
    const error = await caught(() =>
      node('const s = "x".repeat(65536); const w = () => process.stdout.write(s, w); w()', {
        maxStdoutBytes: 256 * 1024,
      }),
    );
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe('fake produced more than 256 KiB of output and was stopped');
  });

  it('keeps only the tail of standard error', async () => {
    const output = await node('process.stderr.write("a".repeat(5000) + "THE END")', { maxStderrBytes: 100 });
    expect(output.stderr).toHaveLength(100);
    expect(output.stderr.endsWith('THE END')).toBe(true);
  });

  it('reports a missing binary as an environment problem', async () => {
    const error = await caught(() => node('', { binary: '/nonexistent/helm', tool: 'helm' }));
    expect(error).toBeInstanceOf(EnvironmentError);
    expect(error.message).toBe('the helm binary /nonexistent/helm is missing or cannot be run (ENOENT)');
  });

  it('stops when aborted', async () => {
    const controller = new AbortController();
    const running = node('setInterval(() => {}, 1000)', { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('sync cancelled')), 100);
    expect((await caught(() => running)).message).toBe('sync cancelled');
  });
});

describe('sanitizeToolMessage', () => {
  it('makes checkout paths relative and hides sandbox paths', () => {
    const text =
      'Error: accumulating resources from /srv/checkouts/abc/apps/web: open /tmp/capstan-kustomize-x1/home/f: denied\n';
    expect(
      sanitizeToolMessage(text, [
        { from: '/srv/checkouts/abc', to: '' },
        { from: '/tmp/capstan-kustomize-x1', to: '<tmp>' },
      ]),
    ).toBe('Error: accumulating resources from apps/web: open <tmp>/home/f: denied');
  });

  it('redacts PEM blocks and long base64-looking tokens but keeps paths', () => {
    const text = [
      'Error: bad value -----BEGIN RSA PRIVATE KEY-----',
      'MIIEpAIBAAKCAQEA1c2x',
      '-----END RSA PRIVATE KEY----- in file',
      'token: eyJhbGciOiJSUzI1NiIsImtpZCI6IkFCQzEyMyJ9xYz0123456789AbCdEf',
      'in apps/Web2/overlays/Production1/kustomization/Deployment/Web1/x/y',
    ].join('\n');
    const out = sanitizeToolMessage(text, []);
    expect(out).not.toContain('MIIEpAIBAAKCAQEA1c2x');
    expect(out).not.toContain('eyJhbGciOiJSUzI1NiIsImtpZCI6IkFCQzEyMyJ9');
    expect(out).toContain('[redacted PEM block] in file');
    expect(out).toContain('token: [redacted]');
    expect(out).toContain('apps/Web2/overlays/Production1/kustomization/Deployment/Web1/x/y');
  });

  it('keeps the last lines, trims long ones and strips colours', () => {
    const lines = Array.from({ length: 30 }, (_, i) => `line ${i}`);
    lines.push(`\u001b[31m${'x'.repeat(1000)}\u001b[0m`);
    const out = sanitizeToolMessage(lines.join('\n'), []).split('\n');
    expect(out[0]).toBe('… (11 earlier lines left out)');
    expect(out[1]).toBe('line 11');
    expect(out.at(-1)).toBe(`${'x'.repeat(400)}…`);
  });
});
