import assert from 'node:assert/strict';
import { test } from 'node:test';

import { beaconUrl, mayCount } from '../src/beacon.js';

const state = { consent_id: 'c'.repeat(32) };
const analytics = (c) => c === 'analytics';
const none = { dnt: false, gpc: false };

test('a page view is counted only with a recorded decision that grants analytics', () => {
  assert.equal(mayCount(state, analytics, none, none), true);
  assert.equal(mayCount(state, () => false, none, none), false);
  assert.equal(mayCount(null, analytics, none, none), false);
  assert.equal(mayCount({ consent_id: null }, analytics, none, none), false, 'not recorded');
});

test('any DNT or GPC signal, the page\'s or the headers\', stops the beacon', () => {
  assert.equal(mayCount(state, analytics, { dnt: true, gpc: false }, none), false);
  assert.equal(mayCount(state, analytics, { dnt: false, gpc: true }, none), false);
  assert.equal(mayCount(state, analytics, none, { dnt: true, gpc: false }), false);
  assert.equal(mayCount(state, analytics, none, { dnt: false, gpc: true }), false);
  assert.equal(mayCount(state, analytics, none, undefined), true);
});

test('the beacon names the site, the consent id and the path, all encoded', () => {
  assert.equal(beaconUrl('https://c.example', 'demo', 'ab12', '/shop/a b'),
    'https://c.example/b/demo.gif?cid=ab12&p=%2Fshop%2Fa%20b');
  assert.equal(beaconUrl('', 'demo', 'x', '/'), '/b/demo.gif?cid=x&p=%2F');
});
