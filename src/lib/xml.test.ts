import { test } from 'node:test';
import assert from 'node:assert/strict';
import { XMLParser } from 'fast-xml-parser';
import { XmlWriter, escapeXmlAttr, escapeXmlText, renderXml } from './xml.js';

test('escapes text and attributes', () => {
  assert.equal(escapeXmlText(`a<b>&"c'\r`), `a&lt;b&gt;&amp;"c'&#13;`);
  assert.equal(escapeXmlAttr(`"'<&\n`), '&quot;&apos;&lt;&amp;&#10;');
  assert.equal(escapeXmlText('\u0000x\u001b\uD800y\uFFFF'), '\uFFFDx\uFFFD\uFFFDy\uFFFD');
  assert.equal(escapeXmlText('😀'), '😀');
});

test('tree and builder produce the same parseable document', () => {
  const tree = renderXml({
    name: 'R',
    attrs: { xmlns: 'http://ec2.amazonaws.com/doc/2016-11-15/' },
    children: [{ name: 'requestId', text: 'id<1>' }, { name: 'set', children: [{ name: 'item', children: [{ name: 'k', text: 'v&' }] }] }, { name: 'none' }],
  });
  const w = new XmlWriter();
  w.open('R', { xmlns: 'http://ec2.amazonaws.com/doc/2016-11-15/' });
  w.leaf('requestId', 'id<1>').leaf('skipped', undefined);
  w.list('set', [{ k: 'v&' }], (x, v) => x.leaf('k', v.k));
  w.list('none', [], () => undefined);
  w.close();
  assert.equal(w.toString(), tree);
  const parsed = new XMLParser({ ignoreAttributes: false }).parse(tree) as Record<string, unknown>;
  assert.deepEqual(parsed['R'], { requestId: 'id<1>', set: { item: { k: 'v&' } }, none: '', '@_xmlns': 'http://ec2.amazonaws.com/doc/2016-11-15/' });
});

test('rejects bad names and unbalanced builders', () => {
  assert.throws(() => renderXml({ name: 'a b' }), TypeError);
  assert.throws(() => new XmlWriter().open('a').toString(), TypeError);
  assert.throws(() => new XmlWriter().close(), TypeError);
});
