"""Smoke test for the polyglot example plugins, run by `build.sh --test`.

Loads each built component with wasmtime's Python bindings (the same Wasmtime
major version as the router), links WASI p2 with a context that grants nothing
plus a recording `switchyard:plugin/log`, and for each case makes a FRESH
instance, calls `init(config)` and then the hook, as the router does.

Usage: python smoke_test.py <dir with the built .wasm files>
Prints `N passed, N failed` and exits non-zero on any failure.
"""

import json
import sys
import time
from pathlib import Path

import wasmtime
from wasmtime import component as wc

PKG = "switchyard:plugin"
VER = "0.1.0"


def iface(name: str) -> str:
    return f"{PKG}/{name}@{VER}"


class Plugin:
    """One component, compiled once; each `run` is a fresh instance."""

    def __init__(self, engine: wasmtime.Engine, path: Path):
        self.engine = engine
        self.path = path
        self.component = wc.Component.from_file(engine, str(path))
        self.logs: list[tuple[str, str]] = []
        self.linker = wc.Linker(engine)
        self.linker.add_wasip2()
        with self.linker.root() as root:
            with root.add_instance(iface("log")) as log:
                log.add_func("log", self._log)

    def _log(self, _store, level, message):
        self.logs.append((level, message))

    def exports(self) -> list[str]:
        ty = self.component.type
        return sorted(ty.exports(self.engine).keys())

    def imports(self) -> list[str]:
        ty = self.component.type
        return sorted(ty.imports(self.engine).keys())

    def run(self, config: str, hook: str, *args):
        """Fresh instance, init, then the hook. Returns (init_result, hook_result)."""
        store = wasmtime.Store(self.engine)
        store.set_wasi(wasmtime.WasiConfig())  # grants nothing
        inst = self.linker.instantiate(store, self.component)
        init_idx = inst.get_export_index(store, iface("init"))
        init = inst.get_func(store, inst.get_export_index(store, "init", init_idx))
        r = init(store, config)
        init.post_return(store)
        if r is not None:  # err(message)
            return r, None
        hook_idx = inst.get_export_index(store, iface(hook))
        f = inst.get_func(store, inst.get_export_index(store, hook, hook_idx))
        out = f(store, *args)
        f.post_return(store)
        return None, out


def event(event_type: str, body: bytes = b"{}") -> wc.Record:
    e = wc.Record()  # wasmtime-py names record fields as WIT does, kebab-case
    for field, value in {
        "id": "evt_1",
        "event-type": event_type,
        "webhook-id": "wh_1",
        "sender": "shop",
        "received-at-ms": 1_700_000_000_000,
        "headers": [],
        "body": body,
    }.items():
        setattr(e, field, value)
    return e


passed = failed = 0


def check(name: str, got, want) -> None:
    global passed, failed
    if got == want:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name}: got {got!r}, want {want!r}")


def check_err(name: str, got, contains: str) -> None:
    global passed, failed
    if isinstance(got, str) and contains in got:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name}: got {got!r}, want an error containing {contains!r}")


def check_component(p: Plugin, hook: str) -> None:
    raw = p.path.read_bytes()
    check(f"{p.path.name} is a component", raw[4:8].hex(" "), "0d 00 01 00")
    ex = p.exports()
    check(f"{p.path.name} exports init", iface("init") in ex, True)
    check(f"{p.path.name} exports {hook}", iface(hook) in ex, True)
    print(f"{p.path.name}: {len(raw)} bytes")
    print(f"  exports: {', '.join(ex)}")
    print(f"  imports: {', '.join(p.imports())}")


