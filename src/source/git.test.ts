import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { TransientError, UserError } from '../core/errors.js';
import {
  GitCommandError,
  classifyGitFailure,
  createProcessRunner,
  gitComplaint,
  gitEnvironment,
  hardenedConfig,
  remoteFailure,
  shellQuote,
  sshCommand,
  type GitInvocation,
} from './git.js';

const run = promisify(execFile);

describe('classifyGitFailure', () => {
  it.each([
    ["fatal: Authentication failed for 'https://h/r.git/'", 'auth'],
    ["fatal: could not read Username for 'https://h': terminal prompts disabled", 'auth'],
    ['git@h: Permission denied (publickey).', 'auth'],
    ["fatal: unable to access 'https://h/r/': The requested URL returned error: 403", 'auth'],
    ['No ED25519 host key is known for [h]:22 and you have requested strict checking.', 'hostKey'],
    ['Host key verification failed.', 'hostKey'],
    ["fatal: repository 'https://h/r/' not found", 'repositoryNotFound'],
    ["fatal: '/srv/r' does not appear to be a git repository", 'repositoryNotFound'],
    ["fatal: couldn't find remote ref refs/heads/nope", 'refNotFound'],
    ['fatal: remote error: upload-pack: not our ref ' + 'a'.repeat(40), 'unadvertisedObject'],
    ["fatal: unable to access 'https://h/': Could not resolve host: h", 'unreachable'],
    ['ssh: connect to host h port 22: Connection refused', 'unreachable'],
    ["fatal: unable to access 'https://h/': The requested URL returned error: 503", 'unreachable'],
    ["fatal: unable to access 'https://h/r.git/': The requested URL returned error: 302", 'redirect'],
    ['error: RPC failed; curl 56 GnuTLS recv error (-9)', 'unreachable'],
    ['fatal: the remote end hung up unexpectedly', 'unreachable'],
    ['fatal: something nobody has seen before', 'unknown'],
  ])('%s → %s', (stderr, kind) => {
    expect(classifyGitFailure(stderr)).toBe(kind);
  });
});

describe('gitComplaint', () => {
  it("picks git's telling line, not its boilerplate", () => {
    const stderr = [
      'git@h: Permission denied (publickey).',
      'fatal: Could not read from remote repository.',
      '',
      'Please make sure you have the correct access rights',
      'and the repository exists.',
    ].join('\n');
    expect(gitComplaint(stderr)).toBe('git@h: Permission denied (publickey).');
    expect(gitComplaint('hint: x\nfatal: odd thing\n')).toBe('fatal: odd thing');
  });
});

describe('remoteFailure', () => {
  const invocation: GitInvocation = { operation: 'ls-remote', args: ['ls-remote'], env: {}, timeoutMs: 1000 };
  const context = { display: 'https://h/r.git', host: 'h', secrets: ['hunter22'], timeoutMs: 1000 };
  const failed = (stderr: string, timedOut = false) => ({
    exitCode: timedOut ? null : 128,
    stdout: '',
    stderr,
    timedOut,
  });

  it('maps kinds to error classes with redacted messages and causes', () => {
    const auth = remoteFailure(
      invocation,
      failed("fatal: Authentication failed for 'https://u:hunter22@h/r'"),
      context,
    );
    expect(auth).toBeInstanceOf(UserError);
    expect(auth.message).not.toContain('hunter22');
    expect(String((auth.cause as Error).message)).not.toContain('hunter22');
    expect(remoteFailure(invocation, failed('Connection refused'), context)).toBeInstanceOf(TransientError);
    expect(remoteFailure(invocation, failed('', true), context).message).toBe(
      'git ls-remote for https://h/r.git timed out after 1s',
    );
    expect(remoteFailure(invocation, failed('weird'), context).kind).toBe('internal');
  });
});

