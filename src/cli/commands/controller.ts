// `nitride controller run --home DIR [--port N] [--listen ADDR]`: runs the host controller
// in the foreground (the same process as dist/src/controller/main.js).
import { parseRunArgs, runController } from '../../controller/main.js';

export const summary = 'run the host controller (passive mTLS server; supervises the hypervisor)';

const USAGE = 'usage: nitride controller run [--home DIR] [--port N] [--listen ADDR]\n';

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'run') {
    process.stderr.write(USAGE);
    return sub === undefined || sub === 'help' || sub === '--help' ? 0 : 2;
  }
  let args;
  try {
    args = parseRunArgs(rest);
  } catch (e) {
    process.stderr.write(`nitride controller: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  return runController(args);
}
