import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IamError } from './errors.js';
import { actionMatches, arnMatches, authorize, parsePolicy, splitArn, type AuthorizeRequest, type AuthzPrincipal, type ConditionContext } from './policy.js';
import { seededRandom } from '../lib/testing/seeded-rng.js';

const ACCT = '123456789012';
const OTHER = '210987654321';
const alice: AuthzPrincipal = { accountId: ACCT, userName: 'alice', userId: 'AIDAALICE' };
const root: AuthzPrincipal = { accountId: ACCT, userName: 'root' };
const inst = (id: string, acct = ACCT): string => `arn:aws:ec2:local-1:${acct}:instance/${id}`;

function doc(statements: unknown, version = '2012-10-17'): string {
  return JSON.stringify({ Version: version, Statement: statements });
}

function decide(policies: string[], action: string, resources: AuthorizeRequest['resources'] = [], context: ConditionContext = {}, principal: AuthzPrincipal = alice): ReturnType<typeof authorize> {
  return authorize({ principal, action, resources, context, policies: policies.map((p, i) => ({ name: `p${i}`, document: parsePolicy(p) })), now: new Date('2026-06-01T12:00:00Z') });
}

const allow = (over: Record<string, unknown> = {}): string => doc({ Effect: 'Allow', Action: '*', Resource: '*', ...over });
const deny = (over: Record<string, unknown> = {}): string => doc({ Effect: 'Deny', Action: '*', Resource: '*', ...over });

function malformed(text: string, re: RegExp): void {
  assert.throws(
    () => parsePolicy(text),
    (e: unknown) => e instanceof IamError && e.code === 'MalformedPolicyDocument' && re.test(e.message),
  );
}

