"""Which operating system's SYN retransmission schedule a sequence of SYN gaps matches.

A client whose SYN gets no answer retransmits it on a timer that doubles (or, on Linux >= 6.5 and
macOS, stays at 1 s for a few rounds first). The gaps between the SYNs in a capture therefore name
the client's TCP stack — and tell "the client gave up after its normal retries" from "the capture
was cut short". The schedules, with their sources, live in ``data/syn_schedules.toml``.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Sequence

from netreset.errors import UsageError
from netreset.analyses.ttl import initial_ttl


@dataclass(frozen=True)
class SynSchedule:
    """One stack's SYN retransmission timer, as documented by its sources."""

    name: str  #: stable identifier ("linux_exponential")
    label: str  #: for people ("Linux exponential backoff (1, 2, 4, 8 s)")
    gaps_s: tuple[float, ...]  #: seconds between consecutive SYNs; the last one repeats (RTO cap)
    default_syns: int  #: SYNs sent by default before the attempt fails (first one included)
    initial_ttl: int  #: the stack's default TTL / hop limit (breaks ties between identical gaps)
    source: str  #: where the numbers come from

    def expected(self, count: int) -> tuple[float, ...]:
        """The first ``count`` gaps, repeating the capped last gap when more are asked for."""
        gaps = self.gaps_s[:count]
        return gaps + (self.gaps_s[-1],) * (count - len(gaps))


@dataclass(frozen=True)
class ScheduleTable:
    """Every known schedule plus how far a measured gap may stray and still match."""

    schedules: tuple[SynSchedule, ...]
    tolerance_abs_s: float  #: absolute tolerance per gap, seconds
    tolerance_rel: float  #: relative tolerance per gap (fraction of the expected gap)

    def tolerance(self, expected_s: float) -> float:
        return max(self.tolerance_abs_s, self.tolerance_rel * expected_s)


@dataclass(frozen=True)
class ScheduleMatch:
    """The schedule closest to the measured gaps (every gap within tolerance)."""

    name: str  #: the schedule's name
    label: str  #: the schedule's label
    error_s: float  #: mean absolute difference between measured and expected gaps, seconds
    max_error_s: float  #: largest single-gap difference, seconds
    also_fits: tuple[str, ...]  #: labels of schedules with the very same gaps that nothing tells apart


def _parse(data: dict, origin: str) -> ScheduleTable:
    try:
        schedules = tuple(
            SynSchedule(
                name=str(s["name"]),
                label=str(s.get("label", s["name"])),
                gaps_s=tuple(float(g) for g in s["gaps_s"]),
                default_syns=int(s.get("default_syns", 0)),
                initial_ttl=int(s.get("initial_ttl", 0)),
                source=str(s.get("source", "")),
            )
            for s in data.get("schedule", [])
        )
        table = ScheduleTable(schedules, float(data.get("tolerance_abs_s", 0.15)), float(data.get("tolerance_rel", 0.15)))
    except (KeyError, TypeError, ValueError) as err:
        raise UsageError(f"{origin}: malformed SYN schedule table ({err!r})") from None
    if any(not s.gaps_s or min(s.gaps_s) <= 0 for s in schedules):
        raise UsageError(f"{origin}: every schedule needs positive gaps_s")
    return table


@functools.cache
def default_schedules() -> ScheduleTable:
    """The table shipped with netreset (``netreset/data/syn_schedules.toml``), parsed once."""
    text = resources.files("netreset").joinpath("data/syn_schedules.toml").read_text(encoding="utf-8")
    return _parse(tomllib.loads(text), "netreset/data/syn_schedules.toml")


def load_schedules(path: str | Path) -> ScheduleTable:
    """A schedule table from a TOML file of the same layout as the shipped one."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"{path}: cannot read SYN schedule table ({err})") from None
    return _parse(data, str(path))


def _fit(schedule: SynSchedule, gaps: Sequence[float], table: ScheduleTable) -> tuple[float, float] | None:
    """(mean, max) absolute error of ``gaps`` against ``schedule``; None when a gap is out of tolerance."""
    expected = schedule.expected(len(gaps))
    errors = [abs(g - e) for g, e in zip(gaps, expected)]
    if any(err > table.tolerance(e) for err, e in zip(errors, expected)):
        return None
    return sum(errors) / len(errors), max(errors)


def match_schedule(
    gaps_s: Sequence[float], syn_ttl: int | None = None, table: ScheduleTable | None = None
) -> ScheduleMatch | None:
    """The best-fitting schedule for the measured SYN gaps, or None when no schedule fits.

    Schedules whose gaps are identical so far (Linux 1/2/4 s vs. Windows with a 1 s RTO) cannot be
    told apart by timing; two weaker clues break the tie: a schedule that would have given up before
    sending this many SYNs needs a non-default setting, and the SYN's TTL points to a stack family
    (initial 64 vs. 128). Schedules that remain tied are reported in ``also_fits``.
    """
    table = table or default_schedules()
    gaps = [float(g) for g in gaps_s]
    if not gaps:
        return None
    syn_initial = initial_ttl(syn_ttl) if syn_ttl is not None and syn_ttl >= 0 else None
    ranked = []
    for order, schedule in enumerate(table.schedules):
        fit = _fit(schedule, gaps, table)
        if fit is None:
            continue
        too_many = schedule.default_syns and len(gaps) + 1 > schedule.default_syns
        wrong_ttl = syn_initial is not None and schedule.initial_ttl and schedule.initial_ttl != syn_initial
        ranked.append(((round(fit[0], 6), bool(too_many), bool(wrong_ttl), order), schedule, fit))
    if not ranked:
        return None
    ranked.sort(key=lambda item: item[0])
    best_key, best, (mean_err, max_err) = ranked[0]
    same = [s.label for key, s, _ in ranked[1:] if key[:3] == best_key[:3] and s.expected(len(gaps)) == best.expected(len(gaps))]
    return ScheduleMatch(best.name, best.label, mean_err, max_err, tuple(same))
