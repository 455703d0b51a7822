import assert from 'node:assert/strict';
import { test } from 'node:test';

import { apiClient, uuid, withRetry } from '../src/api.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A fetch that answers from a script: a status, or 'down' for a network error. */
function scriptedFetch(...outcomes) {
  const calls = [];
  const fetchImpl = async (url, init = {}) => {
    calls.push({ url, init });
    const outcome = outcomes.shift();
    if (outcome === 'down') throw new TypeError('Failed to fetch');
    return { status: outcome, ok: outcome >= 200 && outcome < 300, json: async () => ({ outcome }) };
  };
  return { fetchImpl, calls };
}

test('uuid: randomUUID when there is one, a v4 UUID built by hand otherwise', () => {
  assert.equal(uuid({ randomUUID: () => 'from-crypto' }), 'from-crypto');
  assert.match(uuid({ getRandomValues: (b) => b.fill(255) }), UUID);
  assert.match(uuid(undefined), UUID);
  assert.notEqual(uuid(undefined), uuid(undefined));
});

test('withRetry sends again once after a network error or a 5xx, never after a 4xx', async () => {
  for (const [outcomes, status, sent] of [
    [[201], 201, 1], [['down', 201], 201, 2], [[503, 201], 201, 2], [[503, 502], 502, 2],
    [[409], 409, 1], [[422], 422, 1],
  ]) {
    const { fetchImpl, calls } = scriptedFetch(...outcomes);
    const response = await withRetry(() => fetchImpl('u'));
    assert.equal(response.status, status, JSON.stringify(outcomes));
    assert.equal(calls.length, sent, JSON.stringify(outcomes));
  }
  const { fetchImpl } = scriptedFetch('down', 'down');
  await assert.rejects(withRetry(() => fetchImpl('u')), TypeError);
});

test('a decision is retried with the same Idempotency-Key; each decision has its own', async () => {
  const { fetchImpl, calls } = scriptedFetch('down', 201, 201);
  let n = 0;
  const client = apiClient('https://c.example', fetchImpl, { randomUUID: () => `key-${++n}` });
  const body = { site: 'demo', choices: {} };
  assert.equal((await client.decide(body)).status, 201);
  await client.decide(body);
  assert.deepEqual(calls.map((c) => c.init.headers['Idempotency-Key']), ['key-1', 'key-1', 'key-2']);
  assert.equal(calls[0].url, 'https://c.example/api/v1/consents');
  assert.equal(calls[0].init.method, 'POST');
  assert.equal(calls[0].init.headers['Content-Type'], 'application/json');
  assert.equal(calls[0].init.body, calls[1].init.body);
  assert.deepEqual(JSON.parse(calls[0].init.body), body);
});

test('the config is asked for with the language, retried once, then given up', async () => {
  const ok = scriptedFetch(500, 200);
  const client = apiClient('https://c.example', ok.fetchImpl);
  assert.deepEqual(await client.config('demo', 'de-AT'), { outcome: 200 });
  assert.deepEqual(ok.calls.map((c) => c.url), Array(2).fill(
    'https://c.example/api/v1/sites/demo/config?lang=de-AT'));
  const bare = scriptedFetch(200);
  await apiClient('', bare.fetchImpl).config('demo', '');
  assert.equal(bare.calls[0].url, '/api/v1/sites/demo/config');

  const down = scriptedFetch('down', 'down');
  await assert.rejects(apiClient('', down.fetchImpl).config('demo', ''));
  const missing = scriptedFetch(404);
  await assert.rejects(apiClient('', missing.fetchImpl).config('nope', ''), /404/);
  assert.equal(missing.calls.length, 1);
});

test('a lost impression is swallowed', async () => {
  const { fetchImpl, calls } = scriptedFetch('down');
  const client = apiClient('https://c.example', fetchImpl);
  assert.equal(await client.impression('demo', { language: 'en' }), null);
  assert.equal(calls[0].url, 'https://c.example/api/v1/sites/demo/impressions');
});
