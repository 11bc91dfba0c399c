// A kernel network stack as a guest, for the edge's benchmark and tests: a TAP device (moved
// into a namespace of the caller's, where real programs — iperf3, python3 — run) relayed to an
// ENI socket with QEMU's stream framing, as QEMU's virtio-net backend would. Reads from the
// device come in batches already framed (tapRead), so each batch is one socket write.
import { connect, type Socket } from 'node:net';
import { FrameDecoder } from '../protocol/stream-framing.js';
import { TapDevice } from '../edge/public-side.js';

export class TapNic {
  private readonly decoder = new FrameDecoder();
  /** Frames the device refused (its queue full). */
  dropped = 0;

  private constructor(readonly tap: TapDevice, readonly socket: Socket) {}

  /** Creates the TAP device `name` (in this process's namespace: move it after) and connects it to the ENI socket. */
  static async open(name: string, socketPath: string): Promise<TapNic> {
    const tap = TapDevice.open(name);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(socketPath, () => resolve(s));
      s.once('error', reject);
    });
    const nic = new TapNic(tap, socket);
    socket.on('data', (c: Buffer) =>
      nic.decoder.push(c, (f) => {
        if (!tap.write(f, 0, f.length)) nic.dropped++;
      }),
    );
    socket.on('error', () => undefined);
    tap.start((buf, idx, count) => {
      const start = (idx[0] as number) - 4;
      const end = (idx[2 * (count - 1)] as number) + (idx[2 * count - 1] as number);
      socket.write(buf.subarray(start, end));
    });
    return nic;
  }

  close(): void {
    this.tap.close();
    this.socket.destroy();
  }
}
