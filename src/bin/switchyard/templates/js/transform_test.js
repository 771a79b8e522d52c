// Unit tests of {{name}}'s logic, run natively: node --test (or npm test)

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseConfig, withFields } from './logic.js';

const bytes = (text) => new TextEncoder().encode(text);

test('adds the configured fields', () => {
  const add = parseConfig('{"add": {"environment": "production"}}');
  const body = withFields(bytes('{"id":"evt_1","environment":"test"}'), add);
  assert.deepEqual(body, bytes('{"id":"evt_1","environment":"production"}'));
});

test('refuses a body that is not an object', () => {
  assert.throws(() => withFields(bytes('[1, 2]'), { a: 1 }));
});

test('refuses a config without fields', () => {
  for (const config of ['{"add": 1}', '{"fields": {}}', 'not json']) {
    assert.throws(() => parseConfig(config));
  }
});
