// Errors of the guest image component. Codes callers match on: ImageNotFound (not built
// for the current inputs), ImageCorrupt (a file is missing or its sha256 differs),
// ImageKernelMissing, ImageKernelFormat, ImageModuleMissing, ImageToolMissing,
// ImageBuildFailed, ImageLockTimeout, ImageNeedsRoot (debian-12 builds run debootstrap),
// ImageUnreadable / ImageFsUnreadable / InitramfsUnreadable / ImageBadPath (inspection), and
// the codecs' PartitionTableError and CpioFormatError codes (kind invalid).
import { NitrideError, type ErrorKind } from '../lib/errors.js';

export class ImageError extends NitrideError {
  constructor(code: string, kind: ErrorKind, message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, kind, message, context, options);
  }
}
