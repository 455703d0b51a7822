import assert from 'node:assert/strict';
import { test } from 'node:test';

import { requestedLanguage, uiWords } from '../src/i18n.js';

test('every shipped language has every word', () => {
  const english = uiWords('en');
  for (const language of ['en', 'de', 'fr', 'es', 'it', 'nl']) {
    const words = uiWords(language);
    assert.deepEqual(Object.keys(words), Object.keys(english), language);
    for (const [key, word] of Object.entries(words)) assert.ok(word, `${language}.${key}`);
  }
  assert.equal(uiWords('de').close, 'Schließen');
});

test('a regional tag reads its language; an unknown or missing one falls back to English', () => {
  assert.deepEqual(uiWords('de-AT'), uiWords('de'));
  assert.deepEqual(uiWords('FR'), uiWords('fr'));
  for (const language of ['pt', 'x', '', null, undefined]) assert.deepEqual(uiWords(language), uiWords('en'));
});

test('data-lang wins over <html lang>; neither leaves the choice to the server', () => {
  assert.equal(requestedLanguage('de', 'fr'), 'de');
  assert.equal(requestedLanguage(null, 'fr-CA'), 'fr-CA');
  assert.equal(requestedLanguage('', ' nl '), 'nl');
  assert.equal(requestedLanguage(null, ''), '');
});
