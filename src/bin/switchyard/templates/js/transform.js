// {{name}}: a Switchyard transform plugin, in JavaScript. It adds the configured
// fields to the top level of the body, replacing any of the same name:
//
//     plugins = [{ path = "{{name}}.wasm", config = { add = { environment = "production" } } }]
//
// The router calls `init` once on each new instance, which then serves many
// calls, so the parsed config lives in module state set by `init`. ComponentizeJS turns
// a thrown *string* into the `err` of a `result`; anything else thrown traps.

let add = {};

function parseConfig(text) {
  const config = JSON.parse(text);
  const keys = Object.keys(config ?? {});
  if (typeof config !== 'object' || keys.length !== 1 || keys[0] !== 'add') {
    throw new Error('the config must be {"add": {...}}');
  }
  if (typeof config.add !== 'object' || config.add === null || Array.isArray(config.add)) {
    throw new Error('`add` must be a table of fields');
  }
  return config.add;
}

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
      body = JSON.parse(new TextDecoder().decode(event.body));
    } catch (e) {
      throw `the body is not JSON: ${e.message}`;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw 'the body is not a JSON object';
    }
    Object.assign(body, add);
    const replacement = {
      body: new TextEncoder().encode(JSON.stringify(body)),
      eventType: undefined,
      headers: [],
    };
    return { tag: 'replaced', val: replacement };
  },
};