describe('parsePolicy', () => {
  it('accepts a statement object or array, string or array fields', () => {
    const p = parsePolicy(doc([{ Sid: 'A1', Effect: 'Allow', Action: ['ec2:Describe*', 'ec2:RunInstances'], Resource: '*' }, { Effect: 'Deny', NotAction: 'iam:*', NotResource: 'arn:aws:ec2:*:*:instance/*' }]));
    assert.equal(p.version, '2012-10-17');
    assert.equal(p.statements.length, 2);
    assert.deepEqual(p.statements[0]?.action, ['ec2:Describe*', 'ec2:RunInstances']);
    assert.equal(p.statements[0]?.sid, 'A1');
    assert.deepEqual(p.statements[1]?.notResource, ['arn:aws:ec2:*:*:instance/*']);
    assert.equal(parsePolicy(JSON.stringify({ Version: '2012-10-17', Statement: { Effect: 'Allow', Action: 'ec2:*', Resource: '*' } })).statements.length, 1);
    assert.equal(parsePolicy(JSON.stringify({ Statement: { Effect: 'Allow', Action: 'ec2:*', Resource: '*' } })).version, '2008-10-17');
  });

  it('rejects malformed documents with MalformedPolicyDocument', () => {
    malformed('{not json', /Syntax errors/);
    malformed('[]', /JSON object/);
    malformed(JSON.stringify({ Version: '2020-01-01', Statement: [] }), /version/);
    malformed(JSON.stringify({ Version: '2012-10-17' }), /Statement/);
    malformed(doc([]), /Statement/);
    malformed(doc({ Action: '*', Resource: '*' }), /Effect/);
    malformed(doc({ Effect: 'allow', Action: '*', Resource: '*' }), /Invalid effect/);
    malformed(doc({ Effect: 'Allow', Resource: '*' }), /must contain actions/);
    malformed(doc({ Effect: 'Allow', Action: '*' }), /must contain resources/);
    malformed(doc({ Effect: 'Allow', Action: '*', NotAction: 'ec2:*', Resource: '*' }), /both Action and NotAction/);
    malformed(doc({ Effect: 'Allow', Action: 'RunInstances', Resource: '*' }), /prefaced by a vendor/);
    malformed(doc({ Effect: 'Allow', Action: [], Resource: '*' }), /non-empty/);
    malformed(doc({ Effect: 'Allow', Action: '*', Resource: 'i-1234' }), /ARN format/);
    malformed(doc({ Effect: 'Allow', Action: '*', Resource: 'arn:aws:ec2' }), /ARN format/);
    malformed(doc({ Effect: 'Allow', Action: '*', Resource: '*', Principal: '*' }), /principal/);
    malformed(doc({ Effect: 'Allow', Action: '*', Resource: '*', Extra: 1 }), /unknown field Extra/);
    malformed(doc({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringEqualz: { 'aws:username': 'a' } } }), /Invalid Condition type/);
    malformed(doc({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { NumericLessThan: { 'ec2:x': 'abc' } } }), /invalid value/);
    malformed(doc({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/33' } } }), /invalid value/);
    malformed(doc({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { DateLessThan: { 'aws:CurrentTime': 'tomorrow' } } }), /invalid value/);
    malformed(doc({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': 'yes' } } }), /invalid value/);
    malformed(doc({ Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringEquals: { nokey: 'a' } } }), /prefaced by a vendor/);
    malformed(doc({ Effect: 'Allow', Action: '*', Resource: '*', Condition: 'x' }), /Condition must be an object/);
    malformed(doc([{ Sid: 'S', Effect: 'Allow', Action: '*', Resource: '*' }, { Sid: 'S', Effect: 'Deny', Action: '*', Resource: '*' }]), /unique/);
    malformed(doc({ Sid: 'has space', Effect: 'Allow', Action: '*', Resource: '*' }), /alpha-numeric/);
  });
});

describe('matching', () => {
  it('matches actions case-insensitively with * and ?', () => {
    assert.ok(actionMatches('ec2:RunInstances', 'ec2:runinstances'));
    assert.ok(actionMatches('EC2:Run*', 'ec2:RunInstances'));
    assert.ok(actionMatches('ec2:*Instances', 'ec2:TerminateInstances'));
    assert.ok(actionMatches('ec2:?tartInstances', 'ec2:StartInstances'));
    assert.ok(!actionMatches('ec2:?tartInstances', 'ec2:RestartInstances'));
    assert.ok(!actionMatches('ec2:Run*', 'iam:RunInstances'));
    assert.ok(actionMatches('*', 'kms:Decrypt'));
    assert.ok(!actionMatches('ec2:Describe', 'ec2:DescribeInstances'));
  });

  it('matches wildcards exactly and in bounded time', () => {
    const m = (p: string, v: string): boolean => arnMatches(`arn:aws:ec2:r:1:${p}`, `arn:aws:ec2:r:1:${v}`);
    assert.ok(m('ab*', 'ab'));
    assert.ok(m('*b', 'aab'));
    assert.ok(m('a?c', 'abc'));
    assert.ok(!m('a?c', 'ac'));
    assert.ok(m('a*b*c', 'axxbyybc'));
    assert.ok(!m('a*b', 'a'));
    assert.ok(!m('a*b', 'ab/c'));
    assert.ok(m('**', ''));
    assert.ok(m('x/*/y', 'x/a/b/y'), 'a * spans slashes inside the resource part');
    assert.ok(m('aa*aa', 'aaa'.repeat(1) + 'a'));
    assert.ok(!m('aa*aa', 'aaa'));
    const t0 = process.hrtime.bigint();
    assert.ok(!m(`${'a*'.repeat(40)}b`, 'a'.repeat(5000)));
    assert.ok(!actionMatches(`ec2:${'*a'.repeat(60)}*b`, `ec2:${'a'.repeat(2000)}`));
    assert.ok(Number(process.hrtime.bigint() - t0) / 1e6 < 2000, 'no catastrophic backtracking');
  });

  it('matches ARNs part by part', () => {
    assert.deepEqual(splitArn('arn:aws:iam::123:user/${aws:username}'), ['arn', 'aws', 'iam', '', '123', 'user/${aws:username}']);
    assert.deepEqual(splitArn('arn:aws:ec2:r:1:a:b:c'), ['arn', 'aws', 'ec2', 'r', '1', 'a:b:c']);
    assert.ok(arnMatches('arn:aws:ec2:*:*:instance/*', inst('i-1')));
    assert.ok(arnMatches(`arn:aws:ec2:local-1:${ACCT}:instance/i-1`, inst('i-1')));
    assert.ok(!arnMatches(`arn:aws:ec2:local-1:${ACCT}:instance/i-1`, inst('i-12')));
    assert.ok(arnMatches(`arn:aws:ec2:local-1:${ACCT}:instance/i-?`, inst('i-1')));
    assert.ok(!arnMatches('arn:aws:ec2:*:*:volume/*', inst('i-1')));
    assert.ok(!arnMatches('arn:aws:ec2:local-*:*:instance/*', 'arn:aws:ec2:eu-west-1:1:instance/i-1'));
    assert.ok(!arnMatches('arn:aws:ec2:*:*:Instance/*', inst('i-1')), 'ARNs are case-sensitive');
    assert.ok(arnMatches('arn:aws:iam::*:user/*', `arn:aws:iam::${ACCT}:user/bob`));
    assert.ok(!arnMatches('arn:aws:ec2:*:*:instance/*', '*'));
    assert.ok(arnMatches('*', '*'));
    // A wildcard in one part does not reach across a colon into the next part.
    assert.ok(!arnMatches('arn:aws:ec2:l*:*:instance/i-1', 'arn:aws:ec2:local-1:123:extra:instance/i-1'));
  });
});

describe('authorize', () => {
  it('denies with no policies (implicit deny)', () => {
    const r = decide([], 'ec2:DescribeInstances');
    assert.equal(r.decision, 'deny');
    assert.equal(r.reason, 'implicit-deny');
  });

  it('allows by a matching statement and names it', () => {
    const r = decide([doc({ Sid: 'Describe', Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' })], 'ec2:DescribeInstances');
    assert.deepEqual(r.statement, { policyName: 'p0', index: 0, sid: 'Describe' });
    assert.equal(r.decision, 'allow');
    assert.equal(r.reason, 'allowed');
    assert.equal(decide([doc({ Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' })], 'ec2:RunInstances').reason, 'implicit-deny');
  });

  it('lets an explicit Deny beat an Allow, in any policy and order', () => {
    const a = allow();
    const d = doc({ Sid: 'NoTerminate', Effect: 'Deny', Action: 'ec2:TerminateInstances', Resource: '*' });
    for (const order of [[a, d], [d, a]]) {
      const r = decide(order, 'ec2:TerminateInstances', [inst('i-1')]);
      assert.equal(r.decision, 'deny');
      assert.equal(r.reason, 'explicit-deny');
      assert.equal(r.statement?.sid, 'NoTerminate');
    }
    assert.equal(decide([a, d], 'ec2:StopInstances', [inst('i-1')]).decision, 'allow');
  });

  it('supports NotAction and NotResource', () => {
    const p = doc([{ Effect: 'Allow', NotAction: 'iam:*', Resource: '*' }]);
    assert.equal(decide([p], 'ec2:RunInstances').decision, 'allow');
    assert.equal(decide([p], 'iam:CreateUser', [`arn:aws:iam::${ACCT}:user/x`]).decision, 'deny');
    const q = doc([allowStmt(), { Effect: 'Deny', Action: 'ec2:*', NotResource: `arn:aws:ec2:local-1:${ACCT}:instance/i-ok*` }]);
    assert.equal(decide([q], 'ec2:StopInstances', [inst('i-ok1')]).decision, 'allow');
    assert.equal(decide([q], 'ec2:StopInstances', [inst('i-bad')]).reason, 'explicit-deny');
  });

  it('requires every resource to be allowed', () => {
    const p = doc({ Effect: 'Allow', Action: 'ec2:StopInstances', Resource: [inst('i-1'), inst('i-2')] });
    assert.equal(decide([p], 'ec2:StopInstances', [inst('i-1'), inst('i-2')]).decision, 'allow');
    const r = decide([p], 'ec2:StopInstances', [inst('i-1'), inst('i-3')]);
    assert.equal(r.decision, 'deny');
    assert.equal(r.resource, inst('i-3'));
    assert.equal(decide([p], 'ec2:DescribeInstances').decision, 'deny', "an action on '*' needs Resource '*'");
  });

  it('allows root everything in its own account but nothing in another', () => {
    assert.equal(decide([], 'ec2:TerminateInstances', [inst('i-1')], {}, root).decision, 'allow');
    assert.equal(decide([deny()], 'iam:CreateUser', [], {}, root).decision, 'allow', 'identity policies do not bind root');
    const r = decide([], 'ec2:TerminateInstances', [inst('i-1', OTHER)], {}, root);
    assert.equal(r.decision, 'deny');
    assert.match(r.detail, /another account/);
    assert.equal(decide([allow()], 'ec2:StopInstances', [inst('i-1', OTHER)]).decision, 'deny', 'Allow * does not reach into another account');
    assert.equal(decide([allow()], 'ec2:RunInstances', ['arn:aws:ec2:local-1::image/ami-1']).decision, 'allow', 'an ARN without an account (shared image) is not cross-account');
  });

  describe('conditions', () => {
    const withCond = (cond: Record<string, unknown>, effect = 'Allow'): string => doc({ Effect: effect, Action: '*', Resource: '*', Condition: cond });
    const ok = (p: string, ctx: ConditionContext, resources: AuthorizeRequest['resources'] = []): boolean => decide([p], 'ec2:RunInstances', resources, ctx).decision === 'allow';

    it('StringEquals / StringNotEquals / IgnoreCase, values ORed', () => {
      const p = withCond({ StringEquals: { 'ec2:InstanceType': ['t3.micro', 't3.small'] } });
      assert.ok(ok(p, { 'ec2:InstanceType': 't3.small' }));
      assert.ok(!ok(p, { 'ec2:InstanceType': 'T3.SMALL' }));
      assert.ok(!ok(p, { 'ec2:InstanceType': 'm5.large' }));
      assert.ok(!ok(p, {}), 'absent key: positive operator fails');
      const n = withCond({ StringNotEquals: { 'ec2:InstanceType': ['m5.large', 'm5.xlarge'] } });
      assert.ok(ok(n, { 'ec2:InstanceType': 't3.micro' }));
      assert.ok(!ok(n, { 'ec2:InstanceType': 'm5.xlarge' }));
      assert.ok(ok(n, {}), 'absent key: negated operator holds');
      assert.ok(ok(withCond({ StringEqualsIgnoreCase: { 'ec2:InstanceType': 'T3.MICRO' } }), { 'ec2:InstanceType': 't3.micro' }));
    });

    it('condition key names are case-insensitive, tag keys are not', () => {
      assert.ok(ok(withCond({ StringEquals: { 'AWS:REQUESTEDREGION': 'local-1' } }), { 'aws:RequestedRegion': 'local-1' }));
      const t = withCond({ StringEquals: { 'aws:RequestTag/Team': 'blue' } });
      assert.ok(ok(t, { 'aws:RequestTag/Team': 'blue' }));
      assert.ok(!ok(t, { 'aws:RequestTag/team': 'blue' }));
    });

    it('StringLike with wildcards and policy variables', () => {
      const p = withCond({ StringLike: { 'ec2:InstanceType': 't3.*' } });
      assert.ok(ok(p, { 'ec2:InstanceType': 't3.nano' }));
      assert.ok(!ok(p, { 'ec2:InstanceType': 'm5.large' }));
      assert.ok(ok(withCond({ StringNotLike: { 'ec2:InstanceType': 'm5.*' } }), { 'ec2:InstanceType': 't3.nano' }));
      const own = withCond({ StringEquals: { 'ec2:ResourceTag/Owner': '${aws:username}' } });
      assert.ok(ok(own, {}, [{ arn: inst('i-1'), context: { 'ec2:ResourceTag/Owner': 'alice' } }]));
      assert.ok(!ok(own, {}, [{ arn: inst('i-1'), context: { 'ec2:ResourceTag/Owner': 'bob' } }]));
      assert.ok(!ok(own, {}, [{ arn: inst('i-1'), context: { 'ec2:ResourceTag/Owner': 'alice' } }, { arn: inst('i-2'), context: { 'ec2:ResourceTag/Owner': 'bob' } }]), 'per-resource context');
      const literalStar = withCond({ StringEquals: { 'aws:RequestTag/Name': 'a*${*}' } });
      assert.ok(ok(literalStar, { 'aws:RequestTag/Name': 'a**' }));
      assert.ok(!ok(literalStar, { 'aws:RequestTag/Name': 'abc*' }));
    });

    it('policy variables in Resource (only in 2012-10-17 documents)', () => {
      const p = doc({ Effect: 'Allow', Action: 'iam:*', Resource: `arn:aws:iam::${ACCT}:user/\${aws:username}` });
      assert.equal(decide([p], 'iam:CreateAccessKey', [`arn:aws:iam::${ACCT}:user/alice`]).decision, 'allow');
      assert.equal(decide([p], 'iam:CreateAccessKey', [`arn:aws:iam::${ACCT}:user/bob`]).decision, 'deny');
      const old = doc({ Effect: 'Allow', Action: 'iam:*', Resource: `arn:aws:iam::${ACCT}:user/\${aws:username}` }, '2008-10-17');
      assert.equal(decide([old], 'iam:CreateAccessKey', [`arn:aws:iam::${ACCT}:user/alice`]).decision, 'deny');
    });

    it('Bool and Null', () => {
      const p = withCond({ Bool: { 'aws:SecureTransport': 'true' } });
      assert.ok(ok(p, { 'aws:SecureTransport': true }));
      assert.ok(!ok(p, { 'aws:SecureTransport': false }));
      assert.ok(!ok(p, {}));
      const mustTag = withCond({ Null: { 'aws:RequestTag/Team': 'false' } });
      assert.ok(ok(mustTag, { 'aws:RequestTag/Team': 'x' }));
      assert.ok(!ok(mustTag, {}));
      assert.ok(ok(withCond({ Null: { 'aws:RequestTag/Team': 'true' } }), {}));
    });

    it('IpAddress / NotIpAddress on aws:SourceIp, IPv4 and IPv6', () => {
      const p = withCond({ IpAddress: { 'aws:SourceIp': ['127.0.0.0/8', '2001:db8::/32'] } });
      assert.ok(ok(p, { 'aws:SourceIp': '127.0.0.1' }));
      assert.ok(ok(p, { 'aws:SourceIp': '2001:db8::1' }));
      assert.ok(!ok(p, { 'aws:SourceIp': '10.1.2.3' }));
      assert.ok(!ok(p, { 'aws:SourceIp': 'not-an-ip' }));
      const single = withCond({ IpAddress: { 'aws:SourceIp': '10.1.2.3' } });
      assert.ok(ok(single, { 'aws:SourceIp': '10.1.2.3' }));
      assert.ok(!ok(single, { 'aws:SourceIp': '10.1.2.4' }));
      // The usual pattern: deny from outside a range.
      const guard = [allow(), withCond({ NotIpAddress: { 'aws:SourceIp': '127.0.0.0/8' } }, 'Deny')];
      assert.equal(decide(guard, 'ec2:RunInstances', [], { 'aws:SourceIp': '127.0.0.1' }).decision, 'allow');
      const r = decide(guard, 'ec2:RunInstances', [], { 'aws:SourceIp': '192.168.1.1' });
      assert.equal(r.reason, 'explicit-deny');
    });

    it('Numeric operators', () => {
      const lt = withCond({ NumericLessThan: { 'ec2:MaxCount': '5' } });
      assert.ok(ok(lt, { 'ec2:MaxCount': 4 }));
      assert.ok(!ok(lt, { 'ec2:MaxCount': 5 }));
      assert.ok(ok(withCond({ NumericLessThanEquals: { 'ec2:MaxCount': 5 } }), { 'ec2:MaxCount': '5' }));
      assert.ok(ok(withCond({ NumericGreaterThan: { 'ec2:MaxCount': '1.5' } }), { 'ec2:MaxCount': 2 }));
      assert.ok(ok(withCond({ NumericGreaterThanEquals: { 'ec2:MaxCount': '2' } }), { 'ec2:MaxCount': 2 }));
      assert.ok(ok(withCond({ NumericEquals: { 'ec2:MaxCount': '2' } }), { 'ec2:MaxCount': '2.0' }));
      assert.ok(!ok(withCond({ NumericNotEquals: { 'ec2:MaxCount': '2' } }), { 'ec2:MaxCount': 2 }));
      assert.ok(!ok(lt, { 'ec2:MaxCount': 'many' }));
    });

    it('Date operators on aws:CurrentTime (defaulted from the clock) and epoch values', () => {
      // decide() evaluates at 2026-06-01T12:00:00Z.
      assert.ok(ok(withCond({ DateLessThan: { 'aws:CurrentTime': '2026-12-31T00:00:00Z' } }), {}));
      assert.ok(!ok(withCond({ DateLessThan: { 'aws:CurrentTime': '2026-01-01T00:00:00Z' } }), {}));
      assert.ok(ok(withCond({ DateGreaterThan: { 'aws:CurrentTime': '2026-01-01' } }), {}));
      assert.ok(ok(withCond({ DateGreaterThanEquals: { 'aws:EpochTime': '1780315200' } }), {}));
      assert.ok(!ok(withCond({ DateGreaterThan: { 'aws:EpochTime': '1780315200' } }), {}));
      assert.ok(ok(withCond({ DateLessThan: { 'aws:CurrentTime': '2026-12-31T00:00:00Z' } }), { 'aws:CurrentTime': '2026-11-01T00:00:00Z' }), 'the context may set the time');
    });

    it('ArnLike / ArnEquals / ArnNotLike', () => {
      assert.ok(ok(withCond({ ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${ACCT}:user/a*` } }), {}));
      assert.ok(!ok(withCond({ ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${OTHER}:user/*` } }), {}));
      assert.ok(ok(withCond({ ArnEquals: { 'aws:PrincipalArn': `arn:aws:iam::${ACCT}:user/alice` } }), {}));
      assert.ok(!ok(withCond({ ArnNotLike: { 'aws:PrincipalArn': 'arn:aws:iam::*:user/alice' } }), {}));
    });

    it('aws:PrincipalAccount and aws:RequestedRegion', () => {
      assert.ok(ok(withCond({ StringEquals: { 'aws:PrincipalAccount': ACCT } }), {}));
      const r = withCond({ StringEquals: { 'aws:RequestedRegion': 'local-1' } });
      assert.ok(ok(r, { 'aws:RequestedRegion': 'local-1' }));
      assert.ok(!ok(r, { 'aws:RequestedRegion': 'us-east-1' }));
    });

    it('IfExists', () => {
      const p = withCond({ StringEqualsIfExists: { 'ec2:InstanceType': 't3.micro' } });
      assert.ok(ok(p, {}));
      assert.ok(ok(p, { 'ec2:InstanceType': 't3.micro' }));
      assert.ok(!ok(p, { 'ec2:InstanceType': 'm5.large' }));
    });

    it('ForAnyValue / ForAllValues on multi-valued keys', () => {
      const any = withCond({ 'ForAnyValue:StringEquals': { 'aws:TagKeys': ['Team', 'Owner'] } });
      assert.ok(ok(any, { 'aws:TagKeys': ['Name', 'Team'] }));
      assert.ok(!ok(any, { 'aws:TagKeys': ['Name'] }));
      assert.ok(!ok(any, {}));
      const all = withCond({ 'ForAllValues:StringEquals': { 'aws:TagKeys': ['Team', 'Owner'] } });
      assert.ok(ok(all, { 'aws:TagKeys': ['Owner', 'Team'] }));
      assert.ok(!ok(all, { 'aws:TagKeys': ['Owner', 'Name'] }));
      assert.ok(ok(all, {}), 'ForAllValues holds for an absent key');
    });

    it('ANDs operators and keys, ORs values', () => {
      const p = withCond({
        StringEquals: { 'ec2:InstanceType': ['t3.micro', 't3.small'], 'aws:RequestedRegion': 'local-1' },
        IpAddress: { 'aws:SourceIp': '127.0.0.0/8' },
      });
      const good = { 'ec2:InstanceType': 't3.small', 'aws:RequestedRegion': 'local-1', 'aws:SourceIp': '127.0.0.1' };
      assert.ok(ok(p, good));
      assert.ok(!ok(p, { ...good, 'aws:RequestedRegion': 'x' }));
      assert.ok(!ok(p, { ...good, 'aws:SourceIp': '10.0.0.1' }));
      assert.ok(!ok(p, { ...good, 'ec2:InstanceType': 'm5.large' }));
    });
  });
});

function allowStmt(): Record<string, unknown> {
  return { Effect: 'Allow', Action: '*', Resource: '*' };
}

describe('parsePolicy fuzz', () => {
  // A seeded PRNG so a failure reproduces; the seed is in the test name.
  const SEED = 0x5eed1;

  it(`only ever accepts or answers MalformedPolicyDocument (seed ${SEED})`, () => {
    const rand = seededRandom(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const seeds = [
      doc([{ Sid: 'A', Effect: 'Allow', Action: ['ec2:Describe*', 'ec2:RunInstances'], Resource: '*', Condition: { StringEquals: { 'ec2:InstanceType': ['t3.micro'] }, IpAddress: { 'aws:SourceIp': '127.0.0.0/8' } } }]),
      doc({ Effect: 'Deny', NotAction: 'iam:*', NotResource: ['arn:aws:ec2:*:*:instance/${aws:username}'], Condition: { 'ForAllValues:StringLike': { 'aws:TagKeys': 'a*' }, DateLessThan: { 'aws:CurrentTime': '2030-01-01T00:00:00Z' } } }),
    ];
    const atoms: unknown[] = [null, true, 0, -1, 1e308, '', '*', 'ec2:*', 'Allow', 'Deny', [], {}, [null], { Effect: 'Allow' }, 'arn:aws:ec2:::', '${', '${aws:username}', '2012-10-17', '__proto__'];
    const keys = ['Version', 'Statement', 'Effect', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition', 'Sid', 'Principal', '__proto__', 'StringEquals', 'IpAddress', 'Null', 'aws:SourceIp', 'ForAnyValue:StringLike'];
    const mutateValue = (v: unknown, depth: number): unknown => {
      if (depth > 4 || rand() < 0.15) return pick(atoms);
      if (Array.isArray(v)) return rand() < 0.3 ? [...v, pick(atoms)] : v.map((x) => mutateValue(x, depth + 1));
      if (v !== null && typeof v === 'object') {
        const o: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) {
          if (rand() < 0.1) continue;
          o[rand() < 0.05 ? pick(keys) : k] = rand() < 0.5 ? mutateValue(x, depth + 1) : x;
        }
        if (rand() < 0.1) o[pick(keys)] = pick(atoms);
        return o;
      }
      return rand() < 0.3 ? pick(atoms) : v;
    };
    const mutateText = (s: string): string => {
      const chars = [...s];
      const n = 1 + Math.floor(rand() * 4);
      for (let i = 0; i < n; i++) {
        const at = Math.floor(rand() * (chars.length + 1));
        const op = rand();
        if (op < 0.33) chars.splice(at, 1);
        else if (op < 0.66) chars.splice(at, 0, pick(['{', '}', '"', ',', ':', '[', ']', '\\', '\u0000', 'é', '*', '$']));
        else chars[at] = String.fromCharCode(Math.floor(rand() * 128));
      }
      return chars.join('');
    };
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const base = pick(seeds);
      const text = rand() < 0.5 ? mutateText(base) : JSON.stringify(mutateValue(JSON.parse(base), 0));
      let parsed;
      try {
        parsed = parsePolicy(text);
      } catch (e) {
        assert.ok(e instanceof IamError && e.code === 'MalformedPolicyDocument', `input ${JSON.stringify(text)} threw ${String(e)}`);
        continue;
      }
      accepted++;
      // An accepted document always evaluates without throwing.
      const r = authorize({ principal: alice, action: 'ec2:RunInstances', resources: [inst('i-1')], context: { 'aws:SourceIp': '127.0.0.1', 'aws:TagKeys': ['ab'] }, policies: [{ name: 'f', document: parsed }] });
      assert.ok(r.decision === 'allow' || r.decision === 'deny');
    }
    assert.ok(accepted > 50, `the fuzzer should also produce valid documents (${accepted})`);
  });
});
