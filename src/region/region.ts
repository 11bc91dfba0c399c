// The region: composes the state store, IAM, the audit trail, the certificate
// authority, the EC2 domain, the front door and the host fleet, and (for `nitride
// start`) the local host. close() stops the region and leaves guests running.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { Ec2Error, ec2NotFound } from './protocol/errors.js';
import { join } from 'node:path';
import { AuditTrail, regionTrailPath } from '../audit/trail.js';
import { Iam } from '../iam/iam.js';
import { Kms } from '../kms/kms.js';
import { RootKey, rootKeyPath } from '../iam/root-key.js';
import { createLogger } from '../lib/log.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { StateStore } from '../store/store.js';
import { RegionApi } from './api/server.js';
import { apiLimits, type ApiLimits } from './api/limits.js';
import { HostUpdateService } from './host-updates.js';
import { ImageService, type BuiltinImage } from './ec2/images.js';
import { InstanceService, type InstanceRootVolumes } from './ec2/instances.js';
import { KeyPairService, type KeyPairRecord } from './ec2/key-pairs.js';
import { LaunchTemplateService, type LaunchTemplateRecord } from './ec2/launch-templates.js';
import { launchTemplateNotFound, ownedTaggable } from './ec2/taggables.js';
import { igwNotFound, rtbNotFound } from './ec2/edge/routing.js';
import { allocationNotFound } from './ec2/edge/addresses.js';
import type { HostRecord, ImageRecord, InstanceRecord } from './ec2/model.js';
import { EbsDirectService, type EbsBlockRecord, type EbsSessionRecord } from './ebs-direct/service.js';
import { REGION_NAME } from './ec2/model.js';
import { TagService } from './ec2/tags.js';
import { EbsAccountDefaults } from './ec2/ebs/account-defaults.js';
import { EbsKeyRelease } from './ec2/ebs/key-release.js';
import type { EbsDefaultsRecord, SnapshotRecord, VolumeRecord } from './ec2/ebs/records.js';
import { SnapshotService } from './ec2/ebs/snapshots.js';
import { VolumeService } from './ec2/ebs/volumes.js';
import { VpcHostSync, loadOrCreateImdsKey } from './ec2/vpc-host-sync.js';
import { RootVolumes, type RootPlan } from './ec2/root-volumes.js';
import { EdgeService, publicPoolFromEnv, parsePublicPool } from './ec2/edge/index.js';
import type { AddressRecord, InternetGatewayRecord, PublicIpRecord, RouteTableRecord, VpcAttributesRecord } from './ec2/edge/records.js';
import { VpcService, type EniRecord, type SecurityGroupRecord, type SubnetRecord, type VpcRecord } from './ec2/vpc.js';
import { Fleet } from './fleet.js';
import { RegionAttestation, type AttestationPolicyRecord } from './attestation-gate.js';
import { enrollToken, startLocalController, stopLocalController } from './local-host.js';
import { issueApiServerCert, loadOrCreateRegionPki } from './pki.js';
import { Collection } from './repo.js';
import { createClientCredential } from '../controller/client.js';
import { ROLE_OPERATOR } from '../controller/protocol/commands.js';
import { hostPaths } from '../controller/host-state.js';
import { fingerprint, writeSecretFile } from '../lib/pki/pki.js';
import type { RegionPki } from './pki.js';
import { Organization } from '../organizations/organization.js';
import { writeAwsProfile } from '../lib/aws-profile.js';

const log = createLogger('region');

