import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

import { h, safeHref } from '../src/dom.js';

/** Elements that record what was done to them; `append` of a string is a text node in a DOM. */
const doc = {
  createElement(tag) {
    return {
      tag, attrs: {}, listeners: {}, children: [],
      setAttribute(name, value) { this.attrs[name] = value; },
      addEventListener(type, fn) { this.listeners[type] = fn; },
      append(child) { this.children.push(child); },
    };
  },
};

test('h sets attributes, listeners and properties, and leaves out null and false', () => {
  const onclick = () => {};
  const el = h(doc, 'input', { type: 'checkbox', 'data-cy': 'x', checked: true, disabled: false,
    hidden: null, onclick, required: true });
  assert.deepEqual(el.attrs, { type: 'checkbox', 'data-cy': 'x', required: '' });
  assert.equal(el.checked, true);
  assert.equal(el.disabled, undefined);
  assert.equal(el.listeners.click, onclick);
});

test('text from the config goes in as text, whatever it contains', () => {
  const hostile = '<img src=x onerror="alert(1)">';
  const el = h(doc, 'p', null, hostile, null, false, ['a', 'b']);
  assert.deepEqual(el.children, [hostile, 'a', 'b']);
  assert.equal(el.innerHTML, undefined);
});

test('no source parses HTML or evaluates strings', () => {
  const src = new URL('../src/', import.meta.url);
  for (const name of readdirSync(src)) {
    const code = readFileSync(new URL(name, src), 'utf8');
    assert.doesNotMatch(code, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/, name);
  }
});

test('a policy link is http(s) or relative to the page, never javascript:', () => {
  const base = 'https://shop.example/cart';
  for (const url of ['/privacy', 'privacy.html', 'https://example.com/p', 'http://x.example/']) {
    assert.equal(safeHref(url, base), url);
  }
  for (const url of ['javascript:alert(1)', ' JavaScript:alert(1)', 'data:text/html,x', 'vbscript:x']) {
    assert.equal(safeHref(url, base), null, url);
  }
  assert.equal(safeHref('http://[bad', base), null);
});
