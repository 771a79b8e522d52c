// Unit tests of {{name}}'s logic, run natively: node --test (or npm test)

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { keeps, parseConfig } from './logic.js';

test('keeps the configured types only', () => {
  const prefixes = parseConfig('{"prefixes": ["order."]}');
  assert.equal(keeps('order.paid', prefixes), true);
  assert.equal(keeps('user.created', prefixes), false);
});

test('refuses an empty config', () => {
  for (const config of ['{"prefixes": []}', '{"prefix": "order."}', 'not json']) {
    assert.throws(() => parseConfig(config));
  }
});
