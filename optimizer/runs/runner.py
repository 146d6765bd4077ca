"""Run one scenario with several solvers: solve, score, validate, write, compare.

Outputs of one run go under ``OUT/<problem>/<instance>/<solver>/`` (DESIGN.md):
``summary.json`` and, for a feasible routing solution, ``plan.geojson``,
``itinerary.csv`` and ``segment_loads.geojson``.  Each run folder is built in a
temp folder and renamed into place, so a failed or interrupted run leaves no
half-written folder.  ``comparison.csv`` beside the solver folders lists every
solver of the instance, and :func:`verdict` says which one won.
"""

from __future__ import annotations

import contextlib
import logging
import math
import platform
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.errors import InvalidInputError
from optimizer.io import (
    atomic_write_json,
    atomic_write_text,
    instance_folder,
    run_folder,
    staged_dir,
)

if TYPE_CHECKING:  # pragma: no cover
    from optimizer.problems.base import Problem
    from solvers.solution import Solution

__all__ = ["RunRecord", "SolverRequest", "comparison_rows", "run_problem", "summarise", "traffic_references",
           "verdict"]

log = logging.getLogger(__name__)

SUMMARY_SCHEMA_VERSION = 1
#: Gaps of the comparison below this are rounding noise and read 0.
GAP_NOISE = 1e-9
#: Run labels that are relaxations (bounds), not plans: never a winner.
BOUND_LABELS = frozenset({"milp-continuous"})


@dataclass(frozen=True)
class SolverRequest:
    """A solver to run: its registered ``name``, its ``options``, and the folder ``label``."""

    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""
    time_limit_s: float | None = None

    @property
    def folder(self) -> str:
        from optimizer.solve import folder_label

        return self.label or folder_label(self.name, self.options)


@dataclass(frozen=True, eq=False)
class RunRecord:
    """What one solver run produced."""

    request: SolverRequest
    solution: Solution
    summary: dict[str, Any]
    plan: Any = None
    out_dir: Path | None = None
    replay: Any = None  # SUMO's replay of the plan (--simulate)
    power_flow: Any = None  # a dispatch plan's AC power flow (powerflow.json), run once

    def write(self, d: Path) -> None:
        """The run's files in folder ``d``: ``summary.json``, the plan's files, ``simulation.csv``."""
        atomic_write_json(d / "summary.json", self.summary)
        if self.plan is not None:
            if self.power_flow is not None:
                self.plan.write(d, power_flow=self.power_flow)
            else:
                self.plan.write(d)
        if self.replay is not None:
            atomic_write_text(d / "simulation.csv", self.replay.trips_table(self.plan).to_csv(index=False))


def summarise(problem: Problem, solution: Solution, request: SolverRequest, *,
              seed: int | None) -> dict[str, Any]:
    """The ``summary.json`` of one run: every key DESIGN.md lists, scored from the bits."""
    from optimizer import __version__
    from solvers.solution import relative_gap

    # a solver that timed out with no assignment has no plan, whatever its placeholder bits say
    found = solution.status.value != "TIMEOUT"
    # a dispatch is scored from the whole solution: a milp solution carries its devices' schedule
    scored = solution if getattr(problem, "scores_solutions", False) else solution.bits
    feasible = found and problem.is_feasible(scored)
    objective = problem.objective(scored) if feasible else None
    bound = solution.best_bound
    if bound is not None and solution.bound_of == "qubo":
        bound = problem.qubo_bound_to_objective(bound)
    if bound is not None and not math.isfinite(bound):
        bound = None
    qubo = problem.to_qubo()  # built here, after the solve, for a native solver (which never builds it)
    energy = qubo.energy(solution.bits) if math.isnan(solution.energy) and feasible else solution.energy
    summary: dict[str, Any] = {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "cityopt_version": __version__,
        "problem": problem.kind,
        "instance": problem.instance,
        "solver": request.name,
        "label": request.folder,
        "options": {**dict(solution.options), **({"time_limit_s": request.time_limit_s}
                                                 if request.time_limit_s else {})},
        "seed": seed,
        "status": solution.status.value,
        "objective": objective,
        "objective_units": problem.objective_units,
        "qubo_energy": energy,
        "feasible": feasible,
        "best_bound": bound,
        "gap": relative_gap(objective, bound),
        "wall_time_s": solution.wall_time_s,
        "qubo": {"variables": qubo.num_variables, "interactions": qubo.num_interactions,
                 "onehot_groups": len(qubo.onehot),
                 "penalty": qubo.metadata.get("onehot_penalty", qubo.metadata.get("penalty"))},
        "host": platform.node(),
    }
    extra = getattr(problem, "summary_extras", None)
    if callable(extra):
        summary.update(extra())
    assess = getattr(problem, "assess", None)  # the plan judged outside the solvers' objective (traffic: BPR)
    if callable(assess) and feasible:
        summary["assessment"] = assess(solution.bits)
    if request.name == "qaoa":
        r = dict(solution.resources)
        summary["qaoa"] = {
            "qubits": r.get("qubits"),
            "depth": r.get("depth"),
            "two_qubit_gates": r.get("two_qubit_gates"),
            "shots": r.get("shots"),
            "backend": r.get("backend"),
            "parameters": r.get("parameters"),
            **{k: v for k, v in r.items()
               if k not in ("qubits", "depth", "two_qubit_gates", "shots", "backend", "parameters")},
        }
    return summary


