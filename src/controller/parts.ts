// The parts of a running controller, as its modules see one another: the options it was
// started with, the host identity, the audit log, the security chip, the three cards and
// the front door. src/controller/controller.ts builds them; live-update.ts, takeover.ts and
// host-status.ts work on them.
import type { Logger } from '../lib/log.js';
import type { HostEbsCard } from './cards/ebs.js';
import type { HostHypervisor } from './cards/hypervisor.js';
import type { HostVpcCard, PublicSideOptions } from './cards/vpc.js';
import type { HostFront } from './front.js';
import type { HostSecurityChip } from './host-security-chip.js';
import type { HostIdentity } from './host-state.js';

export interface ControllerOptions {
  readonly home: string;
  readonly port: number;
  readonly listen?: string;
  readonly hypervisorEntry?: string;
  readonly log: Logger;
  /** Signed bundles (DIR/<component>) and the release key they must verify with: see src/controller/host-security-chip.ts. */
  readonly bundlesDir?: string;
  readonly releasePubKeyPem?: string;
  /** The file releasePubKeyPem came from (a controller live update starts its successor with it). */
  readonly releasePubKeyPath?: string;
  /**
   * Started by a running controller to replace it (host.update {component: 'controller'}): measure
   * and prepare, then take the components, the listening socket and the audit log over from the
   * parent through the IPC channel (src/controller/takeover.ts). Never listens by itself.
   */
  readonly takeover?: boolean;
  /** The VPC edge's public side (--public-iface …; `nitride start` gives a host-only one by default). */
  readonly publicSide?: PublicSideOptions;
}

export interface ControllerParts {
  readonly options: ControllerOptions;
  readonly log: Logger;
  /** The address the controller listens on (default 127.0.0.1). */
  readonly address: string;
  readonly started: number;
  readonly chip: HostSecurityChip;
  readonly hypervisor: HostHypervisor;
  readonly ebs: HostEbsCard;
  readonly vpc: HostVpcCard;
  readonly front: HostFront;
  identity(): HostIdentity;
  /** Appends to the host audit log (queued while it is not open here). */
  audit(event: Record<string, unknown>): void;
  /** How many records the open audit log holds (0 when none is open here). */
  auditRecords(): number;
  /** Opens the audit log (a successor taking over). */
  openAudit(): void;
  /** Closes the audit log (handed to the successor). */
  closeAudit(): void;
  writeRuntime(): void;
  /** This process is done: main exits with `code`. */
  retire(code: number): void;
}