describe('gitEnvironment', () => {
  it('starts from nothing but PATH and proxies, and shuts out config and prompts', () => {
    process.env.CAPSTAN_TEST_LEAK = 'leak';
    const env = gitEnvironment({ home: '/nonexistent-home', allowFileProtocol: false });
    delete process.env.CAPSTAN_TEST_LEAK;
    expect(env.CAPSTAN_TEST_LEAK).toBeUndefined();
    expect(env).toMatchObject({
      HOME: '/nonexistent-home',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      GIT_TERMINAL_PROMPT: '0',
      GIT_ALLOW_PROTOCOL: 'https:http:ssh',
      LC_ALL: 'C',
    });
    expect(env.GIT_SSH_COMMAND).toContain('StrictHostKeyChecking=yes');
    expect(env.GIT_SSH_COMMAND).toContain('BatchMode=yes');
  });

  it('restricts protocols in the -c settings too, ext:: always refused', () => {
    const config = hardenedConfig(false);
    expect(config).toContain('protocol.allow=never');
    expect(config).toContain('protocol.ext.allow=never');
    expect(config).not.toContain('protocol.file.allow=always');
    expect(hardenedConfig(true)).toContain('protocol.file.allow=always');
  });

  it('makes the real git refuse ext:: even if asked', async () => {
    const runner = createProcessRunner();
    const output = await runner({
      operation: 'ls-remote',
      args: [...hardenedConfig(false), 'ls-remote', '--', 'ext::sh -c false'],
      env: gitEnvironment({ home: '/nonexistent-home', allowFileProtocol: false }),
      timeoutMs: 10_000,
    });
    expect(output.exitCode).not.toBe(0);
    expect(output.stderr).toMatch(/transport 'ext' not allowed/);
  });
});

describe('sshCommand', () => {
  it('quotes paths for the shell git runs it with', async () => {
    const hostile = "/tmp/it's $(touch /tmp/capstan-pwned) dir/id";
    expect(shellQuote(hostile)).toBe(`'/tmp/it'\\''s $(touch /tmp/capstan-pwned) dir/id'`);
    const { stdout } = await run('sh', ['-c', `printf '%s' ${shellQuote(hostile)}`]);
    expect(stdout).toBe(hostile);
    const command = sshCommand({ keyFile: '/k/id', knownHostsFile: '/k/known_hosts' });
    expect(command).toContain("-i '/k/id'");
    expect(command).toContain("UserKnownHostsFile='/k/known_hosts'");
    expect(command).toContain('IdentitiesOnly=yes');
    expect(sshCommand({ interactiveAskpass: true })).toContain('BatchMode=no');
  });
});

describe('createProcessRunner', () => {
  it('kills git when it exceeds its timeout', async () => {
    const runner = createProcessRunner('sh');
    const output = await runner({
      operation: 'sleep',
      args: ['-c', 'sleep 30'],
      env: { PATH: process.env.PATH ?? '' },
      timeoutMs: 50,
    });
    expect(output.timedOut).toBe(true);
  });

  it('reports a missing git binary as an environment problem', async () => {
    const runner = createProcessRunner('/nonexistent/git');
    await expect(
      runner({ operation: 'version', args: ['version'], env: {}, timeoutMs: 1000 }),
    ).rejects.toThrow(/git is not installed/);
  });
});

