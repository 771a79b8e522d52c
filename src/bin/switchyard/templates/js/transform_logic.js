// {{name}}'s logic, in plain JavaScript: nothing here imports the contract's
// interfaces, so `node --test` tests it natively (logic.test.js).

// The fields to add, from the config's JSON text; throws an Error saying what is wrong.
export function parseConfig(text) {
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

// The body (bytes) with the fields added at its top level: the exact bytes sent.
// Throws an Error when the body is not a JSON object.
export function withFields(body, add) {
  let parsed;
  try {
    parsed = JSON.parse(new TextDecoder().decode(body));
  } catch (e) {
    throw new Error(`the body is not JSON: ${e.message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error('the body is not a JSON object');
  }
  return new TextEncoder().encode(JSON.stringify(Object.assign(parsed, add)));
}
