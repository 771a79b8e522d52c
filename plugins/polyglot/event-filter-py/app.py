"""event-filter, in Python: keep or drop events by their type.

A Switchyard plugin for the `filter-plugin` world of `switchyard:plugin@0.1.0`,
built into a WebAssembly component with componentize-py. It behaves like the
Rust `event-filter` example:

    {"allow": ["order.*", "invoice.paid"], "deny": ["order.test.*"]}

keeps an event iff (`allow` is empty or one of its globs matches the event type)
and none of the `deny` globs matches. In a glob `*` matches any run of characters
(dots included) and `?` exactly one character; everything else matches itself.

The host calls `init` once on each new instance, which then serves many calls,
so the parsed config lives in module globals set by `init`.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.types import Event

_KNOWN_FIELDS = ("allow", "deny")

# The parsed config, set by `init`.
_allow: list[str] = []
_deny: list[str] = []


def glob_match(pattern: str, text: str) -> bool:
    """Whether `text` matches `pattern` in full (`*`: any run, `?`: one char).

    Iterative, with backtracking to the last `*` only, so it is linear in
    practice and never recursive: O(len(pattern) * len(text)) at worst.
    """
    p = t = 0
    star = -1  # index in pattern just after the last `*` seen
    star_t = 0  # index in text where that `*` started matching
    while t < len(text):
        if p < len(pattern) and pattern[p] == "*":
            star = p + 1
            star_t = t
            p += 1
        elif p < len(pattern) and (pattern[p] == "?" or pattern[p] == text[t]):
            p += 1
            t += 1
        elif star >= 0:
            # Let the last `*` swallow one more character and retry.
            star_t += 1
            t = star_t
            p = star
        else:
            return False
    # The text is used up: what is left of the pattern must be all stars.
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)


def _no_duplicates(pairs):
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"duplicate field `{key}`")
        seen.add(key)
    return dict(pairs)


def _glob_list(config: dict, field: str) -> list[str]:
    if field not in config:
        return []
    value = config[field]
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise ValueError(f"`{field}` must be a list of glob strings")
    return list(value)


def parse_config(text: str) -> tuple[list[str], list[str]]:
    """Parse and check the config; raises ValueError with a message."""
    try:
        config = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise ValueError("must be a JSON object")
    for key in config:
        if key not in _KNOWN_FIELDS:
            raise ValueError(f"unknown field `{key}`, expected `allow` or `deny`")
    return _glob_list(config, "allow"), _glob_list(config, "deny")


def keeps(event_type: str, allow: list[str], deny: list[str]) -> bool:
    allowed = not allow or any(glob_match(g, event_type) for g in allow)
    return allowed and not any(glob_match(g, event_type) for g in deny)


class Init(exports.Init):
    def init(self, config: str) -> None:
        global _allow, _deny
        try:
            _allow, _deny = parse_config(config)
        except ValueError as e:
            # Worded as the Rust SDK words a config error.
            raise Err(f"invalid config: {e}")


class Filter(exports.Filter):
    def filter(self, event: Event) -> bool:
        keep = keeps(event.event_type, _allow, _deny)
        if not keep:
            log.log(
                log.Level.DEBUG,
                f"event-filter: dropping event {event.id} of type {event.event_type}",
            )
        return keep