export interface RegionOptions {
  readonly home: string;
  readonly port: number;
  /** Run and enrol a controller on this machine (npm start). */
  readonly localHost: boolean;
  /** The public IPv4 pool (first-last or a CIDR); default NITRIDE_PUBLIC_POOL, else 198.51.100.16-198.51.100.254. */
  readonly publicPool?: string;
  /** The built-in image to register as nitride-minimal. */
  readonly builtinImage?: BuiltinImage;
  readonly reconcileIntervalMs?: number;
  /** Stop the local controller on close (default true). */
  readonly stopLocalHostOnClose?: boolean;
  /** The front door's limits over the defaults and NITRIDE_API_* (docs/API-PROTOCOL.md, "Limits"). */
  readonly apiLimits?: Partial<ApiLimits>;
  /** The API's listen address (default 127.0.0.1). Plain HTTP is refused off loopback. */
  readonly apiHost?: string;
  /**
   * Serve the API over HTTPS: with the operator's certificate and key files (and the CA file
   * clients should trust), or, when those are absent, a server certificate the region CA issues
   * for localhost, 127.0.0.1, ::1 and apiHost.
   */
  readonly tls?: { readonly certFile?: string; readonly keyFile?: string; readonly caFile?: string };
  /**
   * Tests only: the clock session credentials (STS) are issued and expire by, so a test can move
   * it past a session's expiry (the shortest STS allows is 15 minutes). Default: the real clock.
   */
  readonly sessionClock?: () => Date;
}