/** What a hostile server can make git print: bounded, read once, and never a stall. */
describe('git output from a hostile server', () => {
  const sh = createProcessRunner('sh');
  const shell = (script: string, extra: Partial<GitInvocation> = {}) =>
    sh({
      operation: 'test',
      args: ['-c', script],
      env: { PATH: process.env.PATH ?? '' },
      timeoutMs: 10_000,
      ...extra,
    });
  const isExecutable = (path: string) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const hasPrlimit = (process.env.PATH ?? '')
    .split(delimiter)
    .some((dir) => dir !== '' && isExecutable(join(dir, 'prlimit')));

  it('keeps the first maxStdoutBytes of stdout and stops the command', async () => {
    const output = await shell('yes', { maxStdoutBytes: 1000 });
    expect(output.stdout).toBe('y\n'.repeat(500));
    expect(output.stdoutTruncated).toBe(true);
  });

  it('stops the command when the stdout reader refuses, and rejects with its error', async () => {
    let seen = 0;
    const refusal = new UserError('too much');
    const reading = shell('yes', {
      onStdout: (chunk) => {
        seen += chunk.length;
        if (seen > 100_000) throw refusal;
      },
    });
    await expect(reading).rejects.toBe(refusal);
  });

  it('keeps the tail of stderr from a whole line on', async () => {
    // 200 lines of 1000 characters: the kept 64 KiB starts wherever a chunk did, and its cut
    // first line goes.
    const output = await shell("i=0; while [ $i -lt 200 ]; do printf '%0999d\\n' $i >&2; i=$((i+1)); done");
    const lines = output.stderr.split('\n').slice(0, -1);
    expect(lines.length).toBe(65);
    for (const line of lines) expect(line).toMatch(/^\d{999}$/);
    expect(lines.at(-1)).toBe(String(199).padStart(999, '0'));
  });

  it.skipIf(!hasPrlimit)('limits the memory of each git process when asked', async () => {
    expect((await shell('ulimit -d', { maxMemoryBytes: 64 * 1024 * 1024 })).stdout).toBe('65536\n');
    expect((await shell('ulimit -d')).stdout).toBe('unlimited\n');
  });

  it('classifies 64 KiB of near-misses correctly (the patterns never backtrack across a run)', () => {
    for (const unit of ['want ', "repository '", 'host key for ', 'no ', 'b.']) {
      expect(classifyGitFailure(unit.repeat(Math.ceil(65536 / unit.length)))).toBe('unknown');
    }
    expect(classifyGitFailure(`${'want '.repeat(10_000)}want ${'a'.repeat(40)} not valid`)).toBe(
      'unadvertisedObject',
    );
    expect(classifyGitFailure('fatal: Out of memory, calloc failed')).toBe('outOfMemory');
    // A server saying so is not git running out of memory.
    expect(classifyGitFailure('remote: fatal: Out of memory')).toBe('unknown');
  });

  it('carries the last lines of stderr, redacted once and cut short', () => {
    const invocation: GitInvocation = {
      operation: 'fetch',
      args: ['-c', 'x=y', 'fetch', '--', 'https://u:hunter22@h/r.git'],
      env: {},
      timeoutMs: 1000,
    };
    const stderr = [
      ...Array.from({ length: 30 }, (_, i) => `remote: line ${i}`),
      `remote: ${'b.'.repeat(32 * 1024)} password=hunter22`,
      'fatal: early EOF',
    ].join('\n');
    const error = new GitCommandError(invocation, { exitCode: 128, stdout: '', stderr, timedOut: false }, [
      'hunter22',
    ]);
    const lines = error.message.split('\n');
    expect(lines[0]).toBe('git fetch -- https://***@h/r.git exited with 128: [12 earlier lines not shown]');
    expect(lines[1]).toBe('remote: line 12');
    expect(lines.at(-2)).toBe(`remote: ${'b.'.repeat(252)}…`);
    expect(lines.at(-1)).toBe('fatal: early EOF');
    expect(error.stderr).toBe(error.message.slice(error.message.indexOf(': ') + 2));
    expect(error.message).not.toContain('hunter22');
  });

  it('reports git out of its memory as the server sending too much', () => {
    const invocation: GitInvocation = {
      operation: 'ls-remote',
      args: ['ls-remote'],
      env: {},
      timeoutMs: 1000,
      maxMemoryBytes: 256 * 1024 * 1024,
    };
    const context = { display: 'https://h/r.git', host: 'h', secrets: [], timeoutMs: 1000 };
    const output = {
      exitCode: 128,
      stdout: '',
      stderr: 'fatal: Out of memory, calloc failed\n',
      timedOut: false,
    };
    const error = remoteFailure(invocation, output, context);
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toMatch(
      /^git ls-remote for https:\/\/h\/r\.git ran out of the 256 MiB of memory Capstan allows it: /,
    );
  });
});
