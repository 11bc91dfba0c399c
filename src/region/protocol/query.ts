// The AWS Query wire format shared by EC2 ("ec2" protocol) and IAM ("query" protocol).
//
//   parseForm(body)      application/x-www-form-urlencoded (or a raw query string) → flat Map
//   expandParams(flat)   "Filter.1.Value.2=x" → { Filter: [ { Value: [ , 'x' ] } ] } (1-based, dense)
//
// Lists in the "ec2" protocol are `Name.N[.Sub]` (Filter.1.Name, InstanceId.1,
// TagSpecification.1.Tag.1.Key); in the "query" protocol they are `Name.member.N`, which
// expands to { Name: { member: [...] } } — memberList() unwraps it. Maps in the query
// protocol are `Name.entry.N.key/value`. Indices must be 1..MAX_LIST_INDEX without leading
// zeros and dense; duplicate keys, sparse or huge indices and shape conflicts are rejected
// with an Ec2Error (a clean 400), never a crash. Objects are prototype-free, so a key such as
// `__proto__` or `constructor` is just a key.

import { Ec2Error } from './errors.js';

/** Largest accepted list index (EC2's own list limits are all ≤ 1000). */
export const MAX_LIST_INDEX = 1000;
/** Most parameters accepted in one request. */
export const MAX_PARAMS = 5000;
/** Longest accepted parameter name and deepest nesting. */
export const MAX_KEY_LENGTH = 256;
export const MAX_DEPTH = 8;

export type FlatParams = Map<string, string>;
export type ParamNode = string | ParamObject | ParamList;
export interface ParamObject {
  [key: string]: ParamNode;
}
export type ParamList = ParamNode[];

function decodeComponent(s: string, which: 'name' | 'value'): string {
  const plus = s.includes('+') ? s.replace(/\+/g, ' ') : s;
  if (!plus.includes('%')) return plus;
  try {
    return decodeURIComponent(plus);
  } catch (e) {
    throw new Ec2Error('MalformedQueryString', `The request contains a malformed percent-encoded parameter ${which}.`, { cause: e });
  }
}

/**
 * Parses a form-encoded body or query string (no leading '?') into a flat map of decoded
 * names to decoded values. A key given twice is rejected.
 */
export function parseForm(input: string | Uint8Array, opts: { maxParams?: number } = {}): FlatParams {
  const text = typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: false }).decode(input);
  const maxParams = opts.maxParams ?? MAX_PARAMS;
  const out: FlatParams = new Map();
  if (text.length === 0) return out;
  for (const part of text.split('&')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    const name = decodeComponent(eq < 0 ? part : part.slice(0, eq), 'name');
    const value = eq < 0 ? '' : decodeComponent(part.slice(eq + 1), 'value');
    if (name.length === 0) throw new Ec2Error('MalformedQueryString', 'The request contains a parameter with an empty name.');
    if (out.has(name)) throw new Ec2Error('InvalidParameterValue', `The parameter ${truncate(name)} is specified more than once.`, { context: { parameter: truncate(name) } });
    if (out.size >= maxParams) throw new Ec2Error('InvalidParameterValue', `The request has more than ${maxParams} parameters.`);
    out.set(name, value);
  }
  return out;
}

/** Shortens an attacker-controlled string for use in an error message. */
export function truncate(s: string, max = 64): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

const SEGMENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const INDEX = /^[0-9]+$/;

function badParam(key: string, why: string): Ec2Error {
  return new Ec2Error('InvalidParameterValue', `The parameter name ${truncate(key)} is not valid: ${why}.`, { context: { parameter: truncate(key) } });
}

type Builder = { kind: 'object'; fields: Map<string, BuilderNode> } | { kind: 'list'; items: Map<number, BuilderNode> };
type BuilderNode = { kind: 'leaf'; value: string } | Builder;

function finish(node: BuilderNode, path: string): ParamNode {
  if (node.kind === 'leaf') return node.value;
  if (node.kind === 'object') {
    const o: ParamObject = Object.create(null) as ParamObject;
    for (const [k, v] of node.fields) o[k] = finish(v, path === '' ? k : `${path}.${k}`);
    return o;
  }
  const n = node.items.size;
  const arr: ParamList = new Array<ParamNode>(n);
  for (let i = 1; i <= n; i++) {
    const item = node.items.get(i);
    if (item === undefined) throw badParam(`${path}.${i}`, `list ${truncate(path)} is not numbered 1..${n} without gaps`);
    arr[i - 1] = finish(item, `${path}.${i}`);
  }
  return arr;
}

