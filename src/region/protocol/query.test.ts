import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseForm, expandParams, memberList, MAX_LIST_INDEX } from './query.js';
import { code } from './ec2-wire.test-helper.js';

test('parseForm decodes + and percent escapes, keeps order', () => {
  const m = parseForm('Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3AName&Filter.1.Value.1=a+b%20c&Empty=&Flag');
  assert.deepEqual([...m], [
    ['Action', 'DescribeInstances'],
    ['Version', '2016-11-15'],
    ['Filter.1.Name', 'tag:Name'],
    ['Filter.1.Value.1', 'a b c'],
    ['Empty', ''],
    ['Flag', ''],
  ]);
  assert.equal(parseForm(Buffer.from('A=%E2%9C%93')).get('A'), '✓');
  assert.equal(parseForm('').size, 0);
});

test('parseForm rejects malformed escapes, duplicates and empty names', () => {
  assert.equal(code(() => parseForm('A=%zz')), 'MalformedQueryString');
  assert.equal(code(() => parseForm('A=%E2%9C')), 'MalformedQueryString');
  assert.equal(code(() => parseForm('A=1&A=2')), 'InvalidParameterValue');
  assert.equal(code(() => parseForm('=1')), 'MalformedQueryString');
  assert.equal(code(() => parseForm('A=1&B=2&C=3', { maxParams: 2 })), 'InvalidParameterValue');
});

test('expandParams builds EC2-style nested lists', () => {
  const t = expandParams(parseForm(
    'InstanceId.1=i-1&InstanceId.2=i-2&Filter.2.Name=b&Filter.1.Name=a&Filter.1.Value.1=x&Filter.1.Value.2=y&Filter.2.Value.1=z' +
      '&TagSpecification.1.ResourceType=instance&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=v',
  ));
  assert.deepEqual(JSON.parse(JSON.stringify(t)), {
    InstanceId: ['i-1', 'i-2'],
    Filter: [
      { Name: 'a', Value: ['x', 'y'] },
      { Name: 'b', Value: ['z'] },
    ],
    TagSpecification: [{ ResourceType: 'instance', Tag: [{ Key: 'k', Value: 'v' }] }],
  });
});

test('expandParams handles query-protocol member lists and prototype keys', () => {
  const t = expandParams(parseForm('Users.member.1=a&Users.member.2=b&__proto__=x&constructor.x=1'));
  assert.deepEqual(memberList(t['Users']), ['a', 'b']);
  assert.deepEqual(memberList(undefined), []);
  assert.equal(t['__proto__'], 'x');
  assert.equal(Object.getPrototypeOf(t), null);
  assert.equal(({} as Record<string, unknown>)['x'], undefined);
});

test('expandParams rejects sparse, zero, leading-zero, huge and conflicting indices', () => {
  for (const body of [
    'InstanceId.2=i-1',
    'InstanceId.1=a&InstanceId.3=b',
    'InstanceId.0=a',
    'InstanceId.01=a',
    `InstanceId.${MAX_LIST_INDEX + 1}=a`,
    'InstanceId.99999999999999999999=a',
    'InstanceId=a&InstanceId.1=b',
    'InstanceId.1=b&InstanceId=a',
    'Filter.1.Name=a&Filter.Name=b',
    'Filter.Name=b&Filter.1.Name=a',
    'Filter.1=a&Filter.1.Name=b',
    'Filter..Name=a',
    'Filter.1.Na me=a',
    '1=a',
    'A.B.C.D.E.F.G.H.I=x',
    `${'A'.repeat(300)}=x`,
  ]) {
    assert.equal(code(() => expandParams(parseForm(body))), 'InvalidParameterValue', body);
  }
});

test('requestParams merges query and body, refusing a name in both', async () => {
  const { requestParams } = await import('./query.js');
  assert.deepEqual([...requestParams('Action=DescribeInstances&X-Amz-Date=1', Buffer.from('Version=2016-11-15'))], [
    ['Action', 'DescribeInstances'],
    ['X-Amz-Date', '1'],
    ['Version', '2016-11-15'],
  ]);
  assert.equal(code(() => requestParams('Action=A', 'Action=B')), 'InvalidParameterValue');
});
