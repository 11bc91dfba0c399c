import { runSetup } from '../../setup/setup.js';

export const summary = 'install what is missing (Debian packages, QEMU user, guest image); idempotent';

export async function run(argv: string[]): Promise<number> {
  await runSetup({ skipSystem: argv.includes('--no-system') });
  return 0;
}
