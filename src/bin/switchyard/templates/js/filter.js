// {{name}}: a Switchyard filter plugin, in JavaScript. It keeps the events whose
// type starts with one of the configured prefixes, and drops the rest:
//
//     plugins = [{ path = "{{name}}.wasm", config = { prefixes = ["order."] } }]
//
// The router calls `init` once on each new instance, which then serves many
// calls, so the parsed config lives in module state set by `init`. ComponentizeJS turns
// a thrown *string* into the `err` of a `result`; anything else thrown traps.
// The logic is in logic.js, plain JavaScript tested natively; this file adapts
// it to the contract.

import { log } from 'switchyard:plugin/log@0.1.0';

import { keeps, parseConfig } from './logic.js';

let prefixes = [];

export const init = {
  init(config) {
    try {
      prefixes = parseConfig(config);
    } catch (e) {
      throw `invalid config: ${e.message}`;
    }
  },
};

export const filter = {
  // true keeps the event, false drops it (recorded as filtered); a thrown string
  // fails the call, and the webhook's `on_plugin_error` decides.
  filter(event) {
    const keep = keeps(event.eventType, prefixes);
    if (!keep) log('debug', `{{name}}: dropping ${event.id} (${event.eventType})`);
    return keep;
  },
};
