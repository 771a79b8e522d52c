"""{{name}}'s logic, in plain Python: nothing here imports the component's
bindings, so `python3 -m unittest` tests it natively (test_logic.py)."""

import json


def parse_config(text: str) -> list[int]:
    """The permanent statuses, from the config; raises ValueError with a message."""
    config = json.loads(text)
    if not isinstance(config, dict) or set(config) != {"permanent"}:
        raise ValueError('the config must be {"permanent": [...]}')
    statuses = config["permanent"]
    if not all(isinstance(s, int) and 100 <= s <= 599 for s in statuses):
        raise ValueError("`permanent` must list HTTP statuses")
    return statuses


def permanent_reason(status: int, permanent: list[int]) -> str | None:
    """Why an answer with this status is dead-lettered now, or None: no opinion."""
    if status in permanent:
        return f"the receiver answered HTTP {status}"
    return None