def run_problem(problem: Problem, requests: Iterable[SolverRequest], *, out: str | Path | None,
                seed: int | None = None, progress: bool = False, compare: bool = True,
                simulate: bool = False, references: bool | Mapping[str, Any] = False,
                on_record: Callable[[RunRecord], None] | None = None) -> list[RunRecord]:
    """Solve ``problem`` with each request, validate each plan, write outputs under ``out``.

    Parameters
    ----------
    problem : Problem
    requests : iterable of SolverRequest
    out : path or None
        Output root (``None``: write nothing).
    seed : int, optional
        Seed passed to every solver.
    progress : bool
        Log each run as it finishes.
    compare : bool
        Write the instance's ``comparison.csv`` and ``verdict.json`` over these
        runs (off when the caller compares more runs than it passes here).
    simulate : bool
        Traffic: replay every plan in Eclipse SUMO (one network for the
        instance); the ``simulation`` block of ``summary.json`` and
        ``simulation.csv`` (per trip, model against simulation).
    references : bool or mapping
        Traffic: AequilibraE's continuous UE and SO and the SO lower bound
        (:func:`traffic_references`), once for the instance, in every
        ``summary.json`` as ``references``; a mapping is that block, computed
        before (by a caller running one solver at a time).
    on_record : callable, optional
        Called with each run's record as soon as it is written (the demo times
        its stages with it; SUMO's network and the references are built once
        for all the requests).

    Returns
    -------
    list of RunRecord
    """
    from optimizer.solve import check_fits, check_request, solve

    requests = list(requests)
    folders: dict[str, Path] = {}
    for req in requests:  # every request must be valid before anything runs (no partial output)
        check_request(req.name, req.options, problem.kind, seed=seed, time_limit_s=req.time_limit_s)
        if out is not None:
            folder = run_folder(out, problem.kind, problem.instance_name, req.folder)
            if req.folder in folders:
                msg = f"two solvers would write one folder {req.folder!r}; give them distinct labels"
                raise InvalidInputError(msg)
            folders[req.folder] = folder
    for req in requests:  # then what needs the instance: size limits, QAOA backends
        check_fits(problem, req.name, req.options)
    if (simulate or references) and problem.kind != "traffic":
        msg = f"--simulate and --references judge traffic plans; a {problem.kind} run takes neither"
        raise InvalidInputError(msg)
    with contextlib.ExitStack() as stack:
        judge = _Judge(problem, stack, seed=seed) if simulate else None
        refs = (dict(references) if isinstance(references, Mapping)
                else traffic_references(problem) if references else None)
        records = []
        uncontrolled: dict[str, Any] = {}  # the devices' uncontrolled reference, once per solver and options
        for req in requests:
            t0 = time.perf_counter()
            sol = solve(problem, req.name, seed=seed, time_limit_s=req.time_limit_s, **dict(req.options))
            summary = summarise(problem, sol, req, seed=seed)
            if refs is not None:
                summary["references"] = refs
            plan = None
            sim = None
            pf = None
            if summary["feasible"]:
                plan = problem.decode(sol)
                plan.validate()
                if judge is not None:
                    sim = judge.replay(plan)
                    summary["simulation"] = sim.to_summary()
                if callable(getattr(plan, "power_flow", None)):  # the grid judges a dispatch: AC power flow
                    pf = plan.power_flow()
                    summary.update(_grid_verdict(plan, sol, pf))
            if getattr(problem, "devices", None) is not None:
                summary["device_policy"] = (sol.info or {}).get("device_policy", "uncontrolled")
                summary["devices"] = devices_block(problem, req, sol, plan, pf, seed=seed, cache=uncontrolled)
            record = RunRecord(req, sol, summary, plan, None, sim, pf)
            if out is not None:
                with staged_dir(folders[req.folder]) as d:
                    record.write(d)
                record = RunRecord(req, sol, summary, plan, folders[req.folder], sim, pf)
            records.append(record)
            if on_record is not None:
                on_record(record)
            if progress:
                log.info("%s %s: %s objective=%s (%.2fs)", problem.instance_name, req.folder,
                         summary["status"], summary["objective"], time.perf_counter() - t0)
    if compare and out is not None and records:
        write_comparison(problem, records, Path(out))
    return records


