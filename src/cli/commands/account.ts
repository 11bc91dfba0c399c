// `nitride account …`: the region operator's tenants. Each subcommand is one signed
// Organizations call to the region's API (SigV4, the operator's profile `nitride` from
// $NITRIDE_HOME/aws, audited by the region), so it works wherever that profile does:
//   create NAME [--email E] [--profile P]  CreateAccount; writes the new account's root key as
//                                          the AWS CLI profile P (default NAME) and prints it once
//   list                                   ListAccounts (every page)
//   describe ID                            DescribeAccount
//   close ID                               CloseAccount: the account's keys stop at once; nothing
//                                          it owns is deleted
// --as PROFILE signs with another profile of that home (any account but the operator's is
// refused with AccessDeniedException); --json prints the API's answer.
import { regionRequest } from '../../lib/region-request.js';
import { signRequest } from '../../iam/sigv4/index.js';
import { isProfileName, readAwsProfile, writeAwsProfile, type AwsProfile } from '../../lib/aws-profile.js';
import { describeError } from '../../lib/errors.js';
import { nitrideHome } from '../../lib/paths.js';
import { ORGANIZATIONS_CONTENT_TYPE, ORGANIZATIONS_TARGET_PREFIX } from '../../organizations/api.js';
import { REGION_NAME } from '../../region/ec2/model.js';

export const summary = "the operator's accounts (tenants): create NAME, list, describe ID, close ID";

const USAGE = `usage: nitride account <subcommand> [--home DIR] [--as PROFILE] [--json]
  create NAME [--email E] [--profile P]  a new account; its root key becomes the AWS CLI profile P (default NAME), printed once
  list                                   every account with its state
  describe ID                            one account
  close ID                               close an account: its keys stop at once, nothing it owns is deleted
`;

class CallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

/** One signed Organizations call; the parsed answer, or CallError with the service's code. */
async function call(api: AwsProfile & { endpointUrl: string }, operation: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  const body = JSON.stringify(input);
  const url = new URL(api.endpointUrl);
  const signed = signRequest(
    { method: 'POST', path: '/', query: '', headers: { host: url.host, 'content-type': ORGANIZATIONS_CONTENT_TYPE, 'x-amz-target': `${ORGANIZATIONS_TARGET_PREFIX}${operation}` }, body },
    { accessKeyId: api.accessKeyId, secretAccessKey: api.secretAccessKey },
    { region: api.region ?? REGION_NAME, service: 'organizations' },
  );
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = regionRequest(url, api.caBundle, { method: 'POST', path: '/', headers: { ...signed.headers, 'content-length': String(Buffer.byteLength(body)) }, timeout: 60_000 }, (r) => {
      let t = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => (t += d));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, text: t }));
      r.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer from the region within 60 s')));
    req.on('error', reject);
    req.end(body);
  });
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new CallError(`HTTP${status}`, text.slice(0, 200));
  }
  if (status !== 200) throw new CallError(String(v['__type'] ?? `HTTP${status}`), String(v['Message'] ?? v['message'] ?? ''));
  return v;
}

interface Options {
  home: string;
  as: string;
  json: boolean;
  email?: string;
  profile?: string;
  args: string[];
}

function options(argv: readonly string[]): Options {
  const o: Options = { home: nitrideHome(), as: 'nitride', json: false, args: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const takes = a === '--home' || a === '--as' || a === '--email' || a === '--profile';
    if (takes && argv[i + 1] === undefined) throw new Error(`${a} needs a value`);
    if (a === '--home') o.home = argv[++i]!;
    else if (a === '--as') o.as = argv[++i]!;
    else if (a === '--email') o.email = argv[++i]!;
    else if (a === '--profile') o.profile = argv[++i]!;
    else if (a === '--json') o.json = true;
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else o.args.push(a);
  }
  return o;
}

const when = (epochSeconds: unknown): string => (typeof epochSeconds === 'number' ? new Date(epochSeconds * 1000).toISOString() : '');

function accountLine(a: Record<string, unknown>): string {
  return `${String(a['Id'])}  ${String(a['State'] ?? a['Status']).padEnd(6)}  ${when(a['JoinedTimestamp'])}  ${String(a['Name'])} <${String(a['Email'])}>`;
}

