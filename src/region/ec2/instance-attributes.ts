// ModifyInstanceAttribute of what an instance record keeps: its type and user data (only while
// stopped, as EC2), its termination and stop protection, what a guest poweroff does
// (InstanceService.reconcileHost honours it), and the ebsOptimized/enaSupport flags. The VPC
// attributes (groupSet, sourceDestCheck) live on the instance's ENI (VpcService.modifyInstance)
// and blockDeviceMapping on its volumes (VolumeService.setDeleteOnTermination). Each change is a
// pure function of the current record that throws EC2's error instead of changing anything.
import { findInstanceType } from '../../lib/instance-types.js';
import type { InstanceAttributeChange } from '../protocol/ec2/requests/index.js';
import { Ec2Error } from '../protocol/errors.js';
import { unsupported } from '../protocol/ec2/requests/index.js';
import { incorrectState } from '../errors.js';
import { attributesOf, type InstanceAttributes, type InstanceRecord } from './model.js';

/** The attributes EC2 lets change only while the instance is stopped. */
const STOPPED_ONLY = new Set(['instanceType', 'userData', 'ebsOptimized', 'enaSupport']);

function mustBeStopped(r: InstanceRecord): void {
  if (r.state !== 'stopped') throw incorrectState(`The instance '${r.id}' is not in the 'stopped' state.`, { instanceId: r.id, state: r.state });
}

const withAttribute = <K extends keyof InstanceAttributes>(r: InstanceRecord, k: K, v: InstanceAttributes[K]): InstanceRecord => ({ ...r, attributes: { ...attributesOf(r), [k]: v } });

/** The record after `change`, for the attributes the instance record keeps; EC2's error otherwise. */
export function changedInstance(r: InstanceRecord, change: InstanceAttributeChange): InstanceRecord {
  if (STOPPED_ONLY.has(change.attribute)) mustBeStopped(r);
  switch (change.attribute) {
    case 'instanceType':
      if (!findInstanceType(change.value)) throw new Ec2Error('InvalidInstanceAttributeValue', `The instanceType attribute value '${change.value}' is not valid.`, { context: { instanceType: change.value } });
      return { ...r, instanceType: change.value };
    case 'userData':
      return { ...r, userData: change.value.length === 0 ? undefined : change.value.toString('base64') };
    case 'disableApiTermination':
    case 'disableApiStop':
    case 'ebsOptimized':
    case 'enaSupport':
      return withAttribute(r, change.attribute, change.value);
    case 'instanceInitiatedShutdownBehavior':
      return withAttribute(r, 'instanceInitiatedShutdownBehavior', change.value);
    case 'kernel':
    case 'ramdisk':
      throw unsupported(`${change.attribute === 'kernel' ? 'Kernel' : 'Ramdisk'}.Value`, change.value, "An instance boots its image's own kernel and initial ramdisk.");
    case 'sriovNetSupport':
      throw unsupported('SriovNetSupport.Value', change.value, 'Instances have no SR-IOV networking.');
    case 'groupSet':
    case 'sourceDestCheck':
    case 'blockDeviceMapping':
      throw new Error(`changedInstance: ${change.attribute} is not kept on the instance record`);
  }
}
