"""Known middlebox idle timeouts (``data/idle_timeouts.toml``, overridable with ``--idle-timeouts``) and which of
them a measured silence matches.

A device that forgets an idle connection does so a fixed time after its last packet; the connection notices
only when the application next sends, which may be any time later. So a silence says "the timeout is at most
this long", and it *points at* a default only when it is just above it: ``T ≤ silence ≤ T + tolerance``, the
tolerance :data:`MATCH_TOLERANCE_S` or :data:`MATCH_TOLERANCE_FRACTION` of ``T``, whichever is larger (a
silence of 245 s matches Azure's 240 s; 21.8 s matches a 20 s configured timeout but no vendor default). A
silence that the same conversation survived before (a longer pause answered normally) rules out every timeout
shorter than it.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from netreset.errors import UsageError

#: A silence matches a timeout T when T ≤ silence ≤ T + max(MATCH_TOLERANCE_S, MATCH_TOLERANCE_FRACTION × T):
#: the application's next packet after the expiry comes at its own time (a poll interval, a user), so a few
#: seconds or a tenth above T is "just after it"; far above, the silence says only that the timeout is shorter.
MATCH_TOLERANCE_S = 5.0
MATCH_TOLERANCE_FRACTION = 0.10
ON_EXPIRY = ("reset", "silent", "reset_optional", "unknown")


@dataclass(frozen=True)
class IdleDefault:
    """One device's idle timeout (see ``data/idle_timeouts.toml``)."""

    id: str
    device: str
    setting: str
    timeout_s: float
    on_expiry: str
    source: str

    def to_dict(self) -> dict:
        return {"id": self.id, "device": self.device, "setting": self.setting, "timeout_s": self.timeout_s,
                "on_expiry": self.on_expiry, "source": self.source}


def _entries(data: dict, origin: str) -> list[IdleDefault]:
    out = []
    try:
        for item in data.get("default", []):
            timeout = float(item["timeout_s"])
            on_expiry = str(item.get("on_expiry", "unknown"))
            if timeout <= 0 or on_expiry not in ON_EXPIRY:
                raise ValueError(f"entry {item.get('id')!r}: timeout_s must be > 0 and on_expiry one of "
                                 f"{', '.join(ON_EXPIRY)}")
            out.append(IdleDefault(str(item["id"]), str(item.get("device", item["id"])), str(item.get("setting", "")),
                                   timeout, on_expiry, str(item.get("source", ""))))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise UsageError(f"{origin}: malformed idle-timeout table ({err})") from None
    return out


@functools.cache
def default_idle_timeouts() -> tuple[IdleDefault, ...]:
    """The shipped table, parsed once per process."""
    text = resources.files("netreset").joinpath("data/idle_timeouts.toml").read_text(encoding="utf-8")
    return tuple(_entries(tomllib.loads(text), "netreset/data/idle_timeouts.toml"))


def load_idle_timeouts(path: str | Path | None = None) -> tuple[IdleDefault, ...]:
    """The shipped table with the file at ``path`` (``--idle-timeouts``) applied: an entry with a shipped id
    replaces it, a new id is added, ``remove = [ids]`` drops shipped entries."""
    base = default_idle_timeouts()
    if path is None:
        return base
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"{path}: cannot read idle-timeout table ({err})") from None
    mine = _entries(data, str(path))
    removed = data.get("remove", [])
    if not isinstance(removed, list):
        raise UsageError(f"{path}: remove must be a list of entry ids")
    dropped = {str(r) for r in removed} | {e.id for e in mine}
    return tuple([e for e in base if e.id not in dropped] + mine)


def tolerance(timeout_s: float) -> float:
    return max(MATCH_TOLERANCE_S, MATCH_TOLERANCE_FRACTION * timeout_s)


def matching_defaults(silence_s: float, table=None, survived_s: float | None = None) -> list[IdleDefault]:
    """The entries of ``table`` (default: shipped) that ``silence_s`` matches (just above their timeout, see the
    module docstring), leaving out any shorter than a silence the connection survived (``survived_s``);
    shortest timeout first."""
    table = default_idle_timeouts() if table is None else table
    return sorted((e for e in table if e.timeout_s <= silence_s <= e.timeout_s + tolerance(e.timeout_s)
                   and (survived_s is None or e.timeout_s > survived_s)), key=lambda e: (e.timeout_s, e.id))
