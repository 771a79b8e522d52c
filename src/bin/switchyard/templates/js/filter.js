// {{name}}: a Switchyard filter plugin, in JavaScript. It keeps the events whose
// type starts with one of the configured prefixes, and drops the rest:
//
//     plugins = [{ path = "{{name}}.wasm", config = { prefixes = ["order."] } }]
//
// The router calls `init` once on each new instance, which then serves many
// calls, so the parsed config lives in module state set by `init`. ComponentizeJS turns
// a thrown *string* into the `err` of a `result`; anything else thrown traps.

import { log } from 'switchyard:plugin/log@0.1.0';

let prefixes = [];

function parseConfig(text) {
  const config = JSON.parse(text);
  const keys = Object.keys(config ?? {});
  if (typeof config !== 'object' || keys.length !== 1 || keys[0] !== 'prefixes') {
    throw new Error('the config must be {"prefixes": [...]}');
  }
  const list = config.prefixes;
  if (!Array.isArray(list) || list.length === 0 || !list.every((p) => typeof p === 'string')) {
    throw new Error('`prefixes` must list at least one prefix');
  }
  return list;
}

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
    const keep = prefixes.some((p) => event.eventType.startsWith(p));
    if (!keep) log('debug', `{{name}}: dropping ${event.id} (${event.eventType})`);
    return keep;
  },
};
