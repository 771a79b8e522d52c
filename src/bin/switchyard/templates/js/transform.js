// {{name}}: a Switchyard transform plugin, in JavaScript. It adds the configured
// fields to the top level of the body, replacing any of the same name:
//
//     plugins = [{ path = "{{name}}.wasm", config = { add = { environment = "production" } } }]
//
// The router calls `init` once on each new instance, which then serves many
// calls, so the parsed config lives in module state set by `init`. ComponentizeJS turns
// a thrown *string* into the `err` of a `result`; anything else thrown traps.
// The logic is in logic.js, plain JavaScript tested natively; this file adapts
// it to the contract.

import { parseConfig, withFields } from './logic.js';

let add = {};

export const init = {
  init(config) {
    try {
      add = parseConfig(config);
    } catch (e) {
      throw `invalid config: ${e.message}`;
    }
  },
};

export const transform = {
  // The body delivered, and signed, is the one returned here; a thrown string
  // fails the call, and the webhook's `on_plugin_error` decides.
  transform(event) {
    if (Object.keys(add).length === 0) return { tag: 'unchanged' };
    let body;
    try {
      body = withFields(event.body, add);
    } catch (e) {
      throw e.message;
    }
    return { tag: 'replaced', val: { body, eventType: undefined, headers: [] } };
  },
};
