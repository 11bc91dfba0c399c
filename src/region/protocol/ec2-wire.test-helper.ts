// Shared by the EC2 wire-layer tests: parse a flat parameter map, check that requests the real
// peers serialize parse into the typed union, read the code of the
// Ec2Error a call throws, capture the form body the real SDK v3 client would send, and give
// that client a canned answer to deserialize.
import assert from 'node:assert/strict';
import * as sdk from '@aws-sdk/client-ec2';
import { EC2Client } from '@aws-sdk/client-ec2';
import { botocore, type BotocorePeer } from './botocore-peer.test-helper.js';
import { parseEc2Request, type Ec2Request } from './ec2/requests/index.js';
import { Ec2Error } from './errors.js';
import { parseForm } from './query.js';

export function parse(params: Record<string, string>): Ec2Request {
  return parseEc2Request(new Map(Object.entries(params)));
}

/** The code of the Ec2Error `fn` throws (fails the test when it throws nothing or something else). */
export function code(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof Ec2Error, `expected Ec2Error, got ${String(e)}`);
    return e.code;
  }
  assert.fail('expected an Ec2Error');
}

/** Serializes a command with the real SDK v3 client and captures the form body it would send. */
export async function sdkBody(send: (c: EC2Client) => Promise<unknown>): Promise<string> {
  let captured: string | undefined;
  const client = new EC2Client({
    region: 'local-1',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
    requestHandler: {
      handle: async (req: { body?: unknown }) => {
        captured = String(req.body);
        throw new Error('captured');
      },
    } as never,
  });
  await assert.rejects(send(client), /captured/);
  client.destroy();
  assert.ok(captured !== undefined, 'the SDK sent a request body');
  return captured;
}

/** An SDK v3 client whose HTTP handler answers every request with the given response. */
export function sdkAnswering(status: number, body: string, requestId: string): EC2Client {
  return new EC2Client({
    region: 'local-1',
    endpoint: 'http://127.0.0.1:9',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    maxAttempts: 1,
    requestHandler: {
      handle: async () => {
        const { Readable } = await import('node:stream');
        return { response: { statusCode: status, reason: '', headers: { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId }, body: Readable.from([Buffer.from(body)]) } };
      },
    } as never,
  });
}

/** Serializes `operation` with SDK v3's <operation>Command and captures the form body it would send. */
export async function sdkBodyFor(operation: string, params: Record<string, unknown>): Promise<string> {
  const Command = (sdk as unknown as Record<string, new (input: unknown) => never>)[`${operation}Command`];
  assert.ok(Command, `SDK v3 has no ${operation}Command`);
  return sdkBody((c) => c.send(new Command(params)));
}

/** A request as a peer is given it (operation and botocore-cased params) and the typed request the parser must make of it. */
export interface WireCase {
  readonly operation: string;
  readonly params: Record<string, unknown>;
  readonly expected: Ec2Request;
}

/** Asserts that the botocore of one AWS CLI serializes each case into a body the parser reads as the case's request. */
export function assertBotocoreParses(cases: readonly WireCase[], peer: BotocorePeer): void {
  const bodies = botocore(cases.map((c) => ({ kind: 'serialize' as const, operation: c.operation, params: c.params })), peer) as Record<string, string>[];
  cases.forEach((c, i) => assert.deepEqual(parseEc2Request(new Map(Object.entries(bodies[i]!))), c.expected, `${c.operation} #${i}: ${JSON.stringify(bodies[i])}`));
}

/** The same for SDK v3; `expectedOf` names what SDK v3 adds to a case's request, if anything. */
export async function assertSdkParses(cases: readonly WireCase[], expectedOf: (c: WireCase) => Ec2Request = (c) => c.expected): Promise<void> {
  for (const c of cases) {
    const body = await sdkBodyFor(c.operation, c.params);
    assert.deepEqual(parseEc2Request(parseForm(body)), expectedOf(c), `${c.operation}: ${body}`);
  }
}
