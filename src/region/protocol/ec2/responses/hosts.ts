// EC2 responses, host operations of the region operator (Nitride's own actions): the typed results and their XML writers.

import type { WriterTable } from './common.js';

export type HostResponse =
  | { readonly action: 'NitrideAddHost'; readonly hostId: string; readonly certFingerprint: string; readonly trust: string }
  | { readonly action: 'NitrideSetHostRelease'; readonly hostId: string; readonly release: string; readonly attested: boolean }
  | {
      readonly action: 'NitrideUpdateHostComponent';
      readonly hostId: string;
      readonly component: string;
      readonly version: string;
      readonly digest: string;
      readonly previousVersion: string | undefined;
      readonly release: string;
      readonly attested: boolean;
    };

export const HOST_WRITERS: WriterTable<HostResponse> = {
  NitrideAddHost: (w, r) => {
    w.leaf('hostId', r.hostId).leaf('certFingerprint', r.certFingerprint).leaf('trust', r.trust);
  },
  NitrideSetHostRelease: (w, r) => {
    w.leaf('hostId', r.hostId).leaf('release', r.release).leaf('attested', r.attested);
  },
  NitrideUpdateHostComponent: (w, r) => {
    w.leaf('hostId', r.hostId).leaf('component', r.component).leaf('version', r.version).leaf('digest', r.digest).leaf('previousVersion', r.previousVersion).leaf('release', r.release).leaf('attested', r.attested);
  },
};
