// Unit tests of {{name}}'s logic, run natively: node --test (or npm test)

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseConfig, permanentReason } from './logic.js';

test('dead-letters the configured statuses only', () => {
  const permanent = parseConfig('{"permanent": [410, 422]}');
  assert.equal(permanentReason(422, permanent), 'the receiver answered HTTP 422');
  assert.equal(permanentReason(503, permanent), undefined);
});

test('refuses what is not a status', () => {
  for (const config of ['{"permanent": [42]}', '{"permanent": ["410"]}', '{}']) {
    assert.throws(() => parseConfig(config));
  }
});
