"""{{name}}: a Switchyard classify plugin, in Python. It dead-letters at once the
attempts whose HTTP status is in the configured list, and leaves every other
answer to the next classifier or the router's built-in rule:

    plugins = [{ path = "{{name}}.wasm", config = { permanent = [400, 404, 410, 422] } }]

The router calls `init` once on each new instance, which then serves many calls,
so the parsed config lives in module globals set by `init`. The logic is in
logic.py, plain Python tested natively; this file adapts it to the contract.
"""

from componentize_py_types import Err
from logic import parse_config, permanent_reason
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
        if isinstance(outcome, Outcome_Response):
            reason = permanent_reason(outcome.value.status, _permanent)
            if reason is not None:
                return Verdict_Permanent(reason)
        return Verdict_Default()
