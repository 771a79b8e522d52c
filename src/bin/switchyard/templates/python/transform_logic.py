"""{{name}}'s logic, in plain Python: nothing here imports the component's
bindings, so `python3 -m unittest` tests it natively (test_logic.py)."""

import json


def parse_config(text: str) -> dict:
    """The fields to add, from the config; raises ValueError with a message."""
    config = json.loads(text)
    if not isinstance(config, dict) or set(config) != {"add"}:
        raise ValueError('the config must be {"add": {...}}')
    if not isinstance(config["add"], dict):
        raise ValueError("`add` must be a table of fields")
    return config["add"]


def with_fields(body: bytes, add: dict) -> bytes:
    """The body with the fields added at its top level: the exact bytes sent.
    Raises ValueError when the body is not a JSON object."""
    try:
        parsed = json.loads(body)
    except ValueError as e:
        raise ValueError(f"the body is not JSON: {e}")
    if not isinstance(parsed, dict):
        raise ValueError("the body is not a JSON object")
    parsed.update(add)
    return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False).encode()
