// The `nitride` command line. Each top-level command is a module under ./commands that
// exports `run(argv)`, loaded on demand so the CLI starts quickly. This is an entry
// point: the only place (with other entry points) that calls process.exit.
import { describeError, isNitrideError } from '../lib/errors.js';

export interface CommandModule {
  readonly summary: string;
  run(argv: string[]): Promise<number>;
}

const commands: Record<string, () => Promise<CommandModule>> = {
  setup: () => import('./commands/setup.js'),
  image: () => import('./commands/image.js'),
  host: () => import('./commands/host.js'),
  controller: () => import('./commands/controller.js'),
  start: () => import('./commands/start.js'),
  audit: () => import('./commands/audit.js'),
  nbd: () => import('./commands/nbd.js'),
  release: () => import('./commands/release.js'),
  attest: () => import('./commands/attest.js'),
  account: () => import('./commands/account.js'),
};

async function usage(): Promise<string> {
  const lines = ['usage: nitride <command> [args]', '', 'commands:'];
  for (const [name, load] of Object.entries(commands)) {
    try {
      lines.push(`  ${name.padEnd(12)} ${(await load()).summary}`);
    } catch {
      lines.push(`  ${name}`);
    }
  }
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(`${await usage()}\n`);
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (!load) {
    process.stderr.write(`nitride: unknown command '${name}'\n${await usage()}\n`);
    return 2;
  }
  return (await load()).run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`nitride: ${describeError(e)}\n`);
    if (!isNitrideError(e) && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  },
);
