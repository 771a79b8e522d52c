"""{{name}}: a Switchyard classify plugin, in Python. It dead-letters at once the
attempts whose HTTP status is in the configured list, and leaves every other
answer to the next classifier or the router's built-in rule:

    plugins = [{ path = "{{name}}.wasm", config = { permanent = [400, 404, 410, 422] } }]

The router calls `init` once on each new instance, which then serves many calls,
so the parsed config lives in module globals set by `init`.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports.types import (
    Attempt,
    Event,
    Outcome_Response,
    Verdict,
    Verdict_Default,
    Verdict_Permanent,
)

_permanent: list[int] = []


def parse_config(text: str) -> list[int]:
    """The permanent statuses, from the config; raises ValueError with a message."""
    config = json.loads(text)
    if not isinstance(config, dict) or set(config) != {"permanent"}:
        raise ValueError('the config must be {"permanent": [...]}')
    statuses = config["permanent"]
    if not all(isinstance(s, int) and 100 <= s <= 599 for s in statuses):
        raise ValueError("`permanent` must list HTTP statuses")
    return statuses


class Init(exports.Init):
    def init(self, config: str) -> None:
        global _permanent
        try:
            _permanent = parse_config(config)
        except ValueError as e:  # json.JSONDecodeError is one too
            raise Err(f"invalid config: {e}")


class Classify(exports.Classify):
    def classify(self, event: Event, attempt: Attempt) -> Verdict:
        """Verdict_Success(), Verdict_Retry(ms or None), Verdict_Permanent(reason),
        or Verdict_Default(): no opinion, ask the next classifier."""
        outcome = attempt.outcome
        if isinstance(outcome, Outcome_Response) and outcome.value.status in _permanent:
            return Verdict_Permanent(f"the receiver answered HTTP {outcome.value.status}")
        return Verdict_Default()
