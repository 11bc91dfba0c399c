import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CONSOLE_OUTPUT_BYTES, ConsoleTail, readConsoleTail, ROTATE_AT } from './console-log.js';

test('console tail: lines across chunk boundaries, from a start offset, then live appends', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nitride-console-'));
  const tail = new ConsoleTail(dir, (l) => lines.push(l));
  const lines: string[] = [];
  try {
    await writeFile(join(dir, 'console.log'), 'old boot\r\nnitride-init: ready\r\n');
    await tail.start(10); // skips "old boot\r\n"
    await appendFile(join(dir, 'console.log'), 'par');
    await tail.pump();
    await appendFile(join(dir, 'console.log'), 'tial\nnext\n');
    const deadline = Date.now() + 3000;
    while (lines.length < 3 && Date.now() < deadline) await sleep(20); // fs.watch or the poll
    assert.deepEqual(lines, ['nitride-init: ready', 'partial', 'next']);
  } finally {
    tail.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('console tail: rotates past the limit, keeps the last 64 KiB, loses no line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nitride-console-'));
  let n = 0;
  let last = '';
  const tail = new ConsoleTail(dir, (l) => {
    n++;
    last = l;
  });
  try {
    const line = (i: number): string => `line ${String(i).padStart(7, '0')} ${'x'.repeat(100)}\n`;
    let body = '';
    let i = 0;
    while (body.length <= ROTATE_AT) body += line(i++);
    await writeFile(join(dir, 'console.log'), body);
    await tail.start(0);
    assert.equal(n, i);
    assert.equal(last, line(i - 1).trimEnd());
    assert.equal((await stat(join(dir, 'console.log'))).size, 0, 'the live log was emptied');
    const prev = await readFile(join(dir, 'console.prev.log'));
    assert.equal(prev.length, CONSOLE_OUTPUT_BYTES);
    await appendFile(join(dir, 'console.log'), 'after rotation\n');
    const out = await readConsoleTail(dir);
    assert.equal(out.data.length, CONSOLE_OUTPUT_BYTES);
    assert.ok(out.data.toString().endsWith(`${line(i - 1)}after rotation\n`));
  } finally {
    tail.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
