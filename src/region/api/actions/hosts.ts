// The region operator's actions on hosts (Nitride's own): host releases and live updates of
// host components. One entry per action; authorization and audit happen in server.ts first.
import type { HostRequest } from '../../protocol/ec2/requests/index.js';
import type { ActionTable } from './common.js';

export const HOST_ACTIONS: ActionTable<HostRequest> = {
  NitrideAddHost: {
    async run(svc, caller, req) {
      const trust = req.bootstrapFingerprint !== undefined ? { fingerprint: req.bootstrapFingerprint } : { trustOnFirstUse: true as const };
      return { action: 'NitrideAddHost', ...(await svc.hostUpdates.addHost(caller, req.address, req.port, req.token, trust)) };
    },
  },
  NitrideSetHostRelease: {
    async run(svc, caller, req) {
      return { action: 'NitrideSetHostRelease', ...(await svc.hostUpdates.setRelease(caller, req.hostId, req.policyDocument)) };
    },
  },
  NitrideUpdateHostComponent: {
    async run(svc, caller, req) {
      const target = req.bundle !== undefined ? { bundle: req.bundle } : { rollback: true as const };
      return { action: 'NitrideUpdateHostComponent', ...(await svc.hostUpdates.update(caller, req.hostId, req.component, target)) };
    },
  },
};
