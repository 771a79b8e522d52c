"""{{name}}: a Switchyard filter plugin, in Python. It keeps the events whose type
starts with one of the configured prefixes, and drops the rest:

    plugins = [{ path = "{{name}}.wasm", config = { prefixes = ["order."] } }]

The router calls `init` once on each new instance, which then serves many calls,
so the parsed config lives in module globals set by `init`.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.types import Event

_prefixes: list[str] = []


def parse_config(text: str) -> list[str]:
    """The prefixes from the config; raises ValueError with a message."""
    config = json.loads(text)
    if not isinstance(config, dict) or set(config) != {"prefixes"}:
        raise ValueError('the config must be {"prefixes": [...]}')
    prefixes = config["prefixes"]
    if not prefixes or not all(isinstance(p, str) for p in prefixes):
        raise ValueError("`prefixes` must list at least one prefix")
    return prefixes


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
        keep = any(event.event_type.startswith(p) for p in _prefixes)
        if not keep:
            log.log(log.Level.DEBUG, f"{{name}}: dropping {event.id} ({event.event_type})")
        return keep
