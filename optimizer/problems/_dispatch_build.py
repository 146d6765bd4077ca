"""Construction of a :class:`~optimizer.problems.dispatch.Dispatch`: units, levels, windows, variables.

The power quantum, the output levels and their costs, the balance and
state-of-charge windows (with their slack encodings), the minimum up/down
times, the ramp pairs and the QUBO's variable layout; see the module docstring
of :mod:`optimizer.problems.dispatch` for the model.  :class:`_DispatchBuild` is
mixed into ``Dispatch``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from optimizer.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.grid import Unit

# the public module's logger, as before the split
log = logging.getLogger("optimizer.problems.dispatch")

_EPS = 1e-9


def nice_quantum(x: float) -> float:
    """The largest of ``{1, 2, 2.5, 5} x 10**k`` not above ``x``.

    Examples
    --------
    >>> nice_quantum(8.3), nice_quantum(0.034), nice_quantum(60.0)
    (5.0, 0.025, 50.0)
    """
    if not x > 0 or not math.isfinite(x):
        msg = f"quantum must be a positive number, got {x!r}"
        raise InvalidInputError(msg)
    e = math.floor(math.log10(x))
    best = 10.0**e
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * 10.0**e <= x * (1 + 1e-12):
            best = m * 10.0**e
    return float(f"{best:.12g}")


def slack_coefficients(r: int) -> tuple[int, ...]:
    """Bounded-coefficient binary encoding of an integer in ``0..r``: sums cover exactly ``0..r``.

    Examples
    --------
    >>> slack_coefficients(0), slack_coefficients(3), slack_coefficients(5), slack_coefficients(8)
    ((), (1, 2), (1, 2, 2), (1, 2, 4, 1))
    """
    out: list[int] = []
    total, c = 0, 1
    while total + c <= r:
        out.append(c)
        total += c
        c *= 2
    if r - total > 0:
        out.append(r - total)
    return tuple(out)


@dataclass(frozen=True)
class Window:
    """``lo <= expr <= hi`` over an integer expression, with its slack bits (empty when it never binds)."""

    lo: int
    hi: int
    slack: tuple[int, ...]  # coefficients
    binding: bool


class _DispatchBuild:
    """Building the discrete model's data (mixed into ``Dispatch``)."""

    @staticmethod
    def _check_unit(u: Unit) -> None:
        vals = {"p_min_mw": u.p_min_mw, "p_max_mw": u.p_max_mw, "startup_eur": u.startup_eur}
        for k, v in vals.items():
            if not math.isfinite(v):
                msg = f"unit {u.name!r}: {k} must be finite, got {v!r}"
                raise InvalidInputError(msg)
        if u.p_max_mw < u.p_min_mw:
            msg = f"unit {u.name!r}: p_max_mw {u.p_max_mw:g} is below p_min_mw {u.p_min_mw:g}"
            raise InvalidInputError(msg)
        if u.startup_eur < 0:
            msg = f"unit {u.name!r}: startup_eur must be >= 0, got {u.startup_eur:g}"
            raise InvalidInputError(msg)
        if u.kind != "ext_grid" and u.p_max_mw <= 0:
            msg = f"unit {u.name!r}: p_max_mw must be > 0, got {u.p_max_mw:g}"
            raise InvalidInputError(msg)
        if u.ramp_mw_per_h is not None and u.ramp_mw_per_h < 0:
            msg = f"unit {u.name!r}: ramp_mw_per_h must be >= 0, got {u.ramp_mw_per_h:g}"
            raise InvalidInputError(msg)
        if u.cost.pwl and not u.cost.pwl_convex():
            log.warning("unit %s has a non-convex pwl_cost: the continuous bound will refuse it", u.name)

    def _default_quantum(self, discrete: Sequence[Unit]) -> float:
        steps = []
        for u in discrete:
            lo = 0.0 if u.is_storage else max(0.0, u.p_min_mw)
            span = u.p_max_mw - lo if lo > 0 else u.p_max_mw
            steps.append(span / self.levels if span > 0 else u.p_max_mw)
        return nice_quantum(min(steps) / 4.0)

    def _build_levels(self) -> None:
        q, L = self.quantum_mw, self.levels
        level_q: list[tuple[int, ...]] = []
        for u in self.discrete:
            if u.is_storage:
                top = math.floor(u.p_max_mw / q + _EPS)
                if top < 1:
                    msg = (f"storage {u.name!r} (p_max {u.p_max_mw:g} MW) is below one quantum_mw={q:g}; "
                           "choose a smaller quantum_mw")
                    raise InvalidInputError(msg)
                ks = sorted({min(max(round(u.p_max_mw * k / L / q), 1), top) for k in range(1, L + 1)})
                level_q.append(tuple(ks) + tuple(-k for k in ks))
                continue
            lo_mw = max(0.0, u.p_min_mw)
            lo, hi = max(1, math.ceil(lo_mw / q - _EPS)), math.floor(u.p_max_mw / q + _EPS)
            if hi < lo:
                msg = (f"unit {u.name!r} ({u.p_min_mw:g}..{u.p_max_mw:g} MW) has no output level on the "
                       f"quantum_mw={q:g} grid; choose a smaller quantum_mw")
                raise InvalidInputError(msg)
            ks = sorted({min(max(round((lo_mw + (u.p_max_mw - lo_mw) * k / L) / q), lo), hi) for k in range(1, L + 1)})
            level_q.append(tuple(ks))
        self.level_quanta: tuple[tuple[int, ...], ...] = tuple(level_q)
        self.level_mw: tuple[tuple[float, ...], ...] = tuple(tuple(k * q for k in ks) for ks in level_q)
        T = self.periods
        # cost of each unit, period and level (EUR for the period), start-ups apart
        self.level_cost: tuple[np.ndarray, ...] = tuple(
            np.array([[u.period_cost_eur(p, self.profile.hours(t)) for p in self.level_mw[i]] for t in range(T)])
            for i, u in enumerate(self.discrete))
        # ext grid shares and limits
        if self.ext_units:
            caps = np.array([max(u.p_max_mw, 0.0) for u in self.ext_units])
            if caps.sum() <= 0:
                msg = "the external grid(s) have no import capacity (max_p_mw <= 0); use balancing='spill'"
                raise InvalidInputError(msg)
            self.ext_share = caps / caps.sum()
            with np.errstate(divide="ignore"):
                lows = [u.p_min_mw / w if w > 0 else -math.inf for u, w in zip(self.ext_units, self.ext_share)]
                highs = [u.p_max_mw / w if w > 0 else math.inf for u, w in zip(self.ext_units, self.ext_share)]
            self.import_min_mw, self.import_max_mw = float(max(lows)), float(min(highs))
            for u in self.ext_units:
                if u.cost.pwl:
                    msg = (f"external grid {u.name!r} has a pwl_cost; the balancing import needs a polynomial "
                           "cost: use balancing='spill' to dispatch it in levels")
                    raise InvalidInputError(msg)
                if u.cost.c2 < 0:
                    msg = f"external grid {u.name!r} has a negative quadratic cost; it must be convex"
                    raise InvalidInputError(msg)
        else:
            self.ext_share = np.zeros(0)
            self.import_min_mw = self.import_max_mw = 0.0

    def _window(self, lo: float, hi: float, reach_lo: int, reach_hi: int, what: str) -> Window:
        ilo = -math.inf if lo == -math.inf else math.ceil(lo - _EPS)
        ihi = math.inf if hi == math.inf else math.floor(hi + _EPS)
        blo, bhi = max(ilo, reach_lo), min(ihi, reach_hi)
        if blo > bhi:
            raise InvalidInputError(what)
        binding = blo > reach_lo or bhi < reach_hi
        return Window(int(blo), int(bhi), slack_coefficients(int(bhi - blo)) if binding else (), binding)

    def _build_windows(self) -> None:
        q, T = self.quantum_mw, self.periods
        net = self.profile.net_load_mw
        reach_lo = sum(min(0, min(ks)) for ks in self.level_quanta)
        reach_hi = sum(max(0, max(ks)) for ks in self.level_quanta)
        self.supply_range_q = (reach_lo, reach_hi)
        wins = []
        for t in range(T):
            d = float(net[t])
            if self.balancing == "ext_grid":
                lo, hi = (d - self.import_max_mw) / q, (d - self.import_min_mw) / q
                what = (f"infeasible day: in period {t} the net load {d:.6g} MW is outside what the units "
                        f"({reach_lo * q:.6g}..{reach_hi * q:.6g} MW) and the external grid's import limits "
                        f"({self.import_min_mw:.6g}..{self.import_max_mw:.6g} MW) can balance; lower the demand "
                        "(load_scale) or add units")
            else:
                lo = d / q
                hi = math.inf if self.spill_max_mw is None else (d + self.spill_max_mw) / q
                what = (f"infeasible day: in period {t} the net load {d:.6g} MW needs a supply the units cannot give "
                        f"(they reach {reach_lo * q:.6g}..{reach_hi * q:.6g} MW in steps of {q:g} MW"
                        + ("" if self.spill_max_mw is None else f", at most {self.spill_max_mw:g} MW above demand")
                        + "); lower the demand (load_scale), add units, or raise spill_max_mw / levels")
            wins.append(self._window(lo, hi, reach_lo, reach_hi, what))
        self.balance_windows: tuple[Window, ...] = tuple(wins)
        # storage: cumulative net discharge C_t in energy quanta
        eq = q * self.dt_h
        soc = {}
        for i, u in enumerate(self.discrete):
            if not u.is_storage:
                continue
            qmax = max(self.level_quanta[i])
            e0 = round(u.e_init_mwh / eq)
            e_lo, e_hi = round(u.e_min_mwh / eq), round(u.e_max_mwh / eq)
            ws = []
            for t in range(T):
                lo = e0 - e_hi
                hi = min(e0 - e_lo, 0) if t == T - 1 else e0 - e_lo
                what = f"storage {u.name!r} cannot end the day at or above its initial energy"
                ws.append(self._window(lo, hi, -(t + 1) * qmax, (t + 1) * qmax, what))
            soc[i] = tuple(ws)
        self.soc_windows: dict[int, tuple[Window, ...]] = soc
        # minimum up/down (periods) and ramps (MW per period)
        self.min_up = tuple(max(1, math.ceil((u.min_up_h or 0) / self.dt_h - _EPS)) if not u.is_storage else 1
                            for u in self.discrete)
        self.min_down = tuple(max(1, math.ceil((u.min_down_h or 0) / self.dt_h - _EPS)) if not u.is_storage else 1
                              for u in self.discrete)

    def _build_variables(self) -> None:
        T = self.periods
        labels: list[tuple[Any, ...]] = []
        self.level_var: dict[tuple[int, int, int], int] = {}
        for t in range(T):
            for i, u in enumerate(self.discrete):
                for k in range(len(self.level_quanta[i])):
                    self.level_var[(i, t, k)] = len(labels)
                    labels.append(("x", u.name, t, k))
        self.balance_slack: dict[int, list[int]] = {}
        for t, w in enumerate(self.balance_windows):
            self.balance_slack[t] = []
            for j in range(len(w.slack)):
                self.balance_slack[t].append(len(labels))
                labels.append(("zb", t, j))
        self.soc_slack: dict[tuple[int, int], list[int]] = {}
        for i, ws in self.soc_windows.items():
            for t, w in enumerate(ws):
                self.soc_slack[(i, t)] = []
                for j in range(len(w.slack)):
                    self.soc_slack[(i, t)].append(len(labels))
                    labels.append(("zs", self.discrete[i].name, t, j))
        self.start_var: dict[tuple[int, int], int] = {}
        self.stop_var: dict[tuple[int, int], int] = {}
        for i, u in enumerate(self.discrete):
            if self.min_up[i] > 1 or self.min_down[i] > 1:
                for t in range(T):
                    self.start_var[(i, t)] = len(labels)
                    labels.append(("up", u.name, t))
                    self.stop_var[(i, t)] = len(labels)
                    labels.append(("down", u.name, t))
        self.variables: tuple[tuple[Any, ...], ...] = tuple(labels)
        self.ramp_pairs: dict[int, tuple[tuple[int, int], ...]] = {}
        for i, u in enumerate(self.discrete):
            if u.ramp_mw_per_h is None or u.is_storage:
                continue
            r = u.ramp_mw_per_h * self.dt_h
            mw = self.level_mw[i]
            pairs = tuple((a, b) for a in range(len(mw)) for b in range(len(mw)) if abs(mw[a] - mw[b]) > r + 1e-9)
            if pairs:
                self.ramp_pairs[i] = pairs
