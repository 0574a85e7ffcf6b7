"""What a TTL (IPv4) or hop limit (IPv6) seen at the capture point says about the device that sent it.

Hosts start their packets at a small set of default TTLs (64 Linux-like, 128 Windows, 255 network gear,
32 legacy Windows) and every router on the way subtracts one. So the smallest default at or above the
observed value is the sender's most likely initial TTL, and the difference counts the routers between
the sender and the capture point — p0f's ``guess_dist`` and nmap's TG test. The knowledge (defaults and
families) lives in ``data/ttl.toml`` so a network team can teach it about its own gear.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from netreset.errors import UsageError


@dataclass(frozen=True)
class TtlTable:
    """Default initial TTLs and what each says about the sender (see ``data/ttl.toml``)."""

    initial_ttls: tuple[int, ...]  #: sorted defaults, e.g. (32, 64, 128, 255)
    max_routers: int  #: more routers than this ⇒ the guess is ambiguous (p0f MAX_DIST)
    families: dict[int, str]  #: initial TTL → human description of the stacks that use it
    labels: dict[int, str]  #: initial TTL → one-word label ("linux-like", "windows", ...)


@dataclass(frozen=True)
class TtlGuess:
    """One observed TTL, read with a :class:`TtlTable`."""

    observed: int  #: TTL / hop limit as received at the capture point
    initial: int  #: most likely initial TTL of the sender
    routers_between: int  #: routers between sender and capture point (initial − observed)
    traceroute_hop: int  #: hop at which a traceroute from the capture point reaches the sender
    family: str  #: one-word label of the stacks that start at ``initial`` ("linux-like", ...)
    ambiguous: bool  #: more routers than plausible: the sender may use a non-default initial TTL

    def describe(self) -> str:
        """``TTL 61 (initial 64, 3 routers away)`` — observed, initial and hops always together."""
        routers = "router" if self.routers_between == 1 else "routers"
        text = f"TTL {self.observed} (initial {self.initial}, {self.routers_between} {routers} away"
        return text + (", ambiguous)" if self.ambiguous else ")")


def _parse_table(data: dict, base: TtlTable | None, origin: str) -> TtlTable:
    """Build a table from parsed TOML; keys missing from ``data`` keep ``base``'s values."""
    try:
        initial = tuple(sorted(int(v) for v in data.get("initial_ttls", base.initial_ttls if base else ())))
        max_routers = int(data.get("max_routers", base.max_routers if base else 35))
        families = {**(base.families if base else {}), **{int(k): str(v) for k, v in data.get("families", {}).items()}}
        labels = {**(base.labels if base else {}), **{int(k): str(v) for k, v in data.get("labels", {}).items()}}
    except (TypeError, ValueError, AttributeError) as err:
        raise UsageError(f"{origin}: malformed TTL table ({err})") from None
    if not initial or initial[0] < 1 or initial[-1] > 255:
        raise UsageError(f"{origin}: initial_ttls must be a non-empty list of values in 1..255")
    return TtlTable(initial, max_routers, families, labels)


@functools.cache
def default_ttl_table() -> TtlTable:
    """The table shipped with netreset (``netreset/data/ttl.toml``), parsed once per process."""
    text = resources.files("netreset").joinpath("data/ttl.toml").read_text(encoding="utf-8")
    return _parse_table(tomllib.loads(text), None, "netreset/data/ttl.toml")


def load_ttl_table(path: str | Path | None = None) -> TtlTable:
    """The shipped table, overridden key by key by the TOML file at ``path`` (``--ttl-table``)."""
    base = default_ttl_table()
    if path is None:
        return base
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"{path}: cannot read TTL table ({err})") from None
    return _parse_table(data, base, str(path))


def _table(table: TtlTable | None) -> TtlTable:
    return table if table is not None else default_ttl_table()


def initial_ttl(observed: int, table: TtlTable | None = None) -> int:
    """Smallest default initial TTL ≥ ``observed`` (the largest default when none is)."""
    defaults = _table(table).initial_ttls
    return next((d for d in defaults if d >= observed), defaults[-1])


def guess_ttl(observed: int, table: TtlTable | None = None) -> TtlGuess:
    """Read one observed TTL: initial TTL, routers between, traceroute hop, family, ambiguity."""
    if not 0 <= observed <= 255:
        raise ValueError(f"TTL out of range: {observed}")
    table = _table(table)
    start = initial_ttl(observed, table)
    routers = max(start - observed, 0)
    return TtlGuess(
        observed=observed,
        initial=start,
        routers_between=routers,
        traceroute_hop=routers + 1,
        family=table.labels.get(start, f"initial-{start}"),
        ambiguous=routers > table.max_routers,
    )


def family_description(initial: int, table: TtlTable | None = None) -> str:
    """The longer description of the stacks that start at ``initial`` ("Windows", ...)."""
    return _table(table).families.get(initial, f"stacks with initial TTL {initial}")
