// {{name}}: a Switchyard classify plugin, in JavaScript. It dead-letters at once
// the attempts whose HTTP status is in the configured list, and leaves every other
// answer to the next classifier or the router's built-in rule:
//
//     plugins = [{ path = "{{name}}.wasm", config = { permanent = [400, 404, 410, 422] } }]
//
// The router calls `init` once on each new instance, which then serves many
// calls, so the parsed config lives in module state set by `init`. ComponentizeJS turns
// a thrown *string* into the `err` of a `result`; anything else thrown traps.
// The logic is in logic.js, plain JavaScript tested natively; this file adapts
// it to the contract.

import { parseConfig, permanentReason } from './logic.js';

let permanent = [];

export const init = {
  init(config) {
    try {
      permanent = parseConfig(config);
    } catch (e) {
      throw `invalid config: ${e.message}`;
    }
  },
};

export const classify = {
  // { tag: 'success' }, { tag: 'retry', val: ms or undefined },
  // { tag: 'permanent', val: reason }, or { tag: 'default' }: no opinion.
  classify(event, attempt) {
    const outcome = attempt.outcome;
    const reason = outcome.tag === 'response' && permanentReason(outcome.val.status, permanent);
    return reason ? { tag: 'permanent', val: reason } : { tag: 'default' };
  },
};
