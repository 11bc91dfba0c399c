// Child process for the state-store conformance suite's crash test. Usage:
//   node conformance-child.js <backend module URL or path> <location>
// Opens the backend's store at location and writes crash/<n> = {n} one txn at a time,
// printing "ack <n>" only after each write's promise has resolved, forever. The parent
// kills it with SIGKILL and checks that every acknowledged write is still there.
import { pathToFileURL } from 'node:url';
import type { StateStore } from './store.js';

async function main(): Promise<void> {
  const [modulePath, location] = process.argv.slice(2);
  if (modulePath === undefined || location === undefined) throw new Error('usage: conformance-child <module> <location>');
  const mod = (await import(modulePath.startsWith('file:') ? modulePath : pathToFileURL(modulePath).href)) as { openStore(location: string): Promise<StateStore> };
  const store = await mod.openStore(location);
  process.stdout.write('ready\n');
  for (let n = 1; ; n++) {
    const key = `crash/${String(n).padStart(8, '0')}`;
    await store.txn({ compare: [{ key, version: 0 }], put: [{ key, value: { n } }] });
    process.stdout.write(`ack ${n}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
