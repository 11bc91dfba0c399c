// The one action table serves exactly the actions the request parser knows, each from one
// family: a family that declared an action another family has would otherwise silently
// replace its entry when index.ts joins the tables.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EC2_ACTIONS } from '../../protocol/ec2/requests/index.js';
import { EC2_ACTION_TABLE } from './index.js';
import { HOST_ACTIONS } from './hosts.js';
import { IMAGE_ACTIONS } from './images.js';
import { INSTANCE_ACTIONS } from './instances.js';
import { KEY_PAIR_ACTIONS } from './key-pairs.js';
import { REGION_ACTIONS } from './regions.js';
import { TAG_ACTIONS } from './tags.js';
import { VOLUME_ACTIONS } from './volumes.js';
import { VPC_ACTIONS } from './vpc.js';
import { ACCOUNT_ACTIONS } from './account.js';
import { LAUNCH_TEMPLATE_ACTIONS } from './launch-templates.js';

test('every parsed action has one entry, from exactly one family', () => {
  const families = [INSTANCE_ACTIONS, IMAGE_ACTIONS, VOLUME_ACTIONS, VPC_ACTIONS, TAG_ACTIONS, KEY_PAIR_ACTIONS, HOST_ACTIONS, REGION_ACTIONS, ACCOUNT_ACTIONS, LAUNCH_TEMPLATE_ACTIONS];
  const seen = new Map<string, number>();
  for (const f of families) for (const a of Object.keys(f)) seen.set(a, (seen.get(a) ?? 0) + 1);
  assert.deepEqual([...seen].filter(([, n]) => n > 1), [], 'an action in two families');
  assert.deepEqual(Object.keys(EC2_ACTION_TABLE).sort(), [...EC2_ACTIONS].sort());
});
