// {{name}}: a Switchyard classify plugin, in JavaScript. It dead-letters at once
// the attempts whose HTTP status is in the configured list, and leaves every other
// answer to the next classifier or the router's built-in rule:
//
//     plugins = [{ path = "{{name}}.wasm", config = { permanent = [400, 404, 410, 422] } }]
//
// The router calls `init` once on each new instance, which then serves many
// calls, so the parsed config lives in module state set by `init`. ComponentizeJS turns
// a thrown *string* into the `err` of a `result`; anything else thrown traps.

let permanent = [];

function parseConfig(text) {
  const config = JSON.parse(text);
  const keys = Object.keys(config ?? {});
  if (typeof config !== 'object' || keys.length !== 1 || keys[0] !== 'permanent') {
    throw new Error('the config must be {"permanent": [...]}');
  }
  const list = config.permanent;
  if (!Array.isArray(list) || !list.every((s) => Number.isInteger(s) && s >= 100 && s <= 599)) {
    throw new Error('`permanent` must list HTTP statuses');
  }
  return list;
}

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
    if (outcome.tag === 'response' && permanent.includes(outcome.val.status)) {
      return { tag: 'permanent', val: `the receiver answered HTTP ${outcome.val.status}` };
    }
    return { tag: 'default' };
  },
};
