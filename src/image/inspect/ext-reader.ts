// Reads an ext2/3/4 file system inside a disk image without mounting it, through e2fsprogs'
// debugfs on "FILE?offset=N" (read-only: debugfs opens it without -w). One debugfs process
// per request; each takes a few milliseconds.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageError } from '../errors.js';

export interface ExtDirEntry {
  readonly name: string;
  readonly inode: number;
  readonly mode: number;
  readonly size: number;
  readonly kind: 'file' | 'dir' | 'symlink' | 'other';
}

function debugfs(spec: string, request: string): Promise<{ stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('debugfs', ['-R', request, spec], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString('utf8');
    });
    child.on('error', (e) => reject(new ImageError('ImageToolMissing', 'unavailable', 'debugfs (e2fsprogs) is needed to read ext file systems without mounting them.', { tool: 'debugfs' }, { cause: e })));
    child.on('close', () => resolve({ stdout: Buffer.concat(out), stderr: err }));
  });
}

function notFound(stderr: string): boolean {
  return /File not found|not found by ext2_lookup|Ext2 inode is not a directory|No such file/i.test(stderr);
}

export class ExtReader {
  private readonly spec: string;

  constructor(
    readonly image: string,
    readonly offsetBytes: number,
  ) {
    this.spec = `${image}?offset=${offsetBytes}`;
  }

  /** The entries of a directory (without . and ..), or undefined when it does not exist. */
  async ls(dir: string): Promise<ExtDirEntry[] | undefined> {
    const { stdout, stderr } = await debugfs(this.spec, `ls -p ${quote(dir)}`);
    if (notFound(stderr)) return undefined;
    if (/Bad magic number|Superblock invalid|corrupt/i.test(stderr)) {
      throw new ImageError('ImageFsUnreadable', 'invalid', `debugfs cannot read the ext file system at byte ${this.offsetBytes} of ${this.image}.`, { image: this.image, offset: this.offsetBytes, stderr: stderr.trim() });
    }
    const out: ExtDirEntry[] = [];
    // "/ino/mode/uid/gid/name/size/" — the name may itself hold slashes only if corrupt.
    for (const line of stdout.toString('utf8').split('\n')) {
      const m = /^\/(\d+)\/(\d+)\/\d+\/\d+\/(.*)\/(\d*)\/$/.exec(line.trim());
      if (!m) continue;
      const name = m[3] ?? '';
      if (name === '.' || name === '..' || name === '') continue;
      const mode = parseInt(m[2] ?? '0', 8);
      const t = mode & 0o170000;
      out.push({ name, inode: Number(m[1]), mode, size: Number(m[4] || 0), kind: t === 0o100000 ? 'file' : t === 0o040000 ? 'dir' : t === 0o120000 ? 'symlink' : 'other' });
    }
    return out;
  }

  /** A small file's bytes (through stdout), or undefined when it does not exist. */
  async cat(path: string): Promise<Buffer | undefined> {
    const { stdout, stderr } = await debugfs(this.spec, `cat ${quote(path)}`);
    if (notFound(stderr)) return undefined;
    return stdout;
  }

  /** A large file's bytes (through a temporary file), or undefined when it does not exist. */
  async dump(path: string): Promise<Buffer | undefined> {
    const dir = mkdtempSync(join(tmpdir(), 'nitride-inspect-'));
    try {
      const out = join(dir, 'f');
      const { stderr } = await debugfs(this.spec, `dump ${quote(path)} ${quote(out)}`);
      if (notFound(stderr)) return undefined;
      try {
        return readFileSync(out);
      } catch {
        return undefined;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** The target of a symbolic link, or undefined. */
  async readlink(path: string): Promise<string | undefined> {
    const { stdout, stderr } = await debugfs(this.spec, `stat ${quote(path)}`);
    if (notFound(stderr)) return undefined;
    const m = /Fast link dest: "([^"]*)"/.exec(stdout.toString('utf8'));
    if (m) return m[1];
    return undefined;
  }
}

function quote(p: string): string {
  if (/["\n]/.test(p)) throw new ImageError('ImageBadPath', 'invalid', `The path ${JSON.stringify(p)} cannot be passed to debugfs.`, { path: p });
  return /\s/.test(p) ? `"${p}"` : p;
}
