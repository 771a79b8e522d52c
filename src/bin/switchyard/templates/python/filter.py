"""{{name}}: a Switchyard filter plugin, in Python. It keeps the events whose type
starts with one of the configured prefixes, and drops the rest:

    plugins = [{ path = "{{name}}.wasm", config = { prefixes = ["order."] } }]

The router calls `init` once on each new instance, which then serves many calls,
so the parsed config lives in module globals set by `init`. The logic is in
logic.py, plain Python tested natively; this file adapts it to the contract.
"""

from componentize_py_types import Err
from logic import keeps, parse_config
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.types import Event

_prefixes: list[str] = []


class Init(exports.Init):
    def init(self, config: str) -> None:
        global _prefixes
        try:
            _prefixes = parse_config(config)
        except ValueError as e:  # json.JSONDecodeError is one too
            raise Err(f"invalid config: {e}")


class Filter(exports.Filter):
    def filter(self, event: Event) -> bool:
        """True keeps the event, False drops it (recorded as filtered); raising
        Err fails the call, and the webhook's `on_plugin_error` decides."""
        keep = keeps(event.event_type, _prefixes)
        if not keep:
            log.log(log.Level.DEBUG, f"{{name}}: dropping {event.id} ({event.event_type})")
        return keep
