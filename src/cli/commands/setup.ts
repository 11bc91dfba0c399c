import { OPTIONAL_IMAGES, runSetup } from '../../setup/setup.js';

export const summary = 'install what is missing (Debian packages, QEMU user, guest image); idempotent; --with debian-12 also builds that image';

export async function run(argv: string[]): Promise<number> {
  const withImages: string[] = (process.env['NITRIDE_SETUP_WITH'] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--with') {
      const v = argv[++i];
      if (v === undefined) {
        process.stderr.write(`nitride setup: --with needs an image name (${OPTIONAL_IMAGES.join(', ')})\n`);
        return 2;
      }
      withImages.push(...v.split(','));
    } else if (a !== '--no-system') {
      process.stderr.write(`nitride setup: unknown argument ${a}\n`);
      return 2;
    }
  }
  const unknown = withImages.filter((n) => !OPTIONAL_IMAGES.includes(n));
  if (unknown.length > 0) {
    process.stderr.write(`nitride setup: no optional image ${unknown.join(', ')} (known: ${OPTIONAL_IMAGES.join(', ')})\n`);
    return 2;
  }
  await runSetup({ skipSystem: argv.includes('--no-system'), withImages });
  return 0;
}
