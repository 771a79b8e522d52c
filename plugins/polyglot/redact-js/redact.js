// redact, in JavaScript: remove or mask fields of the event body.
//
// A Switchyard plugin for the `transform-plugin` world of `switchyard:plugin@0.1.0`,
// built into a WebAssembly component with ComponentizeJS. It behaves like the Rust
// `redact` example (plugins/redact):
//
//     {"remove": ["/data/card"], "mask": ["/data/email"], "mask_with": "[redacted]"}
//
// `remove` and `mask` are RFC 6901 JSON pointers into the body. A masked value, of
// any JSON type, becomes the `mask_with` string (default "[redacted]"); a removed
// one disappears with its key (or array element). Masks apply first, then
// removals, each in the order listed. A pointer that matches nothing is skipped.
// If nothing matched the event is `unchanged`; otherwise it is `replaced` with the
// new body (compact JSON), no new event type and no extra headers.
//
// Everything else in the body is kept as it was: numbers keep their exact text (no
// rounding of big integers, `10.50` stays `10.50`) and object members their order.
// See "The body" below for how that is done fast enough with `JSON.parse`.
//
// The host calls `init` once on each new instance, which then serves many calls,
// so the parsed config lives in module state set by `init`.

import { log } from 'switchyard:plugin/log@0.1.0';

const KNOWN_FIELDS = ['remove', 'mask', 'mask_with'];
const DEFAULT_MASK = '[redacted]';

// The parsed config, set by `init`: pointers as arrays of reference tokens.
let removePointers = [];
let maskPointers = [];
let maskWith = DEFAULT_MASK;

// ---------------------------------------------------------------------------
// Config (errors worded as the Rust SDK words them)

/** Split an RFC 6901 pointer into its unescaped reference tokens (`""`: none). */
export function parsePointer(pointer) {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) {
    throw new Error(`invalid JSON pointer ${JSON.stringify(pointer)}: must be empty or start with \`/\``);
  }
  return pointer
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~(?![01])/.test(token)) {
        throw new Error(
          `invalid JSON pointer ${JSON.stringify(pointer)}: \`~\` must be followed by \`0\` or \`1\``,
        );
      }
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

function pointerList(config, field) {
  if (!Object.hasOwn(config, field)) return [];
  const value = config[field];
  if (!Array.isArray(value) || !value.every((p) => typeof p === 'string')) {
    throw new Error(`\`${field}\` must be a list of JSON pointer strings`);
  }
  const pointers = value.map(parsePointer);
  if (pointers.some((tokens) => tokens.length === 0)) {
    throw new Error(`\`${field}\`: the pointer "" is the whole body`);
  }
  return pointers;
}

/** The config, checked; throws an Error with the message for `init`'s err. */
export function parseConfig(text) {
  let config;
  try {
    config = parseJson(text, { keepNumberText: false, rejectDuplicates: true }).value;
  } catch (e) {
    throw new Error(`invalid config: ${e.message}`);
  }
  if (!(config instanceof Map)) throw new Error('invalid config: must be a JSON object');
  for (const key of config.keys()) {
    if (!KNOWN_FIELDS.includes(key)) {
      throw new Error(
        `invalid config: unknown field \`${key}\`, expected one of \`remove\`, \`mask\`, \`mask_with\``,
      );
    }
  }
  const obj = Object.fromEntries(config);
  let mask = DEFAULT_MASK;
  if (Object.hasOwn(obj, 'mask_with')) {
    if (typeof obj.mask_with !== 'string') throw new Error('invalid config: `mask_with` must be a string');
    mask = obj.mask_with;
  }
  const remove = pointerList(obj, 'remove');
  const maskList = pointerList(obj, 'mask');
  if (remove.length === 0 && maskList.length === 0) {
    throw new Error('nothing to redact: give `remove` or `mask` pointers');
  }
  return { remove, mask: maskList, maskWith: mask };
}