/**
 * Expands flat `A.1.B=x` parameters into a tree. Each dotted segment is a name (object
 * field) or a 1-based index (list item); one level may not mix the two, and a name may not
 * be both a value and a container.
 */
export function expandParams(flat: FlatParams | Iterable<readonly [string, string]>): ParamObject {
  const root: Builder = { kind: 'object', fields: new Map() };
  for (const [key, value] of flat) {
    if (key.length > MAX_KEY_LENGTH) throw badParam(key, 'it is too long');
    const segs = key.split('.');
    if (segs.length > MAX_DEPTH) throw badParam(key, 'it is nested too deeply');
    let node: Builder = root;
    for (let i = 0; i < segs.length; i++) {
      const seg = segs[i] as string;
      const last = i === segs.length - 1;
      let child: BuilderNode | undefined;
      if (INDEX.test(seg)) {
        if (node.kind !== 'list') {
          if (node.fields.size > 0 || node === root) throw badParam(key, `${truncate(seg)} is an index where a name is expected`);
          throw badParam(key, 'mixed names and indices');
        }
        if (seg.length > 1 && seg.startsWith('0')) throw badParam(key, 'list indices have no leading zeros');
        const idx = Number(seg);
        if (idx < 1 || idx > MAX_LIST_INDEX) throw badParam(key, `list indices run from 1 to ${MAX_LIST_INDEX}`);
        child = node.items.get(idx);
        if (last) {
          if (child !== undefined) throw badParam(key, 'it is given both as a value and as a structure');
          node.items.set(idx, { kind: 'leaf', value });
          break;
        }
        if (child === undefined) {
          child = newContainer(segs[i + 1] as string);
          node.items.set(idx, child);
        }
      } else {
        if (!SEGMENT.test(seg)) throw badParam(key, `${truncate(seg)} is not a valid name segment`);
        if (node.kind !== 'object') throw badParam(key, 'mixed names and indices');
        child = node.fields.get(seg);
        if (last) {
          if (child !== undefined) throw badParam(key, 'it is given both as a value and as a structure');
          node.fields.set(seg, { kind: 'leaf', value });
          break;
        }
        if (child === undefined) {
          child = newContainer(segs[i + 1] as string);
          node.fields.set(seg, child);
        }
      }
      if (child.kind === 'leaf') throw badParam(key, 'it is given both as a value and as a structure');
      const wantList = INDEX.test(segs[i + 1] as string);
      if ((child.kind === 'list') !== wantList) throw badParam(key, 'mixed names and indices');
      node = child;
    }
  }
  return finish(root, '') as ParamObject;
}

function newContainer(nextSeg: string): Builder {
  return INDEX.test(nextSeg) ? { kind: 'list', items: new Map() } : { kind: 'object', fields: new Map() };
}

/** For the "query" protocol: unwraps { member: [...] } into the list ([] when absent). */
export function memberList(node: ParamNode | undefined, name = 'member'): ParamList {
  if (node === undefined) return [];
  if (typeof node === 'object' && !Array.isArray(node)) {
    const inner = node[name];
    const keys = Object.keys(node);
    if (Array.isArray(inner) && keys.length === 1) return inner;
  }
  throw new Ec2Error('InvalidParameterValue', `A list parameter is not in the ${name}.N form.`);
}

/**
 * The parameters of a Query request: the query string's and the form body's together (EC2
 * accepts either, and presigned URLs carry them in the query). A name given in both is refused.
 */
export function requestParams(rawQuery: string, body: string | Uint8Array, opts: { maxParams?: number } = {}): FlatParams {
  const out = parseForm(rawQuery, opts);
  for (const [k, v] of parseForm(body, opts)) {
    if (out.has(k)) throw new Ec2Error('InvalidParameterValue', `The parameter ${truncate(k)} is specified more than once.`, { context: { parameter: truncate(k) } });
    out.set(k, v);
  }
  if (out.size > (opts.maxParams ?? MAX_PARAMS)) throw new Ec2Error('InvalidParameterValue', `The request has more than ${opts.maxParams ?? MAX_PARAMS} parameters.`);
  return out;
}
