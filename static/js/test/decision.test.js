import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  allChoices, completeChoices, decisionBody, expiresAt, initialChoices, lifetimeFor,
  maxAgeSeconds, promptReason, publicState, stateFromAnswer, undecidedChoices,
} from '../src/decision.js';

const DAY = 864e5;
const NOW = Date.parse('2026-12-04T12:00:00Z');

function config(overrides = {}) {
  return {
    site: 'demo', policy_version: 'v2', language: 'de',
    region: { code: 'DE', rule: 'gdpr', model: 'opt-in' },
    lifetime: { accept_days: 180, reject_days: 30 },
    categories: [
      { id: 'necessary', necessary: true, cookies: [] },
      { id: 'analytics', necessary: false, cookies: [] },
      { id: 'marketing', necessary: false, cookies: [] },
    ],
    ...overrides,
  };
}

function stored(overrides = {}) {
  return {
    consent_id: 'c'.repeat(32), site: 'demo', lifetime: 'persistent', policy_version: 'v2',
    choices: { necessary: true, analytics: true, marketing: false },
    timestamp: new Date(NOW - DAY).toISOString(), ...overrides,
  };
}

test('a stored decision that matches the config holds', () => {
  assert.equal(promptReason(stored(), config(), NOW), '');
});

test('the banner asks again for each reason', () => {
  const cases = [
    [null, 'none'],
    [stored({ site: 'other' }), 'none'],
    [stored({ policy_version: 'v1' }), 'policy'],
    [stored({ choices: { necessary: true, analytics: true } }), 'category'],
    [stored({ timestamp: new Date(NOW - 181 * DAY).toISOString() }), 'expired'],
    // A refusal lasts reject_days (30 here), not accept_days.
    [stored({ choices: { necessary: true, analytics: false, marketing: false },
      timestamp: new Date(NOW - 31 * DAY).toISOString() }), 'expired'],
    [stored({ timestamp: 'yesterday' }), 'expired'],
  ];
  for (const [state, reason] of cases) assert.equal(promptReason(state, config(), NOW), reason);
});

test('a session decision never expires by time (its cookie ends with the session)', () => {
  const old = stored({ lifetime: 'session', timestamp: new Date(NOW - 999 * DAY).toISOString() });
  assert.equal(expiresAt(old, config().lifetime), null);
  assert.equal(promptReason(old, config(), NOW), '');
});

test('expiry counts accept_days when anything optional is granted, else reject_days', () => {
  const t = Date.parse('2026-01-01T00:00:00Z');
  const at = new Date(t).toISOString();
  assert.equal(expiresAt(stored({ timestamp: at }), config().lifetime), t + 180 * DAY);
  const refused = stored({ timestamp: at, choices: { necessary: true, analytics: false } });
  assert.equal(expiresAt(refused, config().lifetime), t + 30 * DAY);
});

test('before a decision: opt-in grants nothing, opt-out and notice grant all unless signalled', () => {
  const none = { necessary: true, analytics: false, marketing: false };
  const all = { necessary: true, analytics: true, marketing: true };
  const region = (model) => config({ region: { code: '', rule: 'r', model } });
  assert.deepEqual(undecidedChoices(region('opt-in'), null, false), none);
  assert.deepEqual(undecidedChoices(region('opt-in'), stored(), false), none);
  assert.deepEqual(undecidedChoices(region('opt-out'), null, false), all);
  assert.deepEqual(undecidedChoices(region('opt-out'), null, true), none);
  assert.deepEqual(undecidedChoices(region('notice'), null, false), all);
  assert.deepEqual(undecidedChoices(region('notice'), null, true), none);
});

test('in opt-out a stored rejection is never overwritten by the default; new categories stay off', () => {
  const cfg = config({ region: { code: 'US-CA', rule: 'us', model: 'opt-out' }, policy_version: 'v3' });
  const rejection = stored({ choices: { necessary: true, analytics: false } });
  assert.deepEqual(undecidedChoices(cfg, rejection, false),
    { necessary: true, analytics: false, marketing: false });
});

test('the preferences start from the stored choice, else from what holds now', () => {
  const cfg = config();
  assert.deepEqual(initialChoices(cfg, stored(), true),
    { necessary: true, analytics: true, marketing: false });
  assert.deepEqual(initialChoices(cfg, null, false),
    { necessary: true, analytics: false, marketing: false });
  const optOut = config({ region: { code: '', rule: 'r', model: 'opt-out' } });
  assert.deepEqual(initialChoices(optOut, null, true),
    { necessary: true, analytics: false, marketing: false });
});

test('choices always name every category, necessary on', () => {
  assert.deepEqual(allChoices(config(), true), { necessary: true, analytics: true, marketing: true });
  assert.deepEqual(completeChoices(config(), { necessary: false, analytics: 'yes', extra: true }),
    { necessary: true, analytics: false, marketing: false });
});

test('lifetime from the remember checkbox', () => {
  assert.equal(lifetimeFor(true, false), 'session');
  assert.equal(lifetimeFor(true, true), 'persistent');
  assert.equal(lifetimeFor(false, false), 'persistent');
  assert.equal(lifetimeFor(false, true), 'persistent');
});

test('the decision body is exactly what the API accepts', () => {
  const body = decisionBody(config(), {
    choices: { analytics: true }, lifetime: 'session', action: 'custom',
    consentId: 'c'.repeat(32), page: '/shop/cart', signals: { dnt: true, gpc: 0 },
  });
  assert.deepEqual(body, {
    site: 'demo', choices: { necessary: true, analytics: true, marketing: false },
    lifetime: 'session', policy_version: 'v2', language: 'de', consent_id: 'c'.repeat(32),
    action: 'custom', page: '/shop/cart', signals: { dnt: true, gpc: false },
  });
  const first = decisionBody(config(), { choices: {}, lifetime: 'persistent', page: 'x' });
  assert.deepEqual(Object.keys(first), ['site', 'choices', 'lifetime', 'policy_version', 'language']);
  const long = decisionBody(config(), { choices: {}, lifetime: 'persistent', page: `/${'a'.repeat(600)}` });
  assert.equal(long.page.length, 512);
});

test('the stored state comes from the answer; get() leaves out the site', () => {
  const answer = {
    consent_id: 'c'.repeat(32), record_id: 'r', action: 'reject_all',
    choices: { necessary: true, analytics: false }, lifetime: 'persistent', policy_version: 'v2',
    created_at: '2026-12-04T12:00:00.123456Z', expires_at: '2027-01-03T12:00:00.123456Z', receipt: 'x',
  };
  const state = stateFromAnswer(answer, 'demo');
  assert.deepEqual(state, {
    consent_id: answer.consent_id, site: 'demo', choices: answer.choices, lifetime: 'persistent',
    policy_version: 'v2', timestamp: answer.created_at,
  });
  const { site, ...rest } = state;
  assert.equal(site, 'demo');
  assert.deepEqual(publicState(state), rest);
  assert.equal(publicState(null), null);
  publicState(state).choices.analytics = true;
  assert.equal(state.choices.analytics, false, 'get() hands out a copy');
});

test('Max-Age runs until expires_at; none for a session', () => {
  assert.equal(maxAgeSeconds('2026-12-05T12:00:00Z', NOW), 86400);
  assert.equal(maxAgeSeconds(NOW + 1500, NOW), 1);
  assert.equal(maxAgeSeconds('2026-12-01T00:00:00Z', NOW), 0);
  assert.equal(maxAgeSeconds(null, NOW), null);
});