// ---------------------------------------------------------------------------
// JSON, order- and number-keeping: the slow reader
//
// Used for the config (to refuse a key given twice) and, rarely, for a body (see
// parseBody). Objects are `Map`s (insertion order, any key), arrays are arrays,
// numbers are `JsonNumber`s holding their source text, the rest are JS strings,
// booleans and null. It accepts what JSON.parse accepts.

class JsonNumber {
  constructor(text) {
    this.text = text;
  }
}

class JsonError extends Error {}

// One token, after any whitespace: a string, a number, a literal or a punctuator.
// The reader matches whole tokens with the engine's regex machine rather than a
// character at a time; still, each token costs about a microsecond, dozens of
// times what JSON.parse spends, which is why bodies go to JSON.parse if they can.
const TOKEN =
  /[ \t\n\r]*(?:("[^"\\\u0000-\u001f]*(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\u0000-\u001f]*)*")|(-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)|(true|false|null)|([{}[\]:,]))/y;
const WHITESPACE = /[ \t\n\r]*/y;
// Nesting deeper than this is refused: the reader's work and stack stay bounded.
const MAX_DEPTH = 512;

/**
 * Parse JSON text. With keepNumberText false numbers become JS numbers; with
 * rejectDuplicates a member name twice in one object is an error (else the last
 * value wins, in the first one's place).
 */
export function parseJson(text, { keepNumberText = true, rejectDuplicates = false } = {}) {
  let i = 0;
  const fail = (what) => {
    throw new JsonError(`${what} at character ${i}`);
  };
  const next = () => {
    TOKEN.lastIndex = i;
    const m = TOKEN.exec(text);
    if (m === null) {
      WHITESPACE.lastIndex = i;
      WHITESPACE.exec(text);
      i = WHITESPACE.lastIndex;
      fail(i < text.length ? 'unexpected character' : 'unexpected end');
    }
    i = TOKEN.lastIndex;
    return m;
  };
  // A string token's value; JSON.parse decodes the escapes, if any.
  const string = (token) => (token.includes('\\') ? JSON.parse(token) : token.slice(1, -1));
  // `"name":` given the name's token; returns the name.
  const member = (m) => {
    if (m[1] === undefined) fail('expected a member name');
    const name = string(m[1]);
    if (next()[4] !== ':') fail('expected `:`');
    return name;
  };

  // An explicit stack instead of recursion: containers being filled.
  const stack = [];
  let m = next(); // the first token of the next value
  for (;;) {
    let v;
    if (m[1] !== undefined) v = string(m[1]);
    else if (m[2] !== undefined) v = keepNumberText ? new JsonNumber(m[2]) : Number(m[2]);
    else if (m[3] !== undefined) v = m[3] === 'true' ? true : m[3] === 'false' ? false : null;
    else if (m[4] === '{' || m[4] === '[') {
      if (stack.length >= MAX_DEPTH) fail('nesting too deep');
      const isObject = m[4] === '{';
      const container = isObject ? new Map() : [];
      m = next();
      if (m[4] === (isObject ? '}' : ']')) {
        v = container;
      } else {
        const frame = { container, key: null };
        stack.push(frame);
        if (isObject) {
          frame.key = member(m);
          m = next();
        }
        continue; // m starts the container's first value
      }
    } else {
      fail('expected a value');
    }
    // Store v in its parent, closing every container that ends here.
    for (;;) {
      if (stack.length === 0) {
        WHITESPACE.lastIndex = i;
        WHITESPACE.exec(text);
        i = WHITESPACE.lastIndex;
        if (i !== text.length) fail('trailing characters');
        return { value: v };
      }
      const frame = stack[stack.length - 1];
      const isObject = frame.container instanceof Map;
      if (!isObject) {
        frame.container.push(v);
      } else if (rejectDuplicates && frame.container.has(frame.key)) {
        fail(`duplicate field \`${frame.key}\``);
      } else {
        frame.container.set(frame.key, v);
      }
      const p = next()[4];
      if (p === ',') {
        m = next();
        if (isObject) {
          frame.key = member(m);
          m = next();
        }
        break; // m starts the next value
      }
      if (p !== (isObject ? '}' : ']')) fail(`expected \`,\` or \`${isObject ? '}' : ']'}\``);
      stack.pop();
      v = frame.container;
    }
  }
}

