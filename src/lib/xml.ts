// A tiny XML writer shared by the EC2 and IAM renderers. Pure: strings in, a string out.
//
// Two ways to build a document:
//   - a tree: renderXml({ name: 'DescribeInstancesResponse', attrs: { xmlns: EC2_XMLNS }, children: [...] })
//   - a builder: const w = new XmlWriter(); w.open('a'); w.leaf('b', 'text'); w.close(); w.toString()
// Text and attribute values are escaped; characters XML 1.0 cannot carry at all (most C0
// controls, lone surrogates, U+FFFE/U+FFFF) are replaced by U+FFFD so the output always parses.

export const XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>';

export interface XmlElement {
  readonly name: string;
  readonly attrs?: Readonly<Record<string, string>>;
  /** Child nodes; a string child is escaped text. Ignored when `text` is set. */
  readonly children?: readonly XmlNode[];
  /** Text content (escaped). */
  readonly text?: string;
}

export type XmlNode = XmlElement | string;

// XML 1.0 Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
// eslint-disable-next-line no-control-regex
const INVALID_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const TEXT_SPECIALS = /[&<>\r]/g;
const ATTR_SPECIALS = /[&<>"'\r\n\t]/g;
const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\r': '&#13;',
  '\n': '&#10;',
  '\t': '&#9;',
};
const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;
// One pass that tells whether a string needs any work at all. Most values (ids, states,
// dates, numbers) need none, and skipping both replaces for them is most of the writer's cost.
// eslint-disable-next-line no-control-regex
const TEXT_NEEDS_WORK = /[&<>\r\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/;
// eslint-disable-next-line no-control-regex
const ATTR_NEEDS_WORK = /[&<>"'\r\n\t\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF]/;

function sanitize(s: string): string {
  return s.replace(INVALID_CHARS, '\uFFFD');
}

/** Escapes character data for use between tags. */
export function escapeXmlText(s: string): string {
  if (!TEXT_NEEDS_WORK.test(s)) return s;
  return sanitize(s).replace(TEXT_SPECIALS, (c) => ENTITIES[c] ?? c);
}

/** Escapes a value for use inside a double- or single-quoted attribute. */
export function escapeXmlAttr(s: string): string {
  if (!ATTR_NEEDS_WORK.test(s)) return s;
  return sanitize(s).replace(ATTR_SPECIALS, (c) => ENTITIES[c] ?? c);
}

// Element names come from the renderers' code, so a small set of them repeats; each is
// checked once. The set is bounded so a caller passing many distinct names cannot grow it.
const CHECKED_NAMES = new Set<string>();
const MAX_CHECKED_NAMES = 4096;

function checkName(name: string): string {
  if (CHECKED_NAMES.has(name)) return name;
  if (!NAME.test(name)) throw new TypeError(`invalid XML element or attribute name: ${JSON.stringify(name)}`);
  if (CHECKED_NAMES.size < MAX_CHECKED_NAMES) CHECKED_NAMES.add(name);
  return name;
}

function renderAttrs(attrs: Readonly<Record<string, string>> | undefined): string {
  if (attrs === undefined) return '';
  let out = '';
  for (const [k, v] of Object.entries(attrs)) out += ` ${checkName(k)}="${escapeXmlAttr(v)}"`;
  return out;
}

function renderNode(node: XmlNode, out: string[]): void {
  if (typeof node === 'string') {
    out.push(escapeXmlText(node));
    return;
  }
  const name = checkName(node.name);
  const open = `<${name}${renderAttrs(node.attrs)}`;
  if (node.text !== undefined) {
    out.push(`${open}>${escapeXmlText(node.text)}</${name}>`);
    return;
  }
  const children = node.children ?? [];
  if (children.length === 0) {
    out.push(`${open}/>`);
    return;
  }
  out.push(`${open}>`);
  for (const c of children) renderNode(c, out);
  out.push(`</${name}>`);
}

/** Renders an element tree, with the XML declaration unless `declaration: false`. */
export function renderXml(root: XmlElement, opts: { declaration?: boolean } = {}): string {
  const out: string[] = [];
  if (opts.declaration !== false) out.push(XML_DECLARATION, '\n');
  renderNode(root, out);
  return out.join('');
}

/** A value a leaf may carry; undefined/null leaves are omitted, as AWS omits absent members. */
export type XmlScalar = string | number | boolean | bigint | Date | undefined | null;

function scalarText(v: Exclude<XmlScalar, undefined | null>): string {
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

/** A streaming builder. Element names are checked; text is escaped. */
export class XmlWriter {
  // One growing string: V8 appends to it as a rope and flattens once at the end, which
  // makes far less garbage than an array of ~100,000 small parts joined at the end.
  private out = '';
  private readonly stack: string[] = [];

  constructor(opts: { declaration?: boolean } = {}) {
    if (opts.declaration !== false) this.out += `${XML_DECLARATION}\n`;
  }

  /** Opens an element; pair with close(). */
  open(name: string, attrs?: Readonly<Record<string, string>>): this {
    this.out += `<${checkName(name)}${renderAttrs(attrs)}>`;
    this.stack.push(name);
    return this;
  }

  /** Closes the innermost open element. */
  close(): this {
    const name = this.stack.pop();
    if (name === undefined) throw new TypeError('XmlWriter.close() with no open element');
    this.out += `</${name}>`;
    return this;
  }

  /** Writes <name>value</name>; skips undefined and null. */
  leaf(name: string, value: XmlScalar): this {
    if (value === undefined || value === null) return this;
    this.out += `<${checkName(name)}>${escapeXmlText(scalarText(value))}</${name}>`;
    return this;
  }

  /** Writes an empty element <name/>. */
  empty(name: string): this {
    this.out += `<${checkName(name)}/>`;
    return this;
  }

  /** Writes escaped text inside the current element. */
  text(value: string): this {
    this.out += escapeXmlText(value);
    return this;
  }

  /** Writes an element tree in place. */
  node(node: XmlNode): this {
    const parts: string[] = [];
    renderNode(node, parts);
    this.out += parts.join('');
    return this;
  }

  /** Writes <name> then calls body, then </name>. */
  element(name: string, body: (w: this) => void, attrs?: Readonly<Record<string, string>>): this {
    this.open(name, attrs);
    body(this);
    return this.close();
  }

  /**
   * Writes an EC2-style list: <name><item>…</item>…</name>. An empty list is written as
   * <name/> (EC2 writes empty sets that way and parsers read them as []).
   */
  list<T>(name: string, items: readonly T[] | undefined, item: (w: this, value: T) => void, itemName = 'item'): this {
    if (items === undefined) return this;
    if (items.length === 0) return this.empty(name);
    this.open(name);
    for (const v of items) {
      this.open(itemName);
      item(this, v);
      this.close();
    }
    return this.close();
  }

  toString(): string {
    if (this.stack.length !== 0) throw new TypeError(`XmlWriter has unclosed elements: ${this.stack.join(' > ')}`);
    return this.out;
  }
}
