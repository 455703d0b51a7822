import assert from 'node:assert/strict';
import { test } from 'node:test';

import { TYPES, defaults, ensureGtag, update } from '../src/consentmode.js';

test('the default denies every type but security storage and waits for an update', () => {
  assert.deepEqual(defaults(), {
    ad_storage: 'denied', ad_user_data: 'denied', ad_personalization: 'denied',
    analytics_storage: 'denied', functionality_storage: 'denied',
    personalization_storage: 'denied', security_storage: 'granted', wait_for_update: 500,
  });
});

test('a type is granted only when every mapped category is accepted', () => {
  const mapping = {
    ad_storage: ['marketing'], ad_user_data: ['marketing', 'analytics'],
    analytics_storage: ['analytics'], functionality_storage: [],
  };
  const accepted = (c) => c === 'analytics';
  assert.deepEqual(update(mapping, accepted), {
    ad_storage: 'denied', ad_user_data: 'denied', ad_personalization: 'denied',
    analytics_storage: 'granted', functionality_storage: 'denied',
    personalization_storage: 'denied',
  });
  const all = update(mapping, () => true);
  assert.equal(all.ad_user_data, 'granted');
  assert.equal(all.personalization_storage, 'denied', 'an unmapped type stays denied');
  assert.deepEqual(Object.keys(update(undefined, () => true)), TYPES);
});

test('gtag is defined like Google\'s snippet when absent, and kept when present', () => {
  const win = {};
  const gtag = ensureGtag(win);
  gtag('consent', 'default', { a: 1 });
  assert.equal(win.dataLayer.length, 1);
  assert.equal(Object.prototype.toString.call(win.dataLayer[0]), '[object Arguments]');
  assert.deepEqual([...win.dataLayer[0]], ['consent', 'default', { a: 1 }]);

  const calls = [];
  const own = { dataLayer: ['earlier'], gtag: (...args) => calls.push(args) };
  ensureGtag(own)('consent', 'update', {});
  assert.deepEqual(calls, [['consent', 'update', {}]]);
  assert.deepEqual(own.dataLayer, ['earlier']);
});
