// {{name}}'s logic, in plain JavaScript: nothing here imports the contract's
// interfaces, so `node --test` tests it natively (logic.test.js).

// The permanent statuses, from the config's JSON text; throws an Error saying what is wrong.
export function parseConfig(text) {
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

// Why an answer with this status is dead-lettered now, or undefined: no opinion.
export function permanentReason(status, permanent) {
  return permanent.includes(status) ? `the receiver answered HTTP ${status}` : undefined;
}