export async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  let o: Options;
  try {
    o = options(rest);
  } catch (e) {
    process.stderr.write(`nitride account: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const need = sub === 'list' ? 0 : 1;
  if (!['create', 'list', 'describe', 'close'].includes(sub) || o.args.length !== need) {
    process.stderr.write(`nitride account: ${['create', 'list', 'describe', 'close'].includes(sub) ? `'${sub}' takes ${need} argument(s)` : `unknown subcommand '${sub}'`}\n${USAGE}`);
    return 2;
  }
  const creds = readAwsProfile(o.home, o.as);
  if (creds?.endpointUrl === undefined) {
    process.stderr.write(`nitride account: no profile '${o.as}' with an endpoint in ${o.home}/aws; start the region (npm start) with this NITRIDE_HOME first\n`);
    return 1;
  }
  const api = { ...creds, endpointUrl: creds.endpointUrl };
  const out = (v: unknown, text: string): void => void process.stdout.write(o.json ? `${JSON.stringify(v)}\n` : `${text}\n`);
  try {
    switch (sub) {
      case 'create': {
        const name = o.args[0]!;
        const profile = o.profile ?? name;
        // Checked before the account exists, so a bad profile name creates nothing.
        if (!isProfileName(profile)) {
          process.stderr.write(`nitride account: '${profile}' cannot be a profile name; give --profile P (letters, digits, '_', '.', '-')\n`);
          return 2;
        }
        if (readAwsProfile(o.home, profile) !== undefined) {
          process.stderr.write(`nitride account: the profile '${profile}' exists in ${o.home}/aws; give another with --profile P\n`);
          return 2;
        }
        const email = o.email ?? `${profile.toLowerCase()}@accounts.nitride.invalid`;
        const r = await call(api, 'CreateAccount', { AccountName: name, Email: email });
        const status = (r['CreateAccountStatus'] ?? {}) as Record<string, unknown>;
        const key = r['NitrideRootAccessKey'] as { AccessKeyId?: string; SecretAccessKey?: string } | undefined;
        if (status['State'] !== 'SUCCEEDED' || key?.AccessKeyId === undefined || key.SecretAccessKey === undefined) {
          process.stderr.write(`nitride account: CreateAccount ${String(status['State'])}${status['FailureReason'] !== undefined ? ` (${String(status['FailureReason'])})` : ''}\n`);
          return 1;
        }
        writeAwsProfile(o.home, profile, { accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey }, { region: api.region ?? REGION_NAME, endpointUrl: api.endpointUrl, ...(api.caBundle !== undefined ? { caBundle: api.caBundle } : {}) });
        out(
          { accountId: status['AccountId'], accountName: name, email, createAccountRequestId: status['Id'], profile, accessKeyId: key.AccessKeyId, secretAccessKey: key.SecretAccessKey },
          [
            `account ${String(status['AccountId'])} (${name}) created; its root credentials, shown once:`,
            `  aws_access_key_id     = ${key.AccessKeyId}`,
            `  aws_secret_access_key = ${key.SecretAccessKey}`,
            `written as the profile '${profile}' in ${o.home}/aws: aws --profile ${profile} ec2 describe-instances`,
          ].join('\n'),
        );
        return 0;
      }
      case 'list': {
        const accounts: Record<string, unknown>[] = [];
        let token: string | undefined;
        do {
          const r = await call(api, 'ListAccounts', token === undefined ? {} : { NextToken: token });
          accounts.push(...((r['Accounts'] as Record<string, unknown>[] | undefined) ?? []));
          token = r['NextToken'] as string | undefined;
        } while (token !== undefined);
        out({ accounts }, accounts.map(accountLine).join('\n'));
        return 0;
      }
      case 'describe': {
        const r = await call(api, 'DescribeAccount', { AccountId: o.args[0] });
        out(r, accountLine((r['Account'] ?? {}) as Record<string, unknown>));
        return 0;
      }
      case 'close': {
        await call(api, 'CloseAccount', { AccountId: o.args[0] });
        out({ accountId: o.args[0], state: 'CLOSED' }, `account ${o.args[0]!} closed: its access keys are refused from now on; nothing it owns was deleted`);
        return 0;
      }
    }
    return 2;
  } catch (e) {
    process.stderr.write(`nitride account ${sub}: ${e instanceof CallError ? e.message : describeError(e)}\n`);
    return 1;
  }
}
