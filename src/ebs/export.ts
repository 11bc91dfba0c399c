// What the EBS card (and `nitride nbd serve`) uses: open a volume as an NBD export on its
// own socket with a data key, and close it again, which flushes, closes the file and
// forgets the key.
import { BlockDevice } from './block-device.js';
import { EbsError } from './errors.js';
import { NbdServer } from './nbd-server.js';
import { FileVolume } from './volume-store/file-volume.js';
import type { VolumeHandle, VolumeStore } from './volume-store/types.js';
import { createXtsCipher, type XtsCipher, type XtsImpl } from './xts/xts.js';

export interface OpenExportOptions {
  /** Unix socket path (created 0600). At least one of socketPath / tcpPort. */
  readonly socketPath?: string;
  /** TCP port on 127.0.0.1 (0 = any free port); for the standalone server. */
  readonly tcpPort?: number;
  /** 64-byte AES-256-XTS key; null serves plain bytes. The buffer is copied: wipe yours after the call. */
  readonly key: Buffer | null;
  readonly readOnly?: boolean;
  /** Export name (default: the volume id). The empty name also selects it. */
  readonly exportName?: string;
  readonly description?: string;
  readonly xtsImpl?: XtsImpl | 'auto';
  readonly log?: (event: string, fields: Record<string, unknown>) => void;
}

export interface NbdExportHandle {
  readonly name: string;
  readonly socketPath: string | undefined;
  readonly tcpPort: number | undefined;
  readonly device: BlockDevice;
  readonly server: NbdServer;
  /** Stop listening, finish in-flight requests, disconnect clients, flush, close the volume, destroy the key. */
  close(): Promise<void>;
}

/** Serve an already-open volume handle. The handle is owned by the export from now on. */
export async function serveVolume(volume: VolumeHandle, opts: OpenExportOptions): Promise<NbdExportHandle> {
  if (opts.socketPath === undefined && opts.tcpPort === undefined) {
    await volume.close();
    throw new EbsError('EBS_BAD_REQUEST', 'invalid', 'An export needs a socket path or a TCP port.');
  }
  let cipher: XtsCipher | null = null;
  let device: BlockDevice;
  try {
    cipher = opts.key ? createXtsCipher(opts.key, opts.xtsImpl ?? 'auto') : null;
    device = new BlockDevice(volume, cipher, { readOnly: opts.readOnly ?? false });
  } catch (e) {
    cipher?.destroy();
    await volume.close();
    throw e;
  }
  const name = opts.exportName ?? volume.id;
  const server = new NbdServer({
    exports: [{ name, device, ...(opts.description !== undefined ? { description: opts.description } : {}) }],
    ...(opts.log ? { log: opts.log } : {}),
  });
  let tcpPort: number | undefined;
  try {
    if (opts.socketPath !== undefined) await server.listenUnix(opts.socketPath);
    if (opts.tcpPort !== undefined) tcpPort = await server.listenTcp(opts.tcpPort);
  } catch (e) {
    await server.close().catch(() => undefined);
    await device.close().catch(() => undefined);
    throw e;
  }
  let closing: Promise<void> | undefined;
  return {
    name,
    socketPath: opts.socketPath,
    tcpPort,
    device,
    server,
    close: () =>
      (closing ??= (async () => {
        try {
          await server.close();
        } finally {
          await device.close();
        }
      })()),
  };
}

/** Serve a volume of a VolumeStore (the card's path). */
export async function openVolumeExport(store: VolumeStore, volumeId: string, opts: OpenExportOptions): Promise<NbdExportHandle> {
  const volume = await store.open(volumeId, { readOnly: opts.readOnly ?? false });
  return serveVolume(volume, opts);
}

/** Serve a plain file (the standalone server's path). With sizeBytes, the file is created or grown to that size. */
export async function openFileExport(file: string, opts: OpenExportOptions & { sizeBytes?: number }): Promise<NbdExportHandle> {
  const volume = await FileVolume.open(file, {
    readOnly: opts.readOnly ?? false,
    ...(opts.sizeBytes !== undefined ? { create: opts.sizeBytes } : {}),
  });
  return serveVolume(volume, { ...opts, exportName: opts.exportName ?? '' });
}