def test_event_filter(p: Plugin) -> None:
    check_component(p, "filter")
    cfg = json.dumps({"allow": ["order.*", "invoice.pa?d"], "deny": ["order.test.*"]})
    cases = [
        (cfg, "order.paid", True),
        (cfg, "order.refund.created", True),  # `*` crosses dots
        (cfg, "order.test.paid", False),  # denied
        (cfg, "invoice.paid", True),
        (cfg, "invoice.paaid", False),  # `?` is exactly one char
        (cfg, "invoice.pd", False),
        (cfg, "customer.created", False),  # not allowed
        ("{}", "anything.at.all", True),  # no allow list: everything
        ('{"deny": ["*.test", "ping"]}', "order.test", False),
        ('{"deny": ["*.test", "ping"]}', "ping", False),
        ('{"deny": ["*.test", "ping"]}', "pingx", True),
        ('{"allow": ["*"]}', "", True),
        ('{"allow": ["?"]}', "", False),
        ('{"allow": ["a*b*c"]}', "axxbyyc", True),
        ('{"allow": ["a*b*c"]}', "axxbyyd", False),
        ('{"allow": ["ü?"]}', "üß", True),  # characters, not bytes
    ]
    for config, et, want in cases:
        err, got = p.run(config, "filter", event(et))
        check(f"filter {config} {et!r}", (err, got), (None, want))
    # a dropped event is logged once, at debug
    p.logs.clear()
    p.run(cfg, "filter", event("customer.created"))
    check("filter logs a drop", [lvl for lvl, _ in p.logs], ["debug"])
    p.logs.clear()
    p.run(cfg, "filter", event("order.paid"))
    check("filter does not log a keep", p.logs, [])
    # config errors fail init
    for config, want in [
        ('{"allow": [], "extra": 1}', "unknown field `extra`"),
        ('{"allow": "order.*"}', "`allow` must be a list"),
        ('{"deny": [1]}', "`deny` must be a list"),
        ('{"allow": null}', "`allow` must be a list"),
        ("[]", "must be a JSON object"),
        ("{", "not valid JSON"),
        ('{"allow": [], "allow": []}', "duplicate field `allow`"),
    ]:
        err, _ = p.run(config, "filter", event("x"))
        check_err(f"init {config}", err, want)


def transformed(out):
    """A transform result as (tag, payload) with the body parsed."""
    assert isinstance(out, wc.Variant) and out.tag == "ok", out
    t = out.payload
    if t is None:
        return ("unchanged", None)
    if isinstance(t, str):
        return ("dropped", t)
    return ("replaced", (t.body.decode(), getattr(t, "event-type"), t.headers))


