"""{{name}}: a Switchyard transform plugin, in Python. It adds the configured
fields to the top level of the body, replacing any of the same name:

    plugins = [{ path = "{{name}}.wasm", config = { add = { environment = "production" } } }]

The router calls `init` once on each new instance, which then serves many calls,
so the parsed config lives in module globals set by `init`.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports.types import (
    Event,
    Replacement,
    Transformed,
    Transformed_Replaced,
    Transformed_Unchanged,
)

_add: dict = {}


def parse_config(text: str) -> dict:
    """The fields to add, from the config; raises ValueError with a message."""
    config = json.loads(text)
    if not isinstance(config, dict) or set(config) != {"add"}:
        raise ValueError('the config must be {"add": {...}}')
    if not isinstance(config["add"], dict):
        raise ValueError("`add` must be a table of fields")
    return config["add"]


class Init(exports.Init):
    def init(self, config: str) -> None:
        global _add
        try:
            _add = parse_config(config)
        except ValueError as e:  # json.JSONDecodeError is one too
            raise Err(f"invalid config: {e}")


class Transform(exports.Transform):
    def transform(self, event: Event) -> Transformed:
        """The body delivered, and signed, is the one returned here; raising Err
        fails the call, and the webhook's `on_plugin_error` decides."""
        if not _add:
            return Transformed_Unchanged()
        try:
            body = json.loads(event.body)
        except ValueError as e:
            raise Err(f"the body is not JSON: {e}")
        if not isinstance(body, dict):
            raise Err("the body is not a JSON object")
        body.update(_add)
        new = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        return Transformed_Replaced(Replacement(body=new, event_type=None, headers=[]))
