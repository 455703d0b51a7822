import assert from 'node:assert/strict';
import { test } from 'node:test';

import { honoured, pageSignals, signalAction } from '../src/signals.js';

test('only doNotTrack === "1" and globalPrivacyControl === true count', () => {
  assert.deepEqual(pageSignals({ doNotTrack: '1', globalPrivacyControl: true }), { dnt: true, gpc: true });
  for (const nav of [{}, { doNotTrack: 1 }, { doNotTrack: 'yes' }, { doNotTrack: 'unspecified' },
    { globalPrivacyControl: 'true' }, { globalPrivacyControl: 1 }, undefined]) {
    assert.deepEqual(pageSignals(nav), { dnt: false, gpc: false }, JSON.stringify(nav));
  }
});

test('strict honours DNT and GPC, gpc honours GPC only; the server\'s headers count too', () => {
  const cfg = (policy, server = {}) => ({ signals: { dnt: false, gpc: false, honoured: false, policy, ...server } });
  const none = { dnt: false, gpc: false };
  assert.equal(honoured(cfg('strict'), none), false);
  assert.equal(honoured(cfg('strict'), { dnt: true, gpc: false }), true);
  assert.equal(honoured(cfg('gpc'), { dnt: true, gpc: false }), false);
  assert.equal(honoured(cfg('gpc'), { dnt: false, gpc: true }), true);
  assert.equal(honoured(cfg('gpc', { gpc: true, honoured: true }), none), true);
  assert.equal(honoured(cfg('strict', { dnt: true }), none), true);
});

test('an automatic refusal is recorded as gpc when GPC is on, else as dnt', () => {
  const cfg = (server) => ({ signals: { policy: 'strict', ...server } });
  assert.equal(signalAction(cfg({}), { dnt: true, gpc: true }), 'gpc');
  assert.equal(signalAction(cfg({ gpc: true }), { dnt: true, gpc: false }), 'gpc');
  assert.equal(signalAction(cfg({}), { dnt: true, gpc: false }), 'dnt');
});
