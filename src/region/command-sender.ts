// How the region's services send a command to a host's controller, typed by the controller's
// command contract (src/controller/protocol/commands.ts): params by ParamsOf<T>, the reply by
// ResultOf<T>. The Fleet (src/region/fleet.ts) implements it; services depend on this alone.
import type { CommandType, ParamsOf, ResultOf } from '../controller/client.js';

export interface FleetSendOptions {
  readonly id: string;
  readonly timeoutMs?: number;
}

export interface CommandSender {
  send<T extends CommandType>(hostId: string, type: T, params: ParamsOf<T>, opts: FleetSendOptions): Promise<ResultOf<T>>;
}

