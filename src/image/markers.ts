// The progress markers the nitride-minimal init prints on the serial console, one per
// line. Tests and the hypervisor look for them; keep them stable. The init script is
// generated from these strings (src/image/init-script.ts), so they have one source.
export const MARKER_PREFIX = 'nitride-init:';
export const MARKERS = {
  start: 'nitride-init: start',
  modules: 'nitride-init: modules loaded', // followed by " (failed: a b)" when an insmod failed
  network: 'nitride-init: eth0', // followed by " up <ip>", " dhcp failed" or " absent"
  imds: 'nitride-init: imds', // followed by " token ok" or " unavailable (<reason>)"
  userData: 'nitride-init: user-data', // followed by " none", " skipped (no imds)", " running", " exit <code>", " ignored (…)", " unavailable (…)"
  tpm: 'nitride-init: tpm', // followed by " /dev/tpm0 pcr-sha256/0=<hex>" (only when the guest has a TPM)
  ready: 'nitride-init: ready',
  powerdown: 'nitride-init: power button, shutting down',
} as const;

export type MarkerName = keyof typeof MARKERS;
