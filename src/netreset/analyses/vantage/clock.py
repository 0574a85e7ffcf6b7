"""Clock offset and drift between two captures, from packets both of them hold.

A packet travelling from capture point A to capture point B is stamped ``t_a`` by A's clock and
``t_b`` by B's: ``t_b − t_a = offset + drift·(t_a − t0) + delay``. A packet going the other way gives
``offset + drift·(t_a − t0) − delay``. With both directions the one-way delay separates from the offset
(NTP's reasoning, assuming a symmetric path); with one direction only the offset includes the delay and
the fit says so (``method = "one_way"``). The fit is least squares on every matched pair, repeated
without the pairs whose residual exceeds ``OUTLIER_MADS`` median absolute deviations (a packet queued
for a while, a capture buffer flushed late), and it reports the residuals so a person can judge it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_DRIFT_SPAN_S = 1.0  #: fit a drift only when the matched packets span at least this long
MIN_DRIFT_PAIRS = 4  #: ... and there are at least this many of them
OUTLIER_MADS = 5.0  #: residuals beyond this many median absolute deviations are dropped, once
MIN_OUTLIER_S = 20e-6  #: never call a residual below this an outlier (timestamp granularity)
DRIFT_SIGNIFICANCE = 3.0  #: keep a fitted drift only when it exceeds this many standard errors


@dataclass(frozen=True)
class ClockFit:
    """B's clock relative to A's: ``t_b ≈ t_a + offset + drift·(t_a − reference)``."""

    offset_s: float | None  #: B minus A at ``reference_ts``, seconds; None without matched packets
    drift_ppm: float  #: how fast B's clock gains on A's, parts per million (0 when not fitted or not significant)
    drift_stderr_ppm: float | None  #: standard error of the fitted drift (None when no drift was fitted)
    one_way_delay_s: float | None  #: A→B travel time (symmetric path assumed); None when not separable
    reference_ts: float  #: A time the offset refers to, seconds since the epoch
    pairs: int  #: matched packets used
    outliers: int  #: matched packets left out of the final fit
    residual_median_s: float  #: median |residual| of the final fit, seconds
    residual_max_s: float  #: largest |residual| of the final fit, seconds
    method: str  #: "two_way" (delay separated), "one_way" (offset includes the delay), "none"

    def b_to_a_ns(self, ts_b_ns: np.ndarray) -> np.ndarray:
        """B timestamps (ns) expressed on A's clock (ns); unchanged when nothing was fitted."""
        ts_b = np.asarray(ts_b_ns, dtype=np.int64)
        if self.offset_s is None:
            return ts_b
        ref = int(round(self.reference_ts * 1e9))
        rate = 1.0 + self.drift_ppm * 1e-6
        return ref + np.round((ts_b - ref - self.offset_s * 1e9) / rate).astype(np.int64)

    def to_dict(self) -> dict:
        return {
            "offset_s": None if self.offset_s is None else round(self.offset_s, 9),
            "drift_ppm": round(self.drift_ppm, 3),
            "drift_stderr_ppm": None if self.drift_stderr_ppm is None else round(self.drift_stderr_ppm, 3),
            "one_way_delay_s": None if self.one_way_delay_s is None else round(self.one_way_delay_s, 9),
            "reference_ts": round(self.reference_ts, 6), "pairs": self.pairs, "outliers": self.outliers,
            "residual_median_s": round(self.residual_median_s, 9), "residual_max_s": round(self.residual_max_s, 9),
            "method": self.method,
        }


NO_FIT = ClockFit(None, 0.0, None, None, 0.0, 0, 0, 0.0, 0.0, "none")


def _design(t_s: np.ndarray, toward_b: np.ndarray, with_drift: bool, two_way: bool) -> np.ndarray:
    columns = [np.ones_like(t_s)]
    if with_drift:
        columns.append(t_s)
    if two_way:
        columns.append(np.where(toward_b, 1.0, -1.0))
    return np.column_stack(columns)


def _solve(t_s, delta_s, toward_b, with_drift, two_way) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least squares; also the coefficients' standard errors (zeros when there is no spare pair)."""
    design = _design(t_s, toward_b, with_drift, two_way)
    coef, *_ = np.linalg.lstsq(design, delta_s, rcond=None)
    resid = delta_s - design @ coef
    spare = len(delta_s) - design.shape[1]
    if spare <= 0:
        return coef, resid, np.zeros_like(coef)
    covariance = np.linalg.pinv(design.T @ design) * float(resid @ resid) / spare
    return coef, resid, np.sqrt(np.clip(np.diag(covariance), 0.0, None))


def _drift_is_real(coef: np.ndarray, stderr: np.ndarray) -> bool:
    return abs(float(coef[1])) > DRIFT_SIGNIFICANCE * float(stderr[1])


def fit_clock(ts_a_ns: np.ndarray, ts_b_ns: np.ndarray, toward_b: np.ndarray) -> ClockFit:
    """Fit B's clock against A's from matched packets (``toward_b``: the packet travelled A → B)."""
    ts_a = np.asarray(ts_a_ns, dtype=np.int64)
    if not len(ts_a):
        return NO_FIT
    toward_b = np.asarray(toward_b, dtype=bool)
    ref = int(ts_a.min())
    t_s = (ts_a - ref) / 1e9
    delta_s = (np.asarray(ts_b_ns, dtype=np.int64) - ts_a) / 1e9
    two_way = bool(toward_b.any() and (~toward_b).any())
    with_drift = len(ts_a) >= MIN_DRIFT_PAIRS and float(np.ptp(t_s)) >= MIN_DRIFT_SPAN_S
    keep = np.ones(len(ts_a), dtype=bool)
    coef, resid, _ = _solve(t_s, delta_s, toward_b, with_drift, two_way)
    mad = float(np.median(np.abs(resid - np.median(resid))))
    outlier = np.abs(resid) > max(OUTLIER_MADS * mad, MIN_OUTLIER_S)
    if outlier.any() and (~outlier).sum() >= 2:
        keep = ~outlier
        two_way = bool(toward_b[keep].any() and (~toward_b[keep]).any())
    fitted = _solve(t_s[keep], delta_s[keep], toward_b[keep], with_drift, two_way)
    coef, resid, stderr = fitted
    drift_stderr = float(stderr[1]) * 1e6 if with_drift else None
    if with_drift and not _drift_is_real(coef, stderr):
        coef, resid, _ = _solve(t_s[keep], delta_s[keep], toward_b[keep], False, two_way)
        with_drift = False
    drift = float(coef[1]) if with_drift else 0.0
    delay = float(coef[-1]) if two_way else None
    return ClockFit(
        offset_s=float(coef[0]), drift_ppm=drift * 1e6, drift_stderr_ppm=drift_stderr, one_way_delay_s=delay,
        reference_ts=ref / 1e9,
        pairs=int(keep.sum()), outliers=int((~keep).sum()),
        residual_median_s=float(np.median(np.abs(resid))), residual_max_s=float(np.abs(resid).max()),
        method="two_way" if two_way else "one_way",
    )
