// Errors of the EBS card's data plane (NBD server, encryption, volume store), and the one
// place they are mapped to the NBD wire: nbdErrnoOf().
import { NitrideError, type ErrorKind } from '../lib/errors.js';
import { NBD_EINVAL, NBD_EIO, NBD_ENOMEM, NBD_ENOSPC, NBD_ENOTSUP, NBD_EOVERFLOW, NBD_EPERM, NBD_ESHUTDOWN } from './protocol/constants.js';

export type EbsErrorCode =
  | 'EBS_OUT_OF_RANGE' // a request past the end of the volume
  | 'EBS_NO_SPACE' // a write past the end of the volume, or the disk is full
  | 'EBS_READ_ONLY' // a write to a read-only export
  | 'EBS_BAD_REQUEST' // malformed flags, sizes or arguments
  | 'EBS_NOT_SUPPORTED' // e.g. FAST_ZERO that cannot be fast
  | 'EBS_BAD_KEY' // a key that is not 64 bytes / 128 hex characters, or equal halves
  | 'EBS_VOLUME_NOT_FOUND'
  | 'EBS_VOLUME_EXISTS'
  | 'EBS_SNAPSHOT_NOT_FOUND'
  | 'EBS_SNAPSHOT_EXISTS'
  | 'EBS_VOLUME_IN_USE'
  | 'EBS_SHUTTING_DOWN'
  | 'EBS_NATIVE_BUILD_FAILED'
  | 'EBS_IO';

export class EbsError extends NitrideError {
  constructor(code: EbsErrorCode, kind: ErrorKind, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, kind, message, context, options);
  }
}

/** The NBD errno for any error thrown while serving a request. */
export function nbdErrnoOf(e: unknown): number {
  if (e instanceof EbsError) {
    switch (e.code as EbsErrorCode) {
      case 'EBS_OUT_OF_RANGE':
      case 'EBS_BAD_REQUEST':
        return NBD_EINVAL;
      case 'EBS_NO_SPACE':
        return NBD_ENOSPC;
      case 'EBS_READ_ONLY':
        return NBD_EPERM;
      case 'EBS_NOT_SUPPORTED':
        return NBD_ENOTSUP;
      case 'EBS_SHUTTING_DOWN':
        return NBD_ESHUTDOWN;
      default:
        return NBD_EIO;
    }
  }
  const code = (e as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EFBIG':
      return NBD_ENOSPC;
    case 'ENOMEM':
      return NBD_ENOMEM;
    case 'EPERM':
    case 'EACCES':
    case 'EROFS':
      return NBD_EPERM;
    case 'EOVERFLOW':
      return NBD_EOVERFLOW;
    case 'EINVAL':
      return NBD_EINVAL;
    default:
      return NBD_EIO;
  }
}
