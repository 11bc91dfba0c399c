// The progress markers the nitride-minimal init prints on the serial console, one per
// line. Tests and the hypervisor look for them; keep them stable.
export const MARKER_PREFIX = 'nitride-init:';
export const MARKERS = {
  start: 'nitride-init: start',
  modules: 'nitride-init: modules loaded',
  network: 'nitride-init: eth0', // followed by " up <ip>" or " dhcp failed"
  imds: 'nitride-init: imds', // followed by " token ok", " unavailable (…)"
  userData: 'nitride-init: user-data', // followed by " none", " running", " exit <code>"
  ready: 'nitride-init: ready',
  powerdown: 'nitride-init: power button, shutting down',
} as const;
