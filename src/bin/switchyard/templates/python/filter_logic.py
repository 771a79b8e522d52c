"""{{name}}'s logic, in plain Python: nothing here imports the component's
bindings, so `python3 -m unittest` tests it natively (test_logic.py)."""

import json


def parse_config(text: str) -> list[str]:
    """The prefixes from the config; raises ValueError with a message."""
    config = json.loads(text)
    if not isinstance(config, dict) or set(config) != {"prefixes"}:
        raise ValueError('the config must be {"prefixes": [...]}')
    prefixes = config["prefixes"]
    if not prefixes or not all(isinstance(p, str) for p in prefixes):
        raise ValueError("`prefixes` must list at least one prefix")
    return prefixes


def keeps(event_type: str, prefixes: list[str]) -> bool:
    """Whether an event of this type is delivered."""
    return any(event_type.startswith(p) for p in prefixes)