def _device_metrics(plan: Any, pf: Mapping[str, Any] | None) -> dict[str, Any]:
    """Peak load (loads + devices, and net of renewables), cost and AC violations of a dispatch plan."""
    d = plan.demand
    gross = d.load_mw + d.devices_mw
    return {"peak_load_mw": float(gross.max()), "peak_net_load_mw": float((d.net_load_mw + d.devices_mw).max()),
            "cost_eur": float(plan.objective), "device_energy_mwh": float(d.devices_mw.sum() * d.hours.iloc[0]),
            "violations": None if pf is None else int(pf["summary"]["violations"]),
            "periods_with_violations": None if pf is None else int(pf["summary"]["periods_with_violations"])}


def devices_block(problem: Any, req: SolverRequest, sol: Solution, plan: Any, pf: Mapping[str, Any] | None, *,
                  seed: int | None, cache: dict[str, Any]) -> dict[str, Any]:
    """The ``devices`` block of a dispatch run's ``summary.json``: the plan (``controlled``) against uncontrolled
    charging (every EV at full rate on arrival, batteries idle, demand response at its baseline).

    A run whose solver scheduled the devices (``device_policy`` ``optimised``: ``milp``)
    is compared with the same solver and options on the same problem with the devices
    held at their uncontrolled schedule (solved once per solver and options); a run
    that kept them uncontrolled (the QUBO solvers) is its own reference.

    Each side: ``peak_load_mw`` (the highest period of loads plus devices),
    ``peak_net_load_mw`` (less renewables), ``cost_eur`` (the plan's objective),
    ``device_energy_mwh``, and the AC power flow's ``violations`` and
    ``periods_with_violations``; then ``peak_reduction_mw`` and ``cost_saving_eur``.
    """
    from optimizer.solve import solve

    policy = (sol.info or {}).get("device_policy", "uncontrolled")
    out: dict[str, Any] = {"device_policy": policy, **problem.devices.summary()}
    ctrl = _device_metrics(plan, pf) if plan is not None else None
    out["controlled"] = ctrl
    if policy != "optimised":
        out["uncontrolled"] = ctrl
    else:
        key = f"{req.name}:{sorted(req.options.items())!r}:{req.time_limit_s}"
        if key not in cache:
            ref_prob = problem.uncontrolled()
            ref = solve(ref_prob, req.name, seed=seed, time_limit_s=req.time_limit_s, **dict(req.options))
            if ref.status.value != "TIMEOUT" and ref_prob.is_feasible(ref):
                ref_plan = ref_prob.decode(ref).validate()
                cache[key] = _device_metrics(ref_plan, ref_plan.power_flow())
            else:
                cache[key] = {"feasible": False, "status": ref.status.value,
                              "why": "with the devices uncontrolled the commitment model finds no plan"}
        out["uncontrolled"] = cache[key]
    unc = out["uncontrolled"]
    if ctrl is not None and unc is not None and "cost_eur" in unc:
        out["peak_reduction_mw"] = unc["peak_load_mw"] - ctrl["peak_load_mw"]
        out["cost_saving_eur"] = unc["cost_eur"] - ctrl["cost_eur"]
    return out