/** Compact JSON text of a parsed value. */
export function writeJson(v) {
  const parts = [];
  const walk = (v) => {
    if (v === null) parts.push('null');
    else if (v === true) parts.push('true');
    else if (v === false) parts.push('false');
    else if (typeof v === 'string') parts.push(JSON.stringify(v));
    else if (v instanceof JsonNumber) parts.push(v.text);
    else if (typeof v === 'number') parts.push(JSON.stringify(v));
    else if (Array.isArray(v)) {
      parts.push('[');
      v.forEach((x, k) => {
        if (k) parts.push(',');
        walk(x);
      });
      parts.push(']');
    } else if (v instanceof Map) {
      parts.push('{');
      let first = true;
      for (const [k, x] of v) {
        if (!first) parts.push(',');
        first = false;
        parts.push(JSON.stringify(k), ':');
        walk(x);
      }
      parts.push('}');
    } else throw new Error(`cannot write ${typeof v}`);
  };
  walk(v);
  return parts.join('');
}

// ---------------------------------------------------------------------------
// The body
//
// JSON.parse is many times faster in this engine than any reader written in JS
// (which pays about a microsecond per token), and a call has a CPU budget, so the
// body is read with JSON.parse, and what it would lose is put back:
//
// - Numbers: a JS number is a double. When the body has a number that a double
//   might not give back as written, a reviver keeps that number's source text
//   (`JSON.rawJSON`), which JSON.stringify writes back as it was.
// - Member order: a JS object lists integer-like names ("0", "10") first, in
//   numeric order. When the body has such names, they are renamed before parsing
//   to a form that is not integer-like (a NUL in front, which no name in the body
//   can have, as checked), and renamed back in the output text.
// - If the body has integer-like names and a NUL somewhere, the slow reader above
//   does the job instead.

// A number that a double might not give back as written: 16 or more digits, an
// exponent, a fraction ending in 0 (`1.10`), six zeros after the point (String()
// writes 1e-7), or `-0`. Any other JSON number round-trips exactly: a double keeps
// 15 significant digits, and String() writes the shortest form, in fixed notation
// between 1e-7 and 1e21. A match inside a string only costs the reviver.
const RISKY_NUMBER = /(?:[0-9]\.?){16}|[0-9][eE]|\.[0-9]*0(?![0-9])|\.0{6}|-0(?![.0-9])/;

// A member name that is an array index. A match inside a string only costs the
// renaming below (which skips it).
const INTEGER_NAME = /"(?:0|[1-9][0-9]*)"\s*:/;
// The same, only where the opening quote is one (an even number of backslashes
// before it). In valid JSON that is a member name: a string token followed by `:`.
const INTEGER_NAME_TOKEN = /(?<=(?:^|[^\\])(?:\\\\)*)"(0|[1-9][0-9]*)"(?=\s*:)/g;
// A renamed member name in JSON.stringify's output, which escapes NUL as \u0000.
const RENAMED_NAME = /"\\u0000(0|[1-9][0-9]*)":/g;
const INTEGER = /^(?:0|[1-9][0-9]*)$/;

// A JSON.parse reviver keeping the source text of numbers that a double would change.
// It is called for every value, which makes parsing several times slower.
function keepNumberText(_key, value, context) {
  if (typeof value !== 'number' || String(value) === context.source) return value;
  return JSON.rawJSON(context.source);
}

const sameName = (name) => name;
const renamedName = (name) => (INTEGER.test(name) ? `\u0000${name}` : name);

/**
 * Parse a body into { root, name, write }: the value; what an object member name
 * in a pointer is called in it; and a function giving the compact JSON text.
 */
