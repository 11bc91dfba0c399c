// The parts every EC2 response family shares: instance states, tags, groups and the writers
// of those shapes, and the table type each family fills (index.ts joins the tables).

import type { XmlWriter } from '../../../../lib/xml.js';

export type ResponseOf<R, A extends string> = R extends { readonly action: infer X } ? (A extends X ? R : never) : never;

/** One writer per action of a family: the XML body of its response after <requestId>. */
export type WriterTable<R extends { readonly action: string }> = { readonly [A in R['action']]: (w: XmlWriter, r: ResponseOf<R, A>) => void };

/** The body of the actions that answer only <return>true</return>. */
export function writeReturn(w: XmlWriter): void {
  w.leaf('return', true);
}

export const EC2_XMLNS = 'http://ec2.amazonaws.com/doc/2016-11-15/';

export type InstanceStateName = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

/** EC2's state codes (the low byte of InstanceState.Code). */
export const INSTANCE_STATE_CODES: Readonly<Record<InstanceStateName, number>> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

export interface InstanceState {
  readonly code: number;
  readonly name: InstanceStateName;
}

export function instanceState(name: InstanceStateName): InstanceState {
  return { code: INSTANCE_STATE_CODES[name], name };
}

export interface StateReason {
  readonly code: string;
  readonly message: string;
}

export interface TagItem {
  readonly key: string;
  readonly value: string;
}

export interface GroupIdentifier {
  readonly groupId: string;
  readonly groupName: string;
}

export function writeState(w: XmlWriter, name: string, s: InstanceState): void {
  w.open(name).leaf('code', s.code).leaf('name', s.name).close();
}

export function writeTags(w: XmlWriter, tags: readonly TagItem[]): void {
  // EC2 omits tagSet when a resource has no tags.
  if (tags.length === 0) return;
  w.list('tagSet', tags, (x, t) => x.leaf('key', t.key).leaf('value', t.value));
}

export function writeGroups(w: XmlWriter, groups: readonly GroupIdentifier[]): void {
  w.list('groupSet', groups, (x, g) => x.leaf('groupId', g.groupId).leaf('groupName', g.groupName));
}

export function writeStateReason(w: XmlWriter, r: StateReason | undefined): void {
  if (r === undefined) return;
  w.open('stateReason').leaf('code', r.code).leaf('message', r.message).close();
}
