import assert from 'node:assert/strict';
import { test } from 'node:test';

import { GATED, releasable, release, sweep } from '../src/gating.js';

/**
 * A tiny DOM: elements with attributes, children and replaceWith; enough for what
 * gating.js touches. querySelectorAll knows only the GATED selector, written out below.
 */
class El {
  constructor(tagName, attrs = {}, text = '') {
    this.tagName = tagName.toUpperCase();
    this.attrs = new Map(Object.entries(attrs));
    this.children = [];
    this.parent = null;
    this.text = text;
  }
  get attributes() {
    return [...this.attrs].map(([name, value]) => ({ name, value }));
  }
  hasAttribute(name) { return this.attrs.has(name); }
  getAttribute(name) { return this.attrs.has(name) ? this.attrs.get(name) : null; }
  setAttribute(name, value) { this.attrs.set(name, String(value)); }
  set src(value) { this.setAttribute('src', value); }
  get src() { return this.getAttribute('src'); }
  set type(value) { this.setAttribute('type', value); }
  append(...nodes) { for (const n of nodes) { n.parent = this; this.children.push(n); } return this; }
  replaceWith(node) {
    const siblings = this.parent.children;
    siblings[siblings.indexOf(this)] = node;
    node.parent = this.parent;
    this.parent = null;
  }
  descendants() { return this.children.flatMap((c) => [c, ...c.descendants()]); }
  matches(selector) {
    assert.equal(selector, GATED);
    const gated = this.tagName === 'SCRIPT'
      ? this.getAttribute('type') === 'text/plain' && this.hasAttribute('data-category')
      : this.tagName === 'IFRAME' && this.hasAttribute('data-category') && this.hasAttribute('data-src');
    return gated && !this.hasAttribute('data-consentry');
  }
  querySelectorAll(selector) { return this.descendants().filter((el) => el.matches(selector)); }
}
const doc = { createElement: (tag) => new El(tag) };
const only = (...categories) => (c) => c === 'necessary' || categories.includes(c);

function page() {
  const body = new El('body');
  body.append(
    new El('script', { type: 'text/plain', 'data-category': 'analytics', src: '/a.js', id: 'a' }),
    new El('script', { type: 'text/plain', 'data-category': 'marketing', 'data-type': 'module' }, 'run()'),
    new El('div').append(new El('iframe', { 'data-category': 'marketing', 'data-src': '/embed', title: 't' })),
    new El('script', { type: 'text/plain', 'data-category': 'necessary' }, 'needed()'),
    new El('script', { src: '/plain.js' }),
  );
  return body;
}

test('a refused category stays blocked; an accepted one runs as a real script', () => {
  const body = page();
  sweep(body, only('analytics'), doc);
  const [analytics, marketing, wrapper, necessary] = body.children;
  assert.equal(analytics.getAttribute('type'), null, 'a real script: no type means JavaScript');
  assert.equal(analytics.src, '/a.js');
  assert.equal(analytics.getAttribute('id'), 'a');
  assert.equal(analytics.getAttribute('data-consentry'), 'ran');
  assert.equal(analytics.async, false, 'external scripts keep their order');
  assert.equal(marketing.getAttribute('type'), 'text/plain');
  assert.equal(wrapper.children[0].src, null);
  assert.equal(necessary.text, 'needed()');
  assert.equal(necessary.getAttribute('data-consentry'), 'ran');
});

test('granting later runs each element once, even when swept again', () => {
  const body = page();
  sweep(body, only(), doc);
  const firstNecessary = body.children[3];
  sweep(body, only('analytics', 'marketing'), doc);
  sweep(body, only('analytics', 'marketing'), doc);
  assert.equal(body.children[3], firstNecessary, 'not replaced a second time');
  const marketing = body.children[1];
  assert.equal(marketing.getAttribute('type'), 'module', 'data-type gives the real type');
  assert.equal(marketing.text, 'run()');
  const iframe = body.children[2].children[0];
  assert.equal(iframe.src, '/embed');
  assert.equal(iframe.getAttribute('data-consentry'), 'ran');
  assert.equal(releasable(iframe, only('marketing')), false);
});

test('an element added later is released when it is itself the added node', () => {
  const iframe = new El('iframe', { 'data-category': 'analytics', 'data-src': '/late' });
  new El('body').append(iframe);
  sweep(iframe, only(), doc);
  assert.equal(iframe.src, null);
  sweep(iframe, only('analytics'), doc);
  assert.equal(iframe.src, '/late');
});

test('the selector names both gated forms and skips what already ran', () => {
  assert.match(GATED, /script\[type="text\/plain"\]\[data-category\]:not\(\[data-consentry\]\)/);
  assert.match(GATED, /iframe\[data-category\]\[data-src\]:not\(\[data-consentry\]\)/);
});
