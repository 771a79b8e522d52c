// {{name}}'s logic, in plain JavaScript: nothing here imports the contract's
// interfaces, so `node --test` tests it natively (logic.test.js).

// The prefixes from the config's JSON text; throws an Error saying what is wrong.
export function parseConfig(text) {
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

// Whether an event of this type is delivered.
export function keeps(eventType, prefixes) {
  return prefixes.some((p) => eventType.startsWith(p));
}