export function parseBody(text) {
  const reviver = RISKY_NUMBER.test(text) ? keepNumberText : undefined;
  if (!INTEGER_NAME.test(text)) {
    const root = JSON.parse(text, reviver);
    return { root, name: sameName, write: () => JSON.stringify(root) };
  }
  if (!text.includes('\\u0000')) {
    JSON.parse(text); // the renaming assumes valid JSON: check the body as sent
    const root = JSON.parse(text.replace(INTEGER_NAME_TOKEN, '"\\u0000$1"'), reviver);
    const write = () => JSON.stringify(root).replace(RENAMED_NAME, '"$1":');
    return { root, name: renamedName, write };
  }
  const root = parseJson(text).value;
  return { root, name: sameName, write: () => writeJson(root) };
}

// ---------------------------------------------------------------------------
// Pointers

/** An array index per RFC 6901: `0` or digits without a leading zero. */
function arrayIndex(token, length) {
  if (!INTEGER.test(token)) return -1;
  const k = Number(token);
  return k < length ? k : -1;
}

/** Whether v is an object from JSON.parse (not an array, a kept number or null). */
function isPlainObject(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !JSON.isRawJSON(v);
}

/**
 * The container holding the pointer's target and the target's key or index, if
 * there is such a target; `name` maps a member name to its name in the body.
 */
function locate(root, tokens, name) {
  let parent = null;
  let key = null;
  let node = root;
  for (const token of tokens) {
    if (node instanceof Map) {
      if (!node.has(token)) return null;
      parent = node;
      key = token;
      node = node.get(token);
    } else if (Array.isArray(node)) {
      const k = arrayIndex(token, node.length);
      if (k < 0) return null; // `-`, the element after the last, included
      parent = node;
      key = k;
      node = node[k];
    } else if (isPlainObject(node)) {
      const member = name(token);
      if (!Object.hasOwn(node, member)) return null; // nothing inherited
      parent = node;
      key = member;
      node = node[member];
    } else {
      return null;
    }
  }
  return { parent, key };
}

/** Apply the config to a parsed body; returns how many pointers matched. */
export function redact(body, remove, mask, maskWith) {
  let matched = 0;
  for (const tokens of mask) {
    const at = locate(body.root, tokens, body.name);
    if (!at) continue;
    if (at.parent instanceof Map) at.parent.set(at.key, maskWith);
    else at.parent[at.key] = maskWith; // an own data property, even for "__proto__"
    matched++;
  }
  for (const tokens of remove) {
    const at = locate(body.root, tokens, body.name);
    if (!at) continue;
    if (at.parent instanceof Map) at.parent.delete(at.key);
    else if (Array.isArray(at.parent)) at.parent.splice(at.key, 1);
    else delete at.parent[at.key];
    matched++;
  }
  return matched;
}

// ---------------------------------------------------------------------------
// The component's exports

// fatal: invalid UTF-8 is an error; ignoreBOM: a BOM stays, and is not JSON.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

export const init = {
  init(config) {
    try {
      ({ remove: removePointers, mask: maskPointers, maskWith } = parseConfig(config));
    } catch (e) {
      // ComponentizeJS turns a thrown string into the `err` of `result<_, string>`
      // (anything else thrown traps).
      throw e.message;
    }
  },
};

export const transform = {
  transform(event) {
    let body;
    try {
      body = parseBody(utf8Decoder.decode(event.body));
    } catch (e) {
      throw `event body is not JSON: ${e instanceof TypeError ? 'invalid UTF-8' : e.message}`;
    }
    const matched = redact(body, removePointers, maskPointers, maskWith);
    if (matched === 0) return { tag: 'unchanged' };
    log('debug', `redact: redacted ${matched} value(s) in event ${event.id}`);
    return {
      tag: 'replaced',
      val: { body: utf8Encoder.encode(body.write()), eventType: undefined, headers: [] },
    };
  },
};
