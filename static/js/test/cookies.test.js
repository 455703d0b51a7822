import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  cookieDomains, cookieNames, cookieValues, declaredPresent, deletions, encodeDecision,
  matchesDeclared, newestDecision, parseDecision, serializeCookie,
} from '../src/cookies.js';

const decision = (timestamp, extra = {}) => ({
  consent_id: 'a'.repeat(32), site: 'demo', choices: { necessary: true, analytics: false },
  lifetime: 'persistent', policy_version: '2026-11-01', timestamp, ...extra,
});

test('cookieValues finds every pair of a name, trimmed, and no other name', () => {
  const jar = 'a=1; consentry=x; consentryX=2;  consentry=y ; b=consentry=3';
  assert.deepEqual(cookieValues(jar, 'consentry'), ['x', 'y']);
  assert.deepEqual(cookieValues('', 'consentry'), []);
  assert.deepEqual(cookieValues(undefined, 'consentry'), []);
});

test('cookieNames lists each name once', () => {
  assert.deepEqual(cookieNames('_ga=1; _ga_X=2; _ga=3; lang=de'), ['_ga', '_ga_X', 'lang']);
});

test('a decision survives encode then parse', () => {
  const state = decision('2026-12-01T10:00:00.000000Z');
  assert.deepEqual(parseDecision(encodeDecision(state)), state);
  // Only the decision's own fields go into the cookie.
  const extra = { ...state, receipt: 'r', expires_at: 'x' };
  assert.deepEqual(Object.keys(JSON.parse(decodeURIComponent(encodeDecision(extra)))),
    ['consent_id', 'site', 'choices', 'lifetime', 'policy_version', 'timestamp']);
});

test('parseDecision refuses garbage and other shapes', () => {
  for (const raw of ['', '%E0%A4%A', 'not json', encodeURIComponent('[]'), encodeURIComponent('null'),
    encodeDecision(decision('t', { lifetime: 'forever' })),
    encodeURIComponent(JSON.stringify({ ...decision('t'), choices: undefined }))]) {
    assert.equal(parseDecision(raw), null, raw);
  }
});

test('the newest of two consentry cookies wins, whatever their order', () => {
  const older = encodeDecision(decision('2026-11-01T10:00:00.000000Z', { consent_id: 'old' }));
  const newer = encodeDecision(decision('2026-12-01T10:00:00.500000Z', { consent_id: 'new' }));
  for (const jar of [`consentry=${older}; consentry=${newer}`, `consentry=${newer}; consentry=${older}`]) {
    const found = newestDecision(jar, 'consentry');
    assert.equal(found.state.consent_id, 'new');
    assert.equal(found.stale, true);
  }
});

test('one cookie is not stale; an unreadable second one is', () => {
  const one = encodeDecision(decision('2026-12-01T10:00:00Z'));
  assert.equal(newestDecision(`consentry=${one}`, 'consentry').stale, false);
  const found = newestDecision(`consentry=garbage; consentry=${one}`, 'consentry');
  assert.equal(found.state.timestamp, '2026-12-01T10:00:00Z');
  assert.equal(found.stale, true);
  assert.deepEqual(newestDecision('x=1', 'consentry'), { state: null, stale: false });
});

test('serializeCookie: session cookies have no Max-Age, persistent ones do', () => {
  assert.equal(serializeCookie('consentry', 'v'), 'consentry=v; Path=/; SameSite=Lax');
  assert.equal(serializeCookie('consentry', 'v', { maxAge: null }), 'consentry=v; Path=/; SameSite=Lax');
  assert.equal(
    serializeCookie('consentry', 'v', { domain: '.example.com', maxAge: 86400.7, secure: true }),
    'consentry=v; Path=/; SameSite=Lax; Domain=.example.com; Max-Age=86400; Secure',
  );
  assert.match(serializeCookie('c', 'v', { maxAge: -5 }), /Max-Age=0$/);
  assert.doesNotMatch(serializeCookie('c', 'v', { maxAge: 0 }), /Expires/);
});

test('cookieDomains: host-only, the host and its parents, the configured domain, no IP parents', () => {
  assert.deepEqual(cookieDomains('shop.example.com', null),
    ['', 'shop.example.com', 'example.com']);
  assert.deepEqual(cookieDomains('a.b.example.com', '.example.com'),
    ['', 'a.b.example.com', 'b.example.com', 'example.com']);
  assert.deepEqual(cookieDomains('shop.example.com', '.other.org'),
    ['', 'shop.example.com', 'example.com', '.other.org']);
  assert.deepEqual(cookieDomains('localhost', null), ['']);
  assert.deepEqual(cookieDomains('127.0.0.1', null), ['']);
  assert.deepEqual(cookieDomains('::1', null), ['']);
});

test('deletions expire a name on path / on every domain', () => {
  assert.deepEqual(deletions('_ga', ['', 'example.com']), [
    '_ga=; Path=/; SameSite=Lax; Max-Age=0',
    '_ga=; Path=/; SameSite=Lax; Domain=example.com; Max-Age=0',
  ]);
});

test('declared names match exactly, `*` matches any run of characters', () => {
  assert.ok(matchesDeclared('_ga', '_ga'));
  assert.ok(!matchesDeclared('_ga', '_gat'));
  assert.ok(matchesDeclared('_ga_*', '_ga_DEMO'));
  assert.ok(!matchesDeclared('_ga_*', '_ga'));
  assert.ok(matchesDeclared('a.b*', 'a.bc'));
  assert.ok(!matchesDeclared('a.b*', 'axbc'), 'a dot is a dot, not a regex wildcard');
  const inventory = [{ name: '_ga' }, { name: '_ga_*' }];
  assert.deepEqual(declaredPresent(inventory, ['_ga', '_ga_DEMO', '_gid', 'consentry']),
    ['_ga', '_ga_DEMO']);
});