def test_redact(p: Plugin) -> None:
    check_component(p, "transform")
    body = json.dumps(
        {
            "id": "evt_1",
            "type": "order.paid",
            "timestamp": 1700000000,
            "data": {
                "card": {"number": "4242", "exp": "12/30"},
                "email": "a@example.com",
                "a/b": 1,
                "m~n": [1, 2],
                "items": [{"sku": "x", "price": 9.5}, {"sku": "y", "price": "__HUGE__"}],
                "big": 12345678901234567890123,
                "10": "ten",
                "2": "two",
                "esc": "line\nbreak \u00e9 \"q\" \\ \u0001 \U0001f600",
            },
        },
        ensure_ascii=False,
    ).replace('"__HUGE__"', "1e400").encode()  # a number no double holds
    cfg = json.dumps({"remove": ["/data/card"], "mask": ["/data/email"]})
    err, out = p.run(cfg, "transform", event("order.paid", body))
    check("redact init ok", err, None)
    tag, (new_body, et, headers) = transformed(out)
    check("redact tag", tag, "replaced")
    check("redact event type none", et, None)
    check("redact headers empty", headers, [])
    check(
        "redact body",
        new_body,
        '{"id":"evt_1","type":"order.paid","timestamp":1700000000,"data":{'
        '"email":"[redacted]","a/b":1,"m~n":[1,2],'
        '"items":[{"sku":"x","price":9.5},{"sku":"y","price":1e400}],'
        '"big":12345678901234567890123,"10":"ten","2":"two",'
        '"esc":"line\\nbreak \u00e9 \\"q\\" \\\\ \\u0001 \U0001f600"}}',
    )
    # the same without integer-like member names (read by JSON.parse with a
    # reviver, not the order-keeping reader): numbers and order are kept all the same
    fast = (
        b'{ "id": "evt_1", "data": {"card": {"n": "4242"}, "email": "a@b", '
        b'"nums": [1.10, -0, 1e400, 12345678901234567890123, 2.5E-3, 7], '
        b'"__proto__": {"x": 1}, "constructor": null, "z": "\\u00e9\\n\xc3\xa9"} }'
    )  # z is an escaped e-acute, an escaped newline and a raw UTF-8 e-acute
    cfg = json.dumps({"remove": ["/data/card"], "mask": ["/data/email", "/data/__proto__/x"]})
    err, out = p.run(cfg, "transform", event("order.paid", fast))
    check(
        "redact body (JSON.parse path)",
        transformed(out)[1][0],
        '{"id":"evt_1","data":{"email":"[redacted]",'
        '"nums":[1.10,-0,1e400,12345678901234567890123,2.5E-3,7],'
        '"__proto__":{"x":"[redacted]"},"constructor":null,"z":"\u00e9\\n\u00e9"}}',
    )
    plain = b'{"data": {"email": "x", "n": [1, 2.5, -3, 0.000001, 123456789012345, -0.25]}}'
    err, out = p.run(json.dumps({"mask": ["/data/email"]}), "transform", event("x", plain))
    check(
        "redact body (plain JSON.parse path)",
        transformed(out)[1][0],
        '{"data":{"email":"[redacted]","n":[1,2.5,-3,0.000001,123456789012345,-0.25]}}',
    )
    cfg = json.dumps({"mask": ["/data/constructor/x", "/data/toString", "/data/nums/0/x"]})
    err, out = p.run(cfg, "transform", event("order.paid", fast))
    check("no inherited members", transformed(out), ("unchanged", None))
    # escaped pointer tokens, array indices, any JSON type masked, custom mask
    cfg = json.dumps(
        {
            "remove": ["/data/items/0/price", "/data/m~0n/1"],
            "mask": ["/data/a~1b", "/data/card", "/data/items/1"],
            "mask_with": "***",
        }
    )
    err, out = p.run(cfg, "transform", event("order.paid", body))
    tag, (new_body, _, _) = transformed(out)
    d = json.loads(new_body)["data"]
    check("mask ~1", d["a/b"], "***")
    check("mask object", d["card"], "***")
    check("mask array element", d["items"][1], "***")
    check("remove array element field", d["items"][0], {"sku": "x"})
    check("remove ~0 array element", d["m~n"], [1])
    # nothing matched: unchanged
    cfg = json.dumps({"remove": ["/data/nope", "/data/items/7", "/data/items/-", "/id/x"],
                      "mask": ["/data/items/01", "/nothing/here"]})
    err, out = p.run(cfg, "transform", event("order.paid", body))
    check("no match is unchanged", transformed(out), ("unchanged", None))
    # a body with a NUL and integer-like names: the order-keeping reader
    err, out = p.run(json.dumps({"mask": ["/3"]}), "transform", event("x", b'{"n":"\\u0000","3":1,"1":2}'))
    check("NUL body", transformed(out)[1][0], '{"n":"\\u0000","3":"[redacted]","1":2}')
    # masks apply before removals, as in the Rust example
    cfg = json.dumps({"mask": ["/a/1"], "remove": ["/a/0"]})
    err, out = p.run(cfg, "transform", event("x", b'{"a":[1,2,3]}'))
    check("masks, then removals", transformed(out)[1][0], '{"a":["[redacted]",3]}')
    # logging: once, at debug, when something was redacted
    p.logs.clear()
    p.run(json.dumps({"mask": ["/data/email"]}), "transform", event("order.paid", body))
    check("redact logs once at debug", [lvl for lvl, _ in p.logs], ["debug"])
    # bad bodies are errors of the call
    err, out = p.run(json.dumps({"mask": ["/a"]}), "transform", event("x", b"{not json"))
    check("bad body is err", isinstance(out, wc.Variant) and out.tag == "err", True)
    err, out = p.run(json.dumps({"mask": ["/a"]}), "transform", event("x", b'{"a":"\xff"}'))
    check("non-UTF-8 body is err", isinstance(out, wc.Variant) and out.tag == "err", True)
    # config errors fail init
    for config, want in [
        ('{"remove": [], "extra": 1}', "unknown field `extra`"),
        ('{"remove": "/a"}', "`remove` must be a list"),
        ('{"mask": [1]}', "`mask` must be a list"),
        ('{"mask_with": 5}', "`mask_with` must be a string"),
        ('{"mask": ["data/email"]}', "start with `/`"),
        ('{"remove": ["/a~2"]}', "`~` must be followed by `0` or `1`"),
        ('{"mask": [""]}', "whole body"),
        ("{}", "nothing to redact"),
        ('{"mask": ["/a"], "mask": ["/b"]}', "duplicate field `mask`"),
        ("[]", "must be a JSON object"),
        ("{", "invalid config"),
    ]:
        err, _ = p.run(config, "transform", event("x"))
        check_err(f"init {config}", err, want)


def main() -> None:
    out_dir = Path(sys.argv[1])
    engine = wasmtime.Engine()
    for name, test in [("event-filter-py", test_event_filter), ("redact-js", test_redact)]:
        path = out_dir / f"{name}.wasm"
        t0 = time.monotonic()
        p = Plugin(engine, path)
        print(f"{name}: compiled in {time.monotonic() - t0:.1f}s")
        t0 = time.monotonic()
        test(p)
        print(f"{name}: tests ran in {time.monotonic() - t0:.1f}s")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
