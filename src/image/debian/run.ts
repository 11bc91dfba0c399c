// Running the build's tools: async, with their output streamed as lines to a callback and
// the last lines kept for the error when they fail. No shell is involved except where a
// script is the point (the chroot step).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ImageError } from '../errors.js';

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly onLine?: (line: string) => void;
  readonly input?: string;
  readonly cwd?: string;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: opts.env ?? process.env, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    const tail: string[] = [];
    let out = '';
    let partial = '';
    const onData = (buf: Buffer, isOut: boolean): void => {
      const text = buf.toString('utf8');
      if (isOut) out += text;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) {
        tail.push(l);
        if (tail.length > 30) tail.shift();
        opts.onLine?.(l);
      }
    };
    child.stdout?.on('data', (b: Buffer) => onData(b, true));
    child.stderr?.on('data', (b: Buffer) => onData(b, false));
    child.on('error', (e) => {
      reject(new ImageError('ImageToolMissing', 'unavailable', `The tool ${cmd} could not be started.`, { cmd }, { cause: e }));
    });
    child.on('close', (code, signal) => {
      if (partial !== '') {
        tail.push(partial);
        opts.onLine?.(partial);
      }
      if (code === 0) resolve(out);
      else {
        reject(
          new ImageError('ImageBuildFailed', 'internal', `${cmd} ${args.slice(0, 6).join(' ')}${args.length > 6 ? ' …' : ''} exited with ${code ?? signal}.`, {
            cmd,
            args,
            code,
            signal,
            output: tail.join('\n'),
          }),
        );
      }
    });
    if (child.stdin) {
      child.stdin.on('error', () => undefined); // the tool's exit status tells what happened
      child.stdin.end(opts.input);
    }
  });
}

/** Removes a build tree without crossing into a file system mounted inside it (debootstrap mounts /proc). */
export function removeTree(path: string): void {
  let mounts = '';
  try {
    mounts = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    // no /proc: nothing can be mounted that we could see
  }
  const inside = mounts
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m === path || m.startsWith(`${path}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of inside) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  const r = spawnSync('rm', ['-rf', '--one-file-system', path], { stdio: 'ignore' });
  if (r.status !== 0) throw new ImageError('ImageBuildFailed', 'internal', `The build tree ${path} could not be removed.`, { path, status: r.status });
}

/** The first line a tool prints for its version flag, or 'unknown'. */
export function toolVersion(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  const text = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n')[0] ?? '';
  return text === '' ? 'unknown' : text.trim();
}
