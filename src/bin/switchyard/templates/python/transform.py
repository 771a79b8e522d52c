"""{{name}}: a Switchyard transform plugin, in Python. It adds the configured
fields to the top level of the body, replacing any of the same name:

    plugins = [{ path = "{{name}}.wasm", config = { add = { environment = "production" } } }]

The router calls `init` once on each new instance, which then serves many calls,
so the parsed config lives in module globals set by `init`. The logic is in
logic.py, plain Python tested natively; this file adapts it to the contract.
"""

from componentize_py_types import Err
from logic import parse_config, with_fields
from wit_world import exports
from wit_world.imports.types import (
    Event,
    Replacement,
    Transformed,
    Transformed_Replaced,
    Transformed_Unchanged,
)

_add: dict = {}


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
            new = with_fields(event.body, _add)
        except ValueError as e:
            raise Err(str(e))
        return Transformed_Replaced(Replacement(body=new, event_type=None, headers=[]))