def _grid_verdict(plan: Any, sol: Solution, pf: Mapping[str, Any]) -> dict[str, Any]:
    """What the AC power flow says of a dispatch plan: violations (a total, and the periods), the AC loop.

    A plan with violations never goes out silently: ``violations_why`` says
    which limits it breaks and why (a lossless commitment without the AC
    dispatch, or the AC loop's own reason).
    """
    s = pf["summary"]
    out: dict[str, Any] = {"violations": s["violations"], "periods_with_violations": s["periods_with_violations"],
                           "plan_source": plan.source, "plan_objective_eur": plan.objective}
    info = sol.info or {}
    acr = info.get("ac_dispatch")
    if "opf_iterations" in info:
        out["opf_iterations"] = info["opf_iterations"]
        for key in ("ac_opf_runs", "ac_milp_solves", "ac_locked_periods"):
            if key in info:
                out[key] = info[key]
        added = {str(t): names for t, names in (info.get("ac_added_units") or {}).items() if names}
        if added:
            out["ac_added_units"] = added  # units the AC stage switched on, by period
    elif acr is not None:
        out["opf_iterations"] = 1  # one AC pass over this solver's own commitment, no loop
    if acr is not None and acr.failed_periods:
        rounds = (f"after {info['opf_iterations']} commitment <-> AC rounds "
                  f"({info.get('ac_stopped') or 'no reason recorded'})" if "opf_iterations" in info
                  else "for this solver's commitment (only milp cuts and solves again)")
        out["ac_unresolved"] = (f"periods {acr.failed_periods} have no AC-feasible dispatch {rounds}; the OPF says: "
                                f"{'; '.join(acr.failures[:3])}; those periods keep the commitment's lossless outputs")
    if not s["violations"]:
        return out
    kinds: dict[str, int] = {}
    for period in pf["periods"]:
        for v in period["violations"]:
            key = f"{v['element']} {v['quantity']}" + (f" {v['side']}" if v.get("side") else "")
            kinds[key] = kinds.get(key, 0) + 1
    what = ", ".join(f"{n} x {k}" for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
    if acr is None:
        why = ("the plan is the commitment model's lossless (DC or copper-plate) dispatch; --ac re-dispatches "
               "each period with pandapower's AC OPF")
    else:
        why = out.get("ac_unresolved", "the AC dispatch's own power flow breaks them")
    out["violations_why"] = f"{what}: {why}"
    return out


class _Judge:
    """SUMO for one instance: its network built once, each plan replayed on it with the run's seed."""

    def __init__(self, problem: Problem, stack: contextlib.ExitStack, *, seed: int | None) -> None:
        import tempfile

        from optimizer.plans.simulation import check_sumo, sumo_network

        check_sumo()
        self.seed = 1 if seed is None else int(seed)
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cityopt-sumo-")))
        self.work = work
        self.network = sumo_network(problem.graph, work / "net")  # type: ignore[attr-defined]
        self.runs = 0

    def replay(self, plan: Any) -> _Replay:
        self.runs += 1
        res = plan.simulate(seed=self.seed, workdir=self.work / f"run{self.runs}", network=self.network)
        return _Replay(res)


@dataclass(frozen=True)
class _Replay:
    result: Any

    def to_summary(self) -> dict[str, Any]:
        """The ``simulation`` block: SUMO's totals, without the per-trip lists (``simulation.csv`` has them)."""
        return {k: v for k, v in self.result.to_dict().items() if not k.startswith("trip_")}

    def trips_table(self, plan: Any) -> Any:
        """Per trip: departure, vehicles, the model's BPR time and SUMO's travel time and time loss."""
        import pandas as pd

        r = plan.routes
        return pd.DataFrame({"trip_id": r["trip_id"].to_numpy(), "depart_s": r["depart_s"].to_numpy(),
                             "vehicles": r["vehicles"].to_numpy(),
                             "model_travel_time_s": r["bpr_travel_time_s"].round(3).to_numpy(),
                             "sumo_travel_time_s": self.result.travel_time_s,
                             "sumo_time_loss_s": self.result.time_loss_s})


def traffic_references(problem: Problem) -> dict[str, Any]:
    """The compact ``references`` block of a traffic instance (AequilibraE's UE and SO, the SO bound)."""
    t0 = time.perf_counter()
    full = problem.references()  # type: ignore[attr-defined]

    def pick(block: dict[str, Any]) -> dict[str, Any]:
        return {m: {k: block[m].get(k) for k in ("system_travel_time_veh_h", "relative_gap", "iterations",
                                                   "converged", "lower_bound_veh_h") if k in block[m]}
                for m in ("ue", "so")}

    return {"so_bound_veh_h": full["so_bound_veh_h"], "span_h": full["span_h"],
            "static": pick(full["static"]), "by_departure_slice": pick(full["by_departure_slice"]),
            "method": full["static"].get("method"), "wall_s": round(time.perf_counter() - t0, 3)}


def gap_to_best(objective: float | None, best: float | None) -> float | None:
    """How far ``objective`` is above the best objective found: ``(objective - best) / max(|best|, 1e-9)``.

    Scaled by the best, not by ``objective`` as :func:`~solvers.solution.relative_gap` is;
    0 where it is rounding noise (under ``GAP_NOISE``); ``None`` when either is missing.

    >>> gap_to_best(101.0, 100.0), gap_to_best(1e15 + 0.1, 1e15), gap_to_best(100.0, 100.0), gap_to_best(None, 1.0)
    (0.01, 0.0, 0.0, None)
    """
    if objective is None or best is None:
        return None
    gap = (objective - best) / max(abs(best), 1e-9)
    return gap if gap >= GAP_NOISE else 0.0


def comparison_rows(records: list[RunRecord]) -> list[dict[str, Any]]:
    """One row per run: solver, status, objective, gap to the best bound and to the best found."""
    from solvers.solution import relative_gap

    feas = [r.summary["objective"] for r in records if r.summary["feasible"]]
    best = min(feas) if feas else None
    bounds = [r.summary["best_bound"] for r in records if r.summary["best_bound"] is not None]
    bound = max(bounds) if bounds else None
    rows = []
    for r in records:
        s = r.summary
        obj = s["objective"]
        rows.append({
            "instance": s["instance"]["name"],
            "solver": s["label"],
            "status": s["status"],
            "feasible": s["feasible"],
            "objective": obj,
            "objective_units": s["objective_units"],
            "best_bound": s["best_bound"],
            "gap_to_bound": relative_gap(obj, bound, noise=GAP_NOISE),
            "gap_to_best": gap_to_best(obj, best),
            "wall_time_s": s["wall_time_s"],
            "qubits": (s.get("qaoa") or {}).get("qubits"),
            "bpr_travel_time_veh_h": (s.get("assessment") or {}).get("system_travel_time_veh_h"),
            "surrogate_error": (s.get("assessment") or {}).get("surrogate_error"),
            **_simulation_columns(s.get("simulation")),
        })
    _rank(rows, "objective", "rank_model")
    if any(r.get("sim_travel_time_veh_h") is not None for r in rows):
        _rank(rows, "sim_travel_time_veh_h", "rank_simulation")
    return rows


def _simulation_columns(sim: Mapping[str, Any] | None) -> dict[str, Any]:
    if not sim:
        return {}
    return {"sim_travel_time_veh_h": sim.get("total_travel_time_veh_h"),
            "sim_mean_time_loss_s": sim.get("mean_time_loss_s"), "sim_arrived": sim.get("arrived"),
            "sim_vehicles": sim.get("vehicles"), "sim_teleports": sim.get("teleports")}


def _rank(rows: list[dict[str, Any]], key: str, into: str) -> None:
    """1 for the lowest ``key`` (ties share a rank); rows without it get None."""
    vals = sorted({r[key] for r in rows if r.get(key) is not None and r.get("solver") not in BOUND_LABELS})
    for r in rows:
        v = r.get(key)
        r[into] = None if v is None or r.get("solver") in BOUND_LABELS else 1 + sum(
            1 for w in vals if w < v - 1e-9 * max(1.0, abs(v)))


def verdict(records: list[RunRecord], *, baseline: str | None = None, reference: str = "cpsat") -> dict[str, Any]:
    """Which solver won (lowest objective among feasible runs), and by how much.

    Also QAOA's gap to the ``reference`` solver and each solver's reduction
    against the ``baseline`` (default: the problem's baseline in the solver
    table, :func:`optimizer.solve.baseline_solver`).  Honest both ways: QAOA
    losing is reported as such.
    """
    from optimizer.solve import baseline_solver

    if baseline is None and records:
        baseline = baseline_solver(records[0].summary["problem"])
    by = {r.request.folder: r.summary for r in records}
    feas = {k: s["objective"] for k, s in by.items() if s["feasible"] and k not in BOUND_LABELS}
    out: dict[str, Any] = {"instance": records[0].summary["instance"]["name"] if records else None}
    if not feas:
        out["text"] = "no solver found a feasible plan"
        return out
    best = min(feas.values())
    tol = 1e-9 * max(1.0, abs(best))
    winners = sorted(k for k, v in feas.items() if v <= best + tol)
    out.update(winners=winners, best_objective=best)
    parts = [f"{' = '.join(winners)} {'win' if len(winners) == 1 else 'tie'} at {best:.6g}"]
    others = sorted((v, k) for k, v in feas.items() if k not in winners)
    if others:
        v, k = others[0]
        parts.append(f"next {k} at {v:.6g} (+{100 * (v - best) / max(abs(best), 1e-9):.2f}%)")
    if baseline in feas and feas[baseline] > 0:
        red = (feas[baseline] - best) / feas[baseline]
        out["reduction_vs_baseline"] = red
        units = records[0].summary.get("objective_units")
        what = {"vehicle-hours": "system travel time", "vehicle-seconds": "congestion"}.get(units, "cost")
        parts.append(f"{100 * red:.2f}% less {what} than everyone-on-the-shortest-path")
    ref = next((r for r in (reference, "exact") if r in feas), None)
    for label in sorted(k for k in by if k == "qaoa" or k.startswith("qaoa-")):
        q = by[label]
        name = "QAOA" if label == "qaoa" else f"QAOA ({label[5:]})"
        if ref is None:
            continue
        ref_name = "CP-SAT" if ref == "cpsat" else "exact"
        if q["feasible"]:
            gap = (q["objective"] - feas[ref]) / max(abs(feas[ref]), 1e-9)
            out.setdefault("qaoa_gap_to_reference", {})[label] = gap
            text = (f"{name} matches the {ref_name} optimum" if gap <= 1e-9
                    else f"{name} is {100 * gap:.2f}% above {ref_name}")
            if gap > 1e-9 and ref != "exact" and "exact" in feas and \
                    q["objective"] <= feas["exact"] + 1e-9 * max(1.0, abs(feas["exact"])):
                text += " at the QUBO's own optimum (the gap is the QUBO surrogate's, not QAOA's)"
            parts.append(text)
        else:
            out.setdefault("qaoa_gap_to_reference", {})[label] = None
            parts.append(f"{name} sampled no feasible plan")
    bpr = {k: by[k]["assessment"]["system_travel_time_veh_h"] for k in feas if by[k].get("assessment")}
    if len(bpr) > 1 and records[0].summary.get("objective_units") != "vehicle-hours":  # else it is the objective  # the plans judged by travel time under BPR, not by the solvers' objective
        low = min(bpr.values())
        bpr_best = sorted(k for k, v in bpr.items() if v <= low * (1 + 1e-9))
        out.update(bpr_winners=bpr_best, bpr_best_veh_h=low)
        same = set(bpr_best) & set(winners)
        text = (f"under BPR travel time {' = '.join(bpr_best)} {'also ' if same else ''}"
                f"{'wins' if len(bpr_best) == 1 else 'tie'} at {low:.4g} veh-h")
        theirs = [bpr[w] for w in winners if w in bpr]
        if not same and theirs:
            text += f" (the objective's winner takes {min(theirs):.4g} veh-h)"
        parts.append(text)
    parts.extend(_traffic_judgements(by, feas, winners, out))
    cb = records[0].summary.get("continuous_bound_eur") if records else None
    if cb:
        out["gap_to_continuous_bound"] = (best - cb) / max(abs(cb), 1e-9)
        parts.append(f"the best plan is {100 * out['gap_to_continuous_bound']:.2f}% above the continuous-level "
                     f"bound {cb:.6g}")
    out["text"] = "; ".join(parts)
    return out


def _traffic_judgements(by: Mapping[str, Mapping[str, Any]], feas: Mapping[str, float], winners: list[str],
                        out: dict[str, Any]) -> list[str]:
    """The planner's lines: selfish against coordinated routing, SUMO's ranking, the SO bound."""
    parts = []
    ttt = {k: by[k]["assessment"]["system_travel_time_veh_h"] for k in feas if by[k].get("assessment")}
    sim = {k: by[k]["simulation"]["total_travel_time_veh_h"] for k in feas
           if (by[k].get("simulation") or {}).get("total_travel_time_veh_h") is not None}
    # the coordinated plan: the best by BPR travel time among the solvers that coordinate
    coordinated = {k: v for k, v in ttt.items() if k not in ("ue", "shortest")}
    best = min(coordinated, key=coordinated.get) if coordinated else None
    if "ue" in ttt and best is not None:
        save = (ttt["ue"] - ttt[best]) / ttt["ue"] if ttt["ue"] > 0 else 0.0
        out["coordinated_saving_vs_ue"] = save
        line = (f"coordinated routing ({best}) saves {100 * save:.2f}% of the system travel time of selfish "
                f"routing (ue) in the model")
        if "ue" in sim and best in sim and sim["ue"] > 0:
            ssave = (sim["ue"] - sim[best]) / sim["ue"]
            out["coordinated_saving_vs_ue_simulated"] = ssave
            line += f", {100 * ssave:.2f}% in SUMO"
        parts.append(line)
    if len(sim) > 0:
        low = min(sim.values())
        sim_best = sorted(k for k, v in sim.items() if v <= low * (1 + 1e-9))
        out.update(simulation_winners=sim_best, simulation_best_veh_h=low)
        text = f"in SUMO {' = '.join(sim_best)} {'wins' if len(sim_best) == 1 else 'tie'} at {low:.4g} veh-h"
        model_best = [k for k in winners if k in sim]
        if model_best and not set(model_best) & set(sim_best):
            out["model_and_simulation_disagree"] = True
            text += (f"; the model and SUMO disagree: the model's winner {model_best[0]} takes "
                     f"{sim[model_best[0]]:.4g} veh-h there")
        parts.append(text)
    refs = next((s.get("references") for s in by.values() if s.get("references")), None)
    if refs and ttt:
        bound = refs["so_bound_veh_h"]
        gap = (min(ttt.values()) - bound) / max(abs(bound), 1e-9)
        out.update(so_bound_veh_h=bound, gap_to_so_bound=gap)
        parts.append(f"AequilibraE's SO bound {bound:.4g} veh-h: the best plan is {100 * gap:.2f}% above it")
    return parts


def write_comparison(problem: Problem, records: list[RunRecord], out: Path) -> Path:
    """``comparison.csv`` and ``verdict.json`` of an instance (atomically)."""
    return write_comparison_in(instance_folder(out, problem.kind, problem.instance_name), records)


def write_comparison_in(inst_dir: Path, records: list[RunRecord]) -> Path:
    """``comparison.csv`` and ``verdict.json`` of the records, in the instance folder ``inst_dir``."""
    import pandas as pd

    rows = comparison_rows(records)
    atomic_write_json(inst_dir / "verdict.json", verdict(records))
    return atomic_write_text(inst_dir / "comparison.csv", pd.DataFrame(rows).to_csv(index=False))


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of :func:`comparison_rows` for the terminal."""
    head = ["instance", "solver", "status", "objective", "gap_to_bound", "gap_to_best", "wall_time_s"]

    def cell(k: str, v: Any) -> str:
        if v is None:
            return "-"
        if k.startswith("gap"):
            return f"{100 * v:.2f}%"
        if isinstance(v, float):
            return f"{v:.2f}" if k == "wall_time_s" else f"{v:.6g}"
        return str(v)

    table = [head] + [[cell(k, r[k]) for k in head] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