export interface Credentials {
  readonly accountId: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export class Region {
  private constructor(
    readonly home: string,
    readonly port: number,
    readonly endpoint: string,
    /** The operator account's root key (in memory only: not written to aws/credentials). */
    readonly credentials: Credentials,
    /** The operator account's IAM user `admin` (allow everything): the key the profile `nitride` holds. */
    readonly adminCredentials: Credentials,
    readonly store: StateStore,
    readonly iam: Iam,
    readonly trail: AuditTrail,
    readonly api: RegionApi,
    readonly fleet: Fleet,
    readonly instances: InstanceService,
    readonly images: ImageService,
    readonly kms: Kms,
    /** EBS volumes, snapshots and the account's encryption defaults. */
    readonly volumes: VolumeService,
    /** Carries VPC state to the hosts. */
    readonly vpcSync: VpcHostSync,
    /** The EBS direct APIs: the same snapshots, written and read block by block. */
    readonly ebsDirect: EbsDirectService,
    private readonly attestation: RegionAttestation,
    private readonly pki: RegionPki,
    private readonly opts: RegionOptions,
  ) {}

  static async open(opts: RegionOptions): Promise<Region> {
    const dir = join(opts.home, 'region');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const store = await SqliteStore.open(join(dir, 'state.db'));
    const iam = Iam.open(store, { home: opts.home, ...(opts.sessionClock ? { now: opts.sessionClock } : {}) });
    const boot = await iam.bootstrap();
    const admin = await iam.ensureOperatorAdmin(boot.accountId);
    const trail = new AuditTrail(regionTrailPath(opts.home));
    const pki = await loadOrCreateRegionPki(opts.home);

    const instancesRepo = new Collection<InstanceRecord>(store, 'ec2/instances/');
    const imagesRepo = new Collection<ImageRecord>(store, 'ec2/images/');
    const hostsRepo = new Collection<HostRecord>(store, 'region/hosts/');
    await Promise.all([instancesRepo.load(), imagesRepo.load(), hostsRepo.load()]);

    // Attestation gates placement and key release (src/region/attestation-gate.ts). It asks hosts
    // through the fleet, and the fleet consults it: it reaches the fleet through this
    // forwarder, used only after both exist.
    const policiesRepo = new Collection<AttestationPolicyRecord>(store, 'region/attestation/');
    await policiesRepo.load();
    const attestation: RegionAttestation = new RegionAttestation({
      fleet: { send: (hostId, type, params, o) => fleet.send(hostId, type, params, o) },
      policies: policiesRepo,
      caPem: pki.ca.certPem,
      trail,
      statusFile: join(dir, 'host-attestation.json'),
    });
    const fleet: Fleet = new Fleet(hostsRepo, pki, attestation, trail);
    const vpcRepos = {
      vpcs: new Collection<VpcRecord>(store, 'ec2/vpcs/'),
      subnets: new Collection<SubnetRecord>(store, 'ec2/subnets/'),
      groups: new Collection<SecurityGroupRecord>(store, 'ec2/security-groups/'),
      enis: new Collection<EniRecord>(store, 'ec2/enis/'),
    };
    const edgeRepos = {
      igws: new Collection<InternetGatewayRecord>(store, 'ec2/internet-gateways/'),
      routeTables: new Collection<RouteTableRecord>(store, 'ec2/route-tables/'),
      addresses: new Collection<AddressRecord>(store, 'ec2/addresses/'),
      publicIps: new Collection<PublicIpRecord>(store, 'ec2/public-ips/'),
      vpcAttributes: new Collection<VpcAttributesRecord>(store, 'ec2/vpc-attributes/'),
    };
    await Promise.all([...Object.values(vpcRepos), ...Object.values(edgeRepos)].map((c) => c.load()));
    // The VPC domain tells the hosts of its changes through VpcHostSync, which reads the VPC
    // domain and its edge: the callbacks reach vpcSync and edge only after all exist.
    const vpc: VpcService = new VpcService(vpcRepos, instancesRepo, (c) => vpcSync.onChange(c), {
      vpcCreated: (v) => edge.routing.vpcCreated(v),
      vpcDependents: (id) => edge.routing.vpcDependents(id),
      vpcDeleted: (id) => edge.routing.vpcDeleted(id),
      subnetDeleted: (id) => edge.routing.subnetDeleted(id),
      publicAddress: (e) => edge.addresses.publicAddress(e),
    });
    const edge: EdgeService = new EdgeService(edgeRepos, vpc, instancesRepo, opts.publicPool !== undefined ? parsePublicPool(opts.publicPool) : publicPoolFromEnv(), (c) => vpcSync.onChange(c));
    const vpcSync = new VpcHostSync(vpc, instancesRepo, fleet, loadOrCreateImdsKey(opts.home), edge);
    // Root volumes of EBS-backed images are made by the EBS services, which read the
    // instances: the launch reaches rootVolumes through these forwarders only after both exist.
    const instances: InstanceService = new InstanceService(instancesRepo, imagesRepo, fleet, {
      rootVolumes: {
        plan: (c, image, mappings) => rootVolumes.plan(c, image, mappings),
        create: (c, plan, ids) => rootVolumes.create(c, plan, ids),
        discard: (c, made) => rootVolumes.discard(c, made),
        attach: (records, plan) => rootVolumes.attach(records, plan),
        startParams: (r, hostId, cmdId) => rootVolumes.startParams(r, hostId, cmdId),
        storeHostOf: (c, r) => rootVolumes.storeHostOf(c, r),
        requireRootVolume: (r) => rootVolumes.requireRootVolume(r),
      } satisfies InstanceRootVolumes<RootPlan>,
      sealer: RootKey.loadOrCreate(rootKeyPath(opts.home)), // NitroTPM vTPM keys, sealed in the store
      network: {
        plan: async (c, r, n) => {
          const p = await vpc.plan(c, r, n);
          if (p.associatePublicIp) edge.addresses.checkLaunch(n);
          return p;
        },
        attach: async (recs, p) => void (await vpc.attach(recs, p)),
        beforeStart: async (r) => {
          await edge.serial(() => edge.addresses.started(r.id));
          return vpcSync.beforeStart(r);
        },
        stopped: async (r) => {
          await edge.serial(() => edge.addresses.stopped(r.id));
          // The card of the host it ran on drops the ENI, and with it the public address it
          // answered for: the instance may start on another host, whose card then answers alone
          // (two cards answering ARP for one Elastic IP split its traffic). The next start puts it again.
          const eni = vpc.eniOfInstance(r.id);
          await vpcSync.released(r, eni?.id, eni?.vpcId);
        },
        released: async (r) => {
          const eni = vpc.eniOfInstance(r.id);
          if (eni) await edge.serial(() => edge.addresses.eniReleased(eni.id));
          await vpc.release(r.id);
          await vpcSync.released(r, eni?.id, eni?.vpcId);
        },
      },
    });
    const images = new ImageService(imagesRepo, undefined, { operatorAccountId: boot.accountId });
    const tags = new TagService();
    tags.register({
      resourceType: 'instance',
      idPrefix: 'i-',
      notFound: (id) => new Ec2Error('InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`, { context: { instanceIds: [id] } }),
      find: (c, id) => {
        const r = instancesRepo.get(id);
        return r && r.accountId === c.accountId && instances.visible(r) ? r : undefined;
      },
      canTag: () => true,
      list: (c) => instancesRepo.all().filter((r) => r.accountId === c.accountId && instances.visible(r)),
      setTags: (id, t) => instances.setTags(id, t),
    });
    tags.register({
      resourceType: 'image',
      idPrefix: 'ami-',
      notFound: (id) => new Ec2Error('InvalidAMIID.NotFound', `The image id '[${id}]' does not exist`, { context: { imageId: id } }),
      find: (c, id) => {
        const r = imagesRepo.get(id);
        return r && images.visibleTo(c, r) ? r : undefined;
      },
      canTag: (c, id) => imagesRepo.get(id)?.ownerId === c.accountId,
      list: (c) => imagesRepo.all().filter((r) => r.ownerId === c.accountId),
      setTags: (id, t) => images.setTags(id, t),
    });
    if (opts.builtinImage) await images.ensureBuiltin(opts.builtinImage);

    let port = opts.port;
    const kms = Kms.open(store, iam, { home: opts.home });
    const volumesRepo = new Collection<VolumeRecord>(store, 'ec2/volumes/');
    const ebsDefaultsRepo = new Collection<EbsDefaultsRecord>(store, 'ec2/ebs-defaults/');
    const snapshotsRepo = new Collection<SnapshotRecord>(store, 'ec2/snapshots/');
    await Promise.all([volumesRepo.load(), ebsDefaultsRepo.load(), snapshotsRepo.load()]);
    const keys = new EbsKeyRelease(fleet, kms, attestation); // data keys only to the card a host's attestation binds
    const ebsDefaults = new EbsAccountDefaults(ebsDefaultsRepo, keys);
    const volumes = new VolumeService(volumesRepo, snapshotsRepo, instances, fleet, keys, ebsDefaults);
    const snapshots = new SnapshotService(snapshotsRepo, volumes, fleet, keys, ebsDefaults);
    volumes.useReencryption(
      (c, snapshotId, kmsKeyId) => snapshots.copy(c, { sourceSnapshotId: snapshotId, sourceRegion: 'local-1', description: `Nitride volume source (re-encrypted ${snapshotId})`, encrypted: true, kmsKeyId }, {}),
      (c, snapshotId) => snapshots.delete(c, snapshotId),
    );
    const rootVolumes: RootVolumes = new RootVolumes({ volumes, snapshots, defaults: ebsDefaults }); // EBS-backed images: root volumes
    tags.register({
      resourceType: 'snapshot',
      idPrefix: 'snap-',
      notFound: (id) => ec2NotFound('snapshot', id),
      find: (c, id) => snapshots.find(c, id),
      canTag: () => true,
      list: (c) => snapshots.list(c),
      setTags: (id, t) => snapshots.setTags(id, t),
    });
    tags.register({
      resourceType: 'volume',
      idPrefix: 'vol-',
      notFound: (id) => ec2NotFound('volume', id),
      find: (c, id) => volumes.find(c, id),
      canTag: () => true,
      list: (c) => volumes.list(c),
      setTags: (id, t) => volumes.setTags(id, t),
    });
    const keyPairsRepo = new Collection<KeyPairRecord>(store, 'ec2/key-pairs/');
    await keyPairsRepo.load();
    const keyPairs = new KeyPairService(keyPairsRepo);
    tags.register({
      resourceType: 'key-pair',
      idPrefix: 'key-',
      notFound: (id) => new Ec2Error('InvalidKeyPair.NotFound', `The key pair ID '${id}' does not exist`, { context: { keyPairId: id } }),
      find: (c, id) => keyPairs.find(c, id),
      canTag: () => true,
      list: (c) => keyPairs.list(c),
      setTags: (id, t) => keyPairs.setTags(id, t),
    });
    const launchTemplatesRepo = new Collection<LaunchTemplateRecord>(store, 'ec2/launch-templates/');
    await launchTemplatesRepo.load();
    const launchTemplates = new LaunchTemplateService(launchTemplatesRepo);
    // resource types an account owns in one collection: one line each (src/region/ec2/taggables.ts)
    tags.register(ownedTaggable('vpc', 'vpc-', 'vpc', vpcRepos.vpcs));
    tags.register(ownedTaggable('subnet', 'subnet-', 'subnet', vpcRepos.subnets));
    tags.register(ownedTaggable('security-group', 'sg-', 'security-group', vpcRepos.groups));
    tags.register(ownedTaggable('network-interface', 'eni-', 'network-interface', vpcRepos.enis));
    tags.register(ownedTaggable('launch-template', 'lt-', launchTemplateNotFound, launchTemplatesRepo));
    tags.register(ownedTaggable('internet-gateway', 'igw-', igwNotFound, edgeRepos.igws));
    tags.register(ownedTaggable('route-table', 'rtb-', rtbNotFound, edgeRepos.routeTables));
    tags.register(ownedTaggable('elastic-ip', 'eipalloc-', allocationNotFound, edgeRepos.addresses));
    // EBS direct APIs (src/region/ebs-direct/): the same snapshots, written block by block
    const ebsBlocksRepo = new Collection<EbsBlockRecord>(store, 'ebs/blocks/');
    const ebsSessionsRepo = new Collection<EbsSessionRecord>(store, 'ebs/sessions/');
    await Promise.all([ebsBlocksRepo.load(), ebsSessionsRepo.load()]);
    const ebsDirect = new EbsDirectService({ snapshots: snapshotsRepo, blocks: ebsBlocksRepo, sessions: ebsSessionsRepo }, keys, ebsDefaults, fleet);
    const hostUpdates = new HostUpdateService({ fleet, attestation, operatorAccountId: boot.accountId });
    const organization = new Organization(store, iam, boot.accountId, REGION_NAME); // the operator's accounts (tenants)
    const apiHost = opts.apiHost ?? '127.0.0.1';
    const tls = await apiTls(opts, pki, apiHost).catch(async (e: unknown) => {
      await trail.close();
      await store.close();
      throw e;
    });
    const urlHost = apiHost === '0.0.0.0' || apiHost === '::' ? '127.0.0.1' : apiHost.includes(':') ? `[${apiHost}]` : apiHost;
    const api = new RegionApi({ iam, trail, kms, ebsDirect, organization, limits: apiLimits(opts.apiLimits), ...(tls ? { tls } : {}), ec2: { instances, images, tags, vpc, edge, volumes, snapshots, ebsDefaults, keyPairs, launchTemplates, hostUpdates, endpoint: () => `${urlHost}:${port}` } });
    try {
      port = await api.listen(opts.port, apiHost);
    } catch (e) {
      await api.close().catch(() => undefined);
      await trail.close();
      await store.close();
      throw e;
    }
    const endpoint = `${tls ? 'https' : 'http'}://${urlHost}:${port}/`;
    const region = new Region(
      opts.home,
      port,
      endpoint,
      { accountId: boot.accountId, accessKeyId: boot.accessKeyId, secretAccessKey: boot.secretAccessKey },
      { accountId: boot.accountId, ...admin },
      store,
      iam,
      trail,
      api,
      fleet,
      instances,
      images,
      kms,
      volumes,
      vpcSync,
      ebsDirect,
      attestation,
      pki,
      opts,
    );
    region.writeAwsConfig();
    if (opts.localHost) await region.attachLocalHost();
    fleet.startReconciling(instances, opts.reconcileIntervalMs ?? 2000);
    volumes.startWatching(opts.reconcileIntervalMs ?? 2000);
    ebsDirect.startSweeping();
    vpcSync.startRejoin();
    log.info('region up', { endpoint, hosts: fleet.hosts().length });
    return region;
  }

  /** Starts (or finds) the local controller and enrols it when it is new. */
  async attachLocalHost(): Promise<void> {
    const { runtime } = await startLocalController(this.home);
    // The local controller runs from this region's own tree: it must attest that tree.
    await this.attestation.expectLocalDevTree(runtime.hostId);
    const known = this.fleet.hosts().find((h) => h.id === runtime.hostId);
    if (runtime.enrolled && known) {
      await this.fleet.relocate(known.id, runtime.address, runtime.port);
      await this.fleet.refreshCapacity(known.id);
      return;
    }
    const token = enrollToken(this.home);
    if (!token) throw new Error(`The local host ${runtime.hostId} is enrolled elsewhere and has no enrolment token.`);
    // The local controller shares this NITRIDE_HOME: its bootstrap certificate is read from disk
    // and pinned, so even the local enrolment is not trust on first use.
    const bootstrap = fingerprint(readFileSync(hostPaths(this.home).bootstrapCert, 'utf8'));
    await this.fleet.enroll(runtime.address, runtime.port, token, { fingerprint: bootstrap });
    // A read-only credential for the local operator's `nitride host status`.
    const op = await createClientCredential(this.pki.ca, { commonName: 'local-operator', role: ROLE_OPERATOR });
    const dir = hostPaths(this.home).operatorDir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeSecretFile(join(dir, 'key.pem'), op.keyPem);
    writeSecretFile(join(dir, 'cert.pem'), op.certPem);
    writeSecretFile(join(dir, 'ca.pem'), this.pki.ca.certPem);
  }

  /**
   * $NITRIDE_HOME/aws/{credentials,config} with the profile `nitride` (the key of the operator
   * account's IAM user `admin`; the root's secret is never written there);
   * the other profiles there (accounts made by `nitride account create`) are kept, with their
   * endpoint_url moved to this start's endpoint.
   */
  writeAwsConfig(): void {
    writeAwsProfile(this.home, 'nitride', { accessKeyId: this.adminCredentials.accessKeyId, secretAccessKey: this.adminCredentials.secretAccessKey }, { region: REGION_NAME, endpointUrl: this.endpoint, ...(this.caBundle ? { caBundle: this.caBundle } : {}) });
  }

  /** The CA certificate file clients trust for the API's HTTPS (written to aws/ beside the profile), or undefined for plain HTTP. */
  get caBundle(): string | undefined {
    return this.api.tls && existsSync(caBundlePath(this.home)) ? caBundlePath(this.home) : undefined;
  }

  async close(): Promise<void> {
    this.vpcSync.close();
    this.instances.close();
    await this.volumes.close();
    await this.ebsDirect.close();
    await this.fleet.close();
    await this.instances.idle();
    await this.api.close();
    await this.trail.close();
    await this.store.close();
    if (this.opts.localHost && this.opts.stopLocalHostOnClose !== false) await stopLocalController(this.home);
  }
}

/** The CA file the written profile's ca_bundle names. */
export const caBundlePath = (home: string): string => join(home, 'aws', 'nitride-ca.pem');

/** The API's certificate and key when opts.tls is set (see RegionOptions.tls); writes the CA clients trust to caBundlePath. */
async function apiTls(opts: RegionOptions, pki: RegionPki, host: string): Promise<{ certPem: string; keyPem: string } | undefined> {
  if (!opts.tls) return undefined;
  const { certFile, keyFile, caFile } = opts.tls;
  if ((certFile === undefined) !== (keyFile === undefined)) throw new Error('TLS for the API needs both a certificate file and a key file, or neither (the region CA then issues one).');
  const own = certFile !== undefined && keyFile !== undefined;
  const pair = own ? { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') } : await issueApiServerCert(opts.home, pki, host);
  const caPem = own ? (caFile !== undefined ? readFileSync(caFile, 'utf8') : undefined) : pki.ca.certPem;
  if (caPem !== undefined) {
    mkdirSync(join(opts.home, 'aws'), { recursive: true, mode: 0o700 });
    writeSecretFile(caBundlePath(opts.home), caPem);
  } else rmSync(caBundlePath(opts.home), { force: true });
  return pair;
}
