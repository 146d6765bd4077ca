"""The solver-comparison report: one self-contained HTML file from a results database.

:func:`write_report` reads the ``runs`` table (:mod:`optimizer.runs.results`) and, per
problem and scenario (an instance over its seeds), shows:

- a plain verdict per instance (which solver won and by how much; QAOA's gap to
  the CP-SAT / exact optimum, also when it loses) and one over the seeds;
- objective by solver over seeds (mean, standard deviation, min and max, each
  seed a point), the gap to the best bound, and wall time;
- QAOA quality (objective over the instance's best) against depth, one line
  per backend: noiseless (``qsim``, ``fast``) against each QVM;
- traffic: the routes on a map of the city's streets, segment loads coloured
  (from each run folder's ``segment_loads.geojson`` and ``plan.geojson``); the
  best plan's volume/capacity in its peak slice (``assessment.peak_slice``); and,
  where the plans were replayed in SUMO (``--simulate``), each plan's model travel
  time against SUMO's, ranked by both, with AequilibraE's SO lower bound and UE/SO
  totals where the run has ``--references`` (:func:`model_vs_simulation`);
- dispatch: the day's dispatch as a stacked area chart, with the power-flow
  check (max line loading per period, violations marked), from ``dispatch.csv``,
  ``demand.csv`` and ``powerflow.json``;

and a table of every run.  Plots are PNG images (:mod:`optimizer.report.charts`) inlined as base64 and the page
carries no script and loads nothing from the network, so it opens offline with
no console errors.  Traffic plans are drawn twice: as a matplotlib image (it
prints) and as an interactive folium map (:mod:`optimizer.maps`) in an
``<iframe srcdoc>`` with Leaflet inlined, no CDN and no tiles, so it too works
offline; the page itself carries no script.

Every figure in the tables carries its exact value in a ``data-value``
attribute, so tests compare the page with the database.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.errors import InvalidInputError
from optimizer.io import atomic_write_text, probe_writable
from optimizer.maps import traffic_map_html
from optimizer.report.charts import (
    _dispatch_chart,
    _fig,
    _forecast_chart,
    _live_forecast_chart,
    _live_timeline_chart,
    _model_vs_simulation_chart,
    _num,
    _objective_figure,
    _png,
    _ranks,
    _route_map,
    _vc_peak_map,
)
from optimizer.solve import baseline_solver

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["ReportPathError", "check_report_path", "forecast_section", "instance_verdicts", "live_section",
           "model_vs_simulation", "solver_stats", "write_report"]

log = logging.getLogger(__name__)

NOISELESS = ("qsim", "fast", None)

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;max-width:1200px;
color:#222;line-height:1.45;padding:0 1em}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.6em}table{border-collapse:collapse;margin:.6em 0 1em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}
td.l,th.l{text-align:left}.verdict{background:#f4f8ff;border-left:4px solid #3b6fd8;padding:.5em .9em;margin:.5em 0}
.lose{border-left-color:#d8553b;background:#fff6f3}.muted{color:#777;font-size:.9em}
img{max-width:100%;height:auto;display:block;margin:.5em 0}.figs{display:flex;flex-wrap:wrap;gap:1em}
details{margin:.5em 0}summary{cursor:pointer}
"""


# ---------------------------------------------------------------------------- numbers
def solver_stats(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Per solver label of one scenario: objective mean / std / min / max over seeds, gap, wall time.

    The gap of a run is to the best bound of its instance (the largest ``best_bound``
    any solver proved for that seed): ``(objective - bound) / |objective|``.
    """
    import numpy as np

    from optimizer.runs.runner import GAP_NOISE
    from solvers.solution import relative_gap

    bounds = {}
    for inst, g in rows.groupby("instance_name"):
        b = [_num(v) for v in g["best_bound"]]
        b = [v for v in b if v is not None]
        bounds[inst] = max(b) if b else None
    out = []
    for label, g in rows.groupby("label", sort=True):
        objs = [_num(v) for v, f in zip(g["objective"], g["feasible"]) if bool(f)]
        objs = [v for v in objs if v is not None]
        gaps = []
        for inst, obj, f in zip(g["instance_name"], g["objective"], g["feasible"]):
            o, b = _num(obj), bounds.get(inst)
            if bool(f) and o is not None and b is not None:
                gaps.append(relative_gap(o, b, noise=GAP_NOISE))
        walls = [v for v in (_num(w) for w in g["wall_time_s"]) if v is not None]
        out.append({
            "label": label,
            "solver": str(g["solver"].iloc[0]),
            "runs": len(g),
            "feasible": len(objs),
            "objective_mean": float(np.mean(objs)) if objs else None,
            "objective_std": float(np.std(objs, ddof=1)) if len(objs) > 1 else (0.0 if objs else None),
            "objective_min": min(objs) if objs else None,
            "objective_max": max(objs) if objs else None,
            "gap_to_bound_mean": float(np.mean(gaps)) if gaps else None,
            "wall_time_s_mean": float(np.mean(walls)) if walls else None,
        })
    return out


def _records(rows: pd.DataFrame) -> list[Any]:
    from optimizer.runs.runner import RunRecord, SolverRequest

    recs = []
    for _, r in rows.iterrows():
        s = json.loads(r["summary"]) if isinstance(r["summary"], str) else dict(r["summary"])
        req = SolverRequest(str(s.get("solver", r["solver"])), s.get("options") or {}, label=str(r["label"]))
        recs.append(RunRecord(req, None, s))  # type: ignore[arg-type]
    return recs


def instance_verdicts(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """:func:`optimizer.runs.runner.verdict` of every instance (seed) in ``rows``."""
    from optimizer.runs.runner import verdict

    out = []
    for inst, g in rows.groupby("instance_name", sort=True):
        v = verdict(_records(g))
        v["instance"] = inst
        v["seed"] = None if g["seed"].isna().all() else int(g["seed"].dropna().iloc[0])
        out.append(v)
    return out


def _scenario_verdict(stats: list[dict[str, Any]], verdicts: list[dict[str, Any]], units: str) -> tuple[str, bool]:
    """One sentence over the seeds; and whether a QAOA run lost."""
    wins: dict[str, int] = {}
    for v in verdicts:
        for w in v.get("winners", []):
            wins[w] = wins.get(w, 0) + 1
    n = len(verdicts)
    from optimizer.runs.runner import BOUND_LABELS

    ranked = sorted((s for s in stats if s["objective_mean"] is not None and s["feasible"] == s["runs"]
                     and s["label"] not in BOUND_LABELS), key=lambda s: s["objective_mean"])
    if not ranked:
        return "no solver found a feasible plan on every seed", False
    best = ranked[0]
    tol = 1e-9 * max(1.0, abs(best["objective_mean"]))
    tied = [s["label"] for s in ranked if s["objective_mean"] <= best["objective_mean"] + tol]
    if len(tied) == 1:
        parts = [f"{best['label']} has the lowest mean objective, {best['objective_mean']:.6g} {units} over "
                 f"{best['runs']} seed(s)"]
    else:
        parts = [f"{' = '.join(tied)} tie for the lowest mean objective, {best['objective_mean']:.6g} {units} over "
                 f"{best['runs']} seed(s)"]
    rest = [s for s in ranked if s["label"] not in tied]
    if rest:
        nxt = rest[0]
        d = (nxt["objective_mean"] - best["objective_mean"]) / max(abs(best["objective_mean"]), 1e-9)
        parts.append(f"next {nxt['label']} at {nxt['objective_mean']:.6g} (+{100 * d:.2f}%)")
    if wins:
        parts.append("best on each seed: " + ", ".join(f"{k} {c}/{n}" for k, c in sorted(wins.items())))
    qaoa_lost = False
    for s in stats:
        if s["solver"] != "qaoa":
            continue
        if s["feasible"] < s["runs"]:
            qaoa_lost = True
            parts.append(f"{s['label']} sampled no feasible plan on {s['runs'] - s['feasible']} of {s['runs']} seeds")
        elif s["objective_mean"] is not None and s["objective_mean"] > best["objective_mean"] * (1 + 1e-9) + 1e-12:
            qaoa_lost = True
            d = (s["objective_mean"] - best["objective_mean"]) / max(abs(best["objective_mean"]), 1e-9)
            parts.append(f"QAOA loses: {s['label']} is {100 * d:.2f}% above {best['label']} on average")
        elif s["objective_mean"] is not None:
            parts.append(f"{s['label']} matches the best on average")
    return "; ".join(parts), qaoa_lost


def _best(values: dict[str, float]) -> list[str]:
    low = min(values.values())
    return sorted(k for k, v in values.items() if v <= low + 1e-9 * max(1.0, abs(low)))


def _fmt_gap(g: Any) -> str:
    g = _num(g)
    return "-" if g is None else f"{g:.2g}"


def _references_text(refs: dict[str, Any] | None, *, drawn: bool = False) -> str:
    """AequilibraE's references in one clause: the SO bound, then UE and SO totals with their relative gaps."""
    if not refs:
        return ""
    bits = []
    bound = _num(refs.get("so_bound_veh_h"))
    if bound is not None:
        bits.append(f"AequilibraE's SO lower bound {bound:.5g} veh-h{' (the dashed line)' if drawn else ''}")
    for key, name in (("static", "static"), ("by_departure_slice", "by departure slice")):
        block = refs.get(key) or {}
        tot = [f"{m.upper()} {t:.5g} veh-h (relative gap {_fmt_gap(block[m].get('relative_gap'))})"
               for m in ("ue", "so") if isinstance(block.get(m), dict)
               and (t := _num(block[m].get("system_travel_time_veh_h"))) is not None]
        if tot:
            bits.append(f"{name}: " + ", ".join(tot))
    return "; ".join(bits)


def model_vs_simulation(summaries: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The plans' model travel time against SUMO's, ranked by each, and the one-line caption.

    ``summaries``: run label -> ``summary.json`` of one instance.  Plans count when
    feasible with ``assessment.system_travel_time_veh_h`` and
    ``simulation.total_travel_time_veh_h``; None when none has both.

    Returns
    -------
    dict
        ``points`` (label, model, sumo, model_rank, sumo_rank, arrived, vehicles,
        teleports, mean_time_loss_s, lost), ``model_best`` and ``sumo_best`` (lists:
        ties share), ``agree`` (the two best sets meet), ``so_bound`` (or None),
        ``text`` (the caption).

    Examples
    --------
    >>> s = lambda m, t, arr=10, tp=0: {"feasible": True, "assessment": {"system_travel_time_veh_h": m},
    ...     "simulation": {"total_travel_time_veh_h": t, "vehicles": 10, "arrived": arr, "teleports": tp}}
    >>> r = model_vs_simulation({"a": s(1.0, 3.0), "b": s(2.0, 2.5, arr=9, tp=1)})
    >>> r["model_best"], r["sumo_best"], r["agree"]
    (['a'], ['b'], False)
    >>> r["text"]
    'The model and SUMO disagree on the best plan: the model picks a (1 veh-h; 3 in SUMO, rank 2), SUMO picks b (2.5 veh-h; 2 in the model, rank 2). In SUMO not every vehicle drove its whole route: b 9 of 10 arrived, 1 teleported.'
    """
    pts = []
    for label in sorted(summaries):
        s = summaries[label]
        model = _num((s.get("assessment") or {}).get("system_travel_time_veh_h"))
        sim = s.get("simulation") or {}
        sumo = _num(sim.get("total_travel_time_veh_h"))
        if not s.get("feasible", True) or model is None or sumo is None:
            continue
        veh, arr, tp = (int(_num(sim.get(k)) or 0) for k in ("vehicles", "arrived", "teleports"))
        lost = []
        if arr < veh:
            lost.append(f"{arr} of {veh} arrived")
        if tp:
            lost.append(f"{tp} teleported")
        pts.append({"label": label, "model": model, "sumo": sumo, "vehicles": veh, "arrived": arr,
                    "teleports": tp, "mean_time_loss_s": _num(sim.get("mean_time_loss_s")), "lost": ", ".join(lost)})
    if not pts:
        return None
    for key in ("model", "sumo"):
        for p, r in zip(pts, _ranks([p[key] for p in pts])):
            p[f"{key}_rank"] = r
    by = {p["label"]: p for p in pts}
    mb = _best({p["label"]: p["model"] for p in pts})
    sb = _best({p["label"]: p["sumo"] for p in pts})
    common = [k for k in mb if k in sb]
    if common:
        p = by[common[0]]
        text = (f"The model and SUMO agree on the best plan: {' = '.join(common)} ({p['model']:.5g} veh-h in the "
                f"model, {p['sumo']:.5g} in SUMO).")
    else:
        m, t = by[mb[0]], by[sb[0]]
        text = (f"The model and SUMO disagree on the best plan: the model picks {' = '.join(mb)} ({m['model']:.5g} "
                f"veh-h; {m['sumo']:.5g} in SUMO, rank {m['sumo_rank']}), SUMO picks {' = '.join(sb)} "
                f"({t['sumo']:.5g} veh-h; {t['model']:.5g} in the model, rank {t['model_rank']}).")
    lost = [f"{p['label']} {p['lost']}" for p in pts if p["lost"]]
    if lost:
        text += " In SUMO not every vehicle drove its whole route: " + "; ".join(lost) + "."
    refs = next((s.get("references") for _, s in sorted(summaries.items()) if s.get("references")), None)
    so_bound = _num((refs or {}).get("so_bound_veh_h"))
    ref_text = _references_text(refs, drawn=True)
    if ref_text:
        text += f" {ref_text}."
    return {"points": pts, "model_best": mb, "sumo_best": sb, "agree": bool(common), "so_bound": so_bound,
            "text": text}


# ---------------------------------------------------------------------------- figures
def _qaoa_section(rows: pd.DataFrame) -> str:
    """QAOA objective over the instance's best, against depth, one line per backend."""
    q = rows[rows["solver"] == "qaoa"]
    if q.empty:
        return '<p class="muted">No QAOA runs for this scenario.</p>'
    best = {inst: min((v for v in (_num(o) for o, f in zip(g["objective"], g["feasible"]) if bool(f))
                       if v is not None), default=None) for inst, g in rows.groupby("instance_name")}
    pts: dict[str, dict[int, list[float]]] = {}
    infeasible: dict[str, int] = {}
    for _, r in q.iterrows():
        qa = json.loads(r["qaoa"]) if isinstance(r.get("qaoa"), str) else (r.get("qaoa") or {})
        backend = qa.get("backend") or "qsim"
        kind = backend if backend not in NOISELESS else f"{backend} (noiseless)"
        depth = int(qa.get("depth") or 0)
        b, o = best.get(r["instance_name"]), _num(r["objective"])
        if not bool(r["feasible"]) or o is None or not b:
            infeasible[kind] = infeasible.get(kind, 0) + 1
            continue
        pts.setdefault(kind, {}).setdefault(depth, []).append(o / b)
    body = ['<table><tr><th class="l">backend</th><th>depth</th><th>runs</th>'
            '<th>objective / best (mean)</th></tr>']
    fig = _fig(5.5, 3.2, "QAOA quality against depth and backend")
    ax = fig.subplots()
    for kind in sorted(pts):
        depths = sorted(pts[kind])
        means = [sum(pts[kind][d]) / len(pts[kind][d]) for d in depths]
        ax.plot(depths, means, marker="o", label=kind)
        for d, m in zip(depths, means):
            body.append(f'<tr><td class="l">{html.escape(kind)}</td><td>{d}</td><td>{len(pts[kind][d])}</td>'
                        f'<td data-value="{m!r}">{m:.4f}</td></tr>')
    for kind, n in sorted(infeasible.items()):
        body.append(f'<tr><td class="l">{html.escape(kind)}</td><td>-</td><td>{n}</td>'
                    f'<td>no feasible sample</td></tr>')
    body.append("</table>")
    ax.axhline(1.0, color="#888", lw=1, ls="--")
    depths_all = sorted({d for k in pts for d in pts[k]})
    if depths_all:
        ax.set_xticks(depths_all)
        ax.set_xlim(depths_all[0] - 0.5, depths_all[-1] + 0.5)
    ax.set_xlabel("QAOA depth p")
    ax.set_ylabel("objective / best found (1 = optimal)")
    ax.grid(alpha=0.3)
    if pts:
        ax.legend(fontsize=8)
        return _png(fig) + "".join(body)
    return "".join(body)



def _violations_text(run_dir: Path) -> str:
    try:
        pf = json.loads((run_dir / "powerflow.json").read_text(encoding="utf-8")).get("periods", [])
    except (OSError, ValueError):
        return ""
    bad = [p for p in pf if p.get("violations") or not p.get("converged", True)]
    if not pf:
        return ""
    if not bad:
        return f"<p>Power flow: all {len(pf)} periods converge within line and voltage limits.</p>"
    items = []
    for p in bad:
        vs = p.get("violations") or []
        what = ", ".join(f"{v.get('element')} {v.get('index')} {v.get('quantity')} {(_num(v.get('value')) or 0):.4g} "
                         f"(limit {v.get('limit')})" for v in vs[:4])
        items.append(f"period {p.get('period')}: {'did not converge' if not p.get('converged', True) else what}")
    return (f"<p>Power flow: {len(bad)} of {len(pf)} periods break a limit.</p><ul>"
            + "".join(f"<li>{html.escape(t)}</li>" for t in items) + "</ul>")


# ---------------------------------------------------------------------------- html
def _cell(v: Any, fmt: str = "{:.6g}", cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return f"<td{c}>-</td>"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return f'<td{c} data-value="{float(v)!r}">{html.escape(fmt.format(v))}</td>'
    return f"<td{c}>{html.escape(str(v))}</td>"


def _stats_table(stats: list[dict[str, Any]], scenario: str) -> str:
    head = ("<tr><th class='l'>solver</th><th>feasible / runs</th><th>objective mean</th><th>sd</th><th>min</th>"
            "<th>max</th><th>gap to best bound</th><th>wall time (s)</th></tr>")
    body = []
    for s in stats:
        body.append(
            f'<tr data-scenario="{html.escape(scenario)}" data-label="{html.escape(s["label"])}">'
            f'<td class="l">{html.escape(s["label"])}</td><td>{s["feasible"]} / {s["runs"]}</td>'
            + _cell(s["objective_mean"]) + _cell(s["objective_std"], "{:.4g}") + _cell(s["objective_min"])
            + _cell(s["objective_max"])
            + (_cell(s["gap_to_bound_mean"], "{:.2%}") if s["gap_to_bound_mean"] is not None else "<td>-</td>")
            + _cell(s["wall_time_s_mean"], "{:.3g}") + "</tr>")
    return f'<table class="stats">{head}{"".join(body)}</table>'


def _runs_table(df: pd.DataFrame) -> str:
    cols = ["run_id", "problem", "instance_name", "label", "seed", "status", "objective", "best_bound", "gap",
            "wall_time_s", "finished_utc"]
    head = "".join(f"<th>{c}</th>" for c in cols)
    body = []
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r.get(c)
            if c in ("objective", "best_bound", "gap", "wall_time_s"):
                v = _num(v)
                cells.append(f'<td data-col="{c}" data-value="{v!r}">{"-" if v is None else f"{v:.6g}"}</td>')
            elif c == "seed":
                cells.append(f'<td data-col="seed">{"-" if _num(v) is None else int(v)}</td>')
            else:
                cells.append(f'<td class="l" data-col="{c}">{html.escape("" if v is None else str(v))}</td>')
        body.append(f'<tr data-run-id="{html.escape(str(r["run_id"]))}">{"".join(cells)}</tr>')
    return f'<table class="runs"><tr>{head}</tr>{"".join(body)}</table>'


def _summaries(rows: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Run label -> its ``summary.json`` (from the database's ``summary`` column), bounds left out."""
    from optimizer.runs.runner import BOUND_LABELS

    out = {}
    for _, r in rows.iterrows():
        if str(r["label"]) not in BOUND_LABELS:
            out[str(r["label"])] = json.loads(r["summary"]) if isinstance(r["summary"], str) else dict(r["summary"])
    return out


def _judged_table(points: list[dict[str, Any]]) -> str:
    head = ("<tr><th class='l'>plan</th><th>model (veh-h)</th><th>model rank</th><th>SUMO (veh-h)</th>"
            "<th>SUMO rank</th><th>arrived / vehicles</th><th>teleports</th><th>mean time loss (s)</th></tr>")
    body = [f'<tr data-plan="{html.escape(p["label"])}"><td class="l">{html.escape(p["label"])}</td>'
            + _cell(p["model"]) + _cell(p["model_rank"], "{:d}") + _cell(p["sumo"]) + _cell(p["sumo_rank"], "{:d}")
            + f"<td>{p['arrived']} / {p['vehicles']}</td>" + _cell(p["teleports"], "{:d}")
            + _cell(p["mean_time_loss_s"], "{:.1f}") + "</tr>" for p in points]
    return f'<table class="model-vs-simulation">{head}{"".join(body)}</table>'


def _traffic_judges(one: pd.DataFrame, winner: str | None, instance: str) -> str:
    """The best plan's volume/capacity map at its peak slice, and the plans' model against SUMO."""
    sums = _summaries(one)
    peak = ((sums.get(winner or "") or {}).get("assessment") or {}).get("peak_slice")
    wdir = _run_dir(one, winner)
    img = _vc_peak_map(wdir, str(peak), str(winner), instance) if peak and wdir is not None else None
    parts = [f"<h4>Volume/capacity at the peak slice{' ' + html.escape(str(peak)) if peak else ''}, best plan "
             f"({html.escape(str(winner))}), {html.escape(instance)}</h4>",
             img or '<p class="muted">No volume/capacity map: the best plan\'s summary names no peak slice, or '
                    "its folder has no segment_loads.geojson with that slice.</p>",
             f"<h4>Model against SUMO, {html.escape(instance)}</h4>"]
    judged = model_vs_simulation(sums)
    if judged is None:
        refs = next((s.get("references") for _, s in sorted(sums.items()) if s.get("references")), None)
        ref_text = _references_text(refs)
        parts.append('<p class="muted">No plan was replayed in SUMO (`cityopt run ... --simulate` does).'
                     + (f" {html.escape(ref_text)}." if ref_text else "") + "</p>")
        return "".join(parts)
    parts.append(_model_vs_simulation_chart(judged["points"], judged["so_bound"], instance) or "")
    parts.append(f'<p class="caption" data-model-best="{html.escape(" ".join(judged["model_best"]))}" '
                 f'data-sumo-best="{html.escape(" ".join(judged["sumo_best"]))}" '
                 f'data-agree="{str(judged["agree"]).lower()}">{html.escape(judged["text"])}</p>')
    parts.append(_judged_table(judged["points"]))
    return "".join(parts)


def _run_dir(rows: pd.DataFrame, label: str | None) -> Path | None:
    if label is None:
        return None
    g = rows[rows["label"] == label]
    for d in g["out_dir"]:
        if isinstance(d, str) and Path(d).is_dir():
            return Path(d)
    return None


def _scenario_section(problem: str, scenario: str, rows: pd.DataFrame) -> tuple[str, str]:
    units = str(rows["objective_units"].dropna().iloc[0]) if rows["objective_units"].notna().any() else ""
    stats = solver_stats(rows)
    verdicts = instance_verdicts(rows)
    text, qaoa_lost = _scenario_verdict(stats, verdicts, units)
    sid = f"{problem}-{scenario}"
    parts = [f'<section id="{html.escape(sid)}"><h3>{html.escape(problem)}: {html.escape(scenario)}</h3>',
             f'<div class="verdict{" lose" if qaoa_lost else ""}" data-scenario="{html.escape(scenario)}">'
             f"<b>Verdict over seeds:</b> {html.escape(text)}</div>",
             "<ul>" + "".join(f'<li data-instance="{html.escape(v["instance"])}"><b>{html.escape(v["instance"])}'
                              f"</b>: {html.escape(v.get('text', ''))}</li>" for v in verdicts) + "</ul>",
             _stats_table(stats, scenario),
             _objective_figure(rows, stats, units, scenario),
             "<h4>QAOA quality against depth and backend</h4>", _qaoa_section(rows)]
    first_inst = sorted(rows["instance_name"].unique())[0]
    one = rows[rows["instance_name"] == first_inst]
    v0 = next((v for v in verdicts if v["instance"] == first_inst), {})
    winner = (v0.get("winners") or [None])[0]
    if problem == "traffic":
        shown: list[tuple[str, Path]] = []
        base_name = baseline_solver(problem)
        base = _run_dir(one, base_name) if base_name else None
        if base is not None and winner != base_name:
            shown.append(("shortest paths (baseline)", base))
        wdir = _run_dir(one, winner)
        if wdir is not None:
            shown.append((f"{winner} (best)", wdir))
        q = one[one["solver"] == "qaoa"]
        if not q.empty and q["label"].iloc[0] != winner:
            qdir = _run_dir(one, str(q["label"].iloc[0]))
            if qdir is not None:
                shown.append((str(q["label"].iloc[0]), qdir))
        others = [Path(d) for d in one["out_dir"] if isinstance(d, str) and Path(d).is_dir()]
        img = _route_map(shown, first_inst, others)
        parts.append(f"<h4>Routes and segment loads, {html.escape(first_inst)}</h4>")
        parts.append(img or '<p class="muted">No plan files beside these runs.</p>')
        live = traffic_map_html(shown, background=others) if img else None
        if live:
            parts.append('<p class="muted">The same plans on an interactive map (works offline: pan, zoom, '
                         "hover a segment for its load; the box at the top right switches plans):</p>" + live)
        parts.append(_traffic_judges(one, winner, first_inst))
    elif problem == "dispatch":
        wdir = _run_dir(one, winner)
        parts.append(f"<h4>Dispatch of the best plan ({html.escape(str(winner))}), {html.escape(first_inst)}</h4>")
        chart = _dispatch_chart(wdir, f"{first_inst} {winner}") if wdir is not None else None
        parts.append(chart or '<p class="muted">No dispatch files beside these runs.</p>')
        if wdir is not None:
            parts.append(_violations_text(wdir))
    parts.append("</section>")
    return "".join(parts), f'<li><a href="#{html.escape(sid)}">{html.escape(problem)} {html.escape(scenario)}</a>: ' \
                           f"{html.escape(text)}</li>"


# ---------------------------------------------------------------------------- live loop and forecasts
def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _busiest_sensors(frame: pd.DataFrame, value: str, n: int = 3) -> list[str]:
    """The ``n`` sensors with the highest mean ``value`` (ties by name)."""
    means = frame.groupby("sensor_id")[value].mean().dropna()
    return [str(k) for k, _ in sorted(means.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]]


def _live_peak(features: list[dict[str, Any]], strategy: str) -> str | None:
    """The step start ``HH:MM`` at which ``strategy``'s segments carry the most volume/capacity in all."""
    prefix = f"vc {strategy} "
    totals: dict[str, float] = {}
    for f in features:
        for k, v in (f.get("properties") or {}).items():
            if k.startswith(prefix) and _num(v) is not None:
                totals[k[len(prefix):]] = totals.get(k[len(prefix):], 0.0) + float(v)
    if not totals:
        return None
    return max(sorted(totals), key=lambda k: totals[k])


def _work_text(settings: dict[str, Any], strategies: dict[str, Any]) -> str:
    """The solvers' work per step and how many steps the wall-clock guard cut (empty for older runs).

    >>> _work_text({"solver_work": {"cpsat": {"deterministic_time": 2.0}}, "time_limit_s": 100.0},
    ...            {"cityopt-cpsat": {"wall_limited_steps": 0}})
    ' Work per step: cpsat deterministic_time 2; wall guard 100 s, cut no step.'
    """
    work = settings.get("solver_work") or {}
    if not work:
        return ""
    each = "; ".join(f"{name} " + ", ".join(f"{k} {v:g}" if isinstance(v, (int, float)) else f"{k} {v}"
                                             for k, v in opts.items())
                     for name, opts in work.items() if opts)
    cut = sum(int(r.get("wall_limited_steps") or 0) for r in strategies.values())
    guard = _num(settings.get("time_limit_s"))
    each = each or "the solvers' defaults"
    limit = "-" if guard is None else f"{guard:g}"
    steps = "no step" if not cut else f"{cut} step(s)"
    return f" Work per step: {each}; wall guard {limit} s, cut {steps}."


def live_section(folder: str | os.PathLike[str]) -> str | None:
    """The live loop's section from ``folder/live/`` (None without ``live/summary.json``).

    A verdict, one row per strategy (travel time, time loss, arrivals, teleports,
    wall time per step), the travel time over the run for each strategy (from
    ``timeline.csv``), the loops' speed against the forecast for the three
    busiest loops (``sensors.csv``) and the measured volume/capacity map at the
    peak step for no re-routing, SUMO's rerouting and the best cityopt strategy
    (``segment_loads.geojson``, drawn as the traffic plans' peak-slice map).
    """
    import pandas as pd

    from optimizer.inputs.peak import clock
    from optimizer.maps import read_features

    live = Path(folder) / "live"
    summary = _read_json(live / "summary.json")
    if not summary:
        return None
    st = summary.get("settings") or {}
    strategies = summary.get("strategies") or {}
    v = summary.get("verdict") or {}
    step_s = float(st.get("step_min") or 5.0) * 60.0
    words = [f"Best: {v.get('best')} (ranked by {v.get('ranked_by', 'total travel time')})."]
    if "cityopt_beats_sumo_rerouting" in v:
        words.append(f"{v.get('best_cityopt')} {'beats' if v['cityopt_beats_sumo_rerouting'] else 'does not beat'} "
                     "SUMO's own rerouting.")
    words += [f"{line}." for line in v.get("against_none") or []]
    rt = v.get("real_time") or {}
    if rt:
        words.append("Real time (every step's wall time below the step): "
                     + ", ".join(f"{k} {'yes' if ok else 'no'}" for k, ok in rt.items()) + ".")
    lose = "cityopt_beats_sumo_rerouting" in v and not v["cityopt_beats_sumo_rerouting"]
    parts = ['<section id="live"><h2>Live re-routing</h2>',
             f'<p class="muted">{html.escape(str(st.get("city", "")))}: {st.get("vehicles", "?")} vehicles, '
             f'{_num(st.get("hours")) or 0:g} h of departures from {clock(float(st.get("peak_start_s") or 0))}, a '
             f'step of {_num(st.get("step_min")) or 0:g} simulated min, horizon {_num(st.get("horizon_min")) or 0:g} '
             f'min, forecast {html.escape(str(st.get("forecast", "")))}, {st.get("detectors", "?")} loops.'
             f'{html.escape(_work_text(st, strategies))}</p>',
             f'<div class="verdict{" lose" if lose else ""}" data-best="{html.escape(str(v.get("best")))}">'
             f"<b>Verdict:</b> {html.escape(' '.join(words))}</div>"]
    head = ("<tr><th class='l'>strategy</th><th>travel time (veh-h)</th><th>mean time loss (s)</th>"
            "<th>arrived / vehicles</th><th>teleports</th><th>max step wall (s)</th><th>mean step wall (s)</th>"
            "<th>vehicles re-routed</th></tr>")
    body = []
    for name, r in strategies.items():
        ours = name.startswith("cityopt-")
        tt = _num(r.get("total_travel_time_s"))
        body.append(f'<tr data-strategy="{html.escape(name)}"><td class="l">{html.escape(name)}</td>'
                    + _cell(None if tt is None else tt / 3600.0, "{:.1f}") + _cell(_num(r.get("time_loss_s")), "{:.1f}")
                    + f"<td>{r.get('vehicles_arrived')} / {r.get('vehicles', '?')}</td>"
                    + _cell(r.get("teleports"), "{:d}")
                    + (_cell(_num(r.get("max_step_wall_s")), "{:.2f}") if ours else "<td>-</td>")
                    + (_cell(_num(r.get("mean_step_wall_s")), "{:.2f}") if ours else "<td>-</td>")
                    + (_cell(r.get("vehicles_rerouted"), "{:d}") if ours else "<td>-</td>") + "</tr>")
    parts.append(f'<table class="live">{head}{"".join(body)}</table>')
    try:
        timeline = pd.read_csv(live / "timeline.csv")
    except (OSError, ValueError):
        timeline = None
    parts.append("<h3>Travel time over the run</h3>")
    chart = _live_timeline_chart(timeline, step_s) if timeline is not None else None
    parts.append(chart or '<p class="muted">No timeline.csv beside the summary.</p>')
    ours = [k for k in strategies if k.startswith("cityopt-")]
    shown = v.get("best_cityopt") or (ours[0] if ours else next(iter(strategies), None))
    try:
        sensors = pd.read_csv(live / "sensors.csv")
    except (OSError, ValueError):
        sensors = None
    parts.append(f"<h3>Forecast against observed, live ({html.escape(str(shown))})</h3>")
    chart = None
    if sensors is not None and shown is not None:
        mine = sensors[(sensors["strategy"] == shown) & sensors["forecast_speed_kph"].notna()
                       & sensors["speed_kph"].notna()]
        chart = _live_forecast_chart(sensors, shown, _busiest_sensors(mine, "flow_vph")) if len(mine) else None
    parts.append(chart or '<p class="muted">No loop readings with a forecast (live/sensors.csv).</p>')
    geo = live / "segment_loads.geojson"
    feats = read_features(geo) if geo.is_file() else []
    base = "none" if "none" in strategies else next(iter(strategies), "")
    peak = _live_peak(feats, base)
    label = None
    if peak:
        hms = [int(x) for x in peak.split(":")] + [0]
        label = f"{peak}-{clock(hms[0] * 3600 + hms[1] * 60 + hms[2] + step_s)}"
    parts.append(f"<h3>Volume/capacity at the peak step{' ' + html.escape(label) if label else ''}</h3>")
    maps = []
    if peak:
        for name in dict.fromkeys([base, "sumo-rerouting", shown]):
            if name in strategies:
                img = _vc_peak_map(live, str(label), name, "live", path=geo, column=f"vc {name} {peak}")
                if img:
                    maps.append(img)
    parts.append(('<div class="figs">' + "".join(maps) + "</div>") if maps else
                 '<p class="muted">No measured segment loads (live/segment_loads.geojson).</p>')
    parts.append("</section>")
    return "".join(parts)


def forecast_section(folder: str | os.PathLike[str]) -> str | None:
    """The forecasts' section from ``folder/forecast/`` (None without ``metrics.csv``): the verdict, MAE,
    RMSE and MAPE per target, horizon and model, and (from ``predictions.csv``) the held-out day's
    observed flow and speed against each model's forecast for the three busiest sensors."""
    import pandas as pd

    fc = Path(folder) / "forecast"
    try:
        metrics = pd.read_csv(fc / "metrics.csv")
    except (OSError, ValueError):
        return None
    v = _read_json(fc / "verdict.json") or {}
    parts = ['<section id="forecast"><h2>Forecasts</h2>',
             f'<div class="verdict{" lose" if v.get("quantum_wins") is False else ""}" '
             f'data-winner="{html.escape(str(v.get("winner")))}"><b>Verdict:</b> '
             f'{html.escape(str(v.get("statement", v.get("winner", ""))))}</div>']
    if v.get("test_days"):
        parts.append(f'<p class="muted">Trained on {html.escape(", ".join(v.get("train_days") or []))}; '
                     f'held out {html.escape(", ".join(v["test_days"]))}; {v.get("sensors", "?")} sensors.</p>')
    head = ("<tr><th class='l'>target</th><th>horizon (min)</th><th class='l'>model</th><th>MAE</th>"
            "<th>RMSE</th><th>MAPE (%)</th></tr>")
    body = []
    sort = [c for c in ("target", "horizon_min") if c in metrics.columns]
    for r in (metrics.sort_values(sort, kind="stable") if sort else metrics).itertuples(index=False):
        target = getattr(r, "target", "")
        body.append(f'<tr data-model="{html.escape(str(r.model))}" data-horizon="{r.horizon_min}">'
                    f'<td class="l">{html.escape(str(target))}</td><td>{r.horizon_min}</td>'
                    f'<td class="l">{html.escape(str(r.model))}</td>'
                    + _cell(_num(r.mae), "{:.3g}") + _cell(_num(r.rmse), "{:.3g}") + _cell(_num(r.mape), "{:.3g}")
                    + "</tr>")
    parts.append(f'<table class="forecast">{head}{"".join(body)}</table>')
    try:
        pred = pd.read_csv(fc / "predictions.csv")
    except (OSError, ValueError):
        pred = None
    chart = None
    if pred is not None and len(pred):
        horizon = int(pred["horizon_min"].min())
        flows = pred[(pred["target"] == "flow_vph") & (pred["horizon_min"] == horizon)]
        chosen = _busiest_sensors(flows if len(flows) else pred, "observed")
        chart = _forecast_chart(pred, chosen, horizon, str(v.get("tz") or "UTC"))
        parts.append(f"<h3>Forecast against observed on the held-out day, {horizon} min ahead</h3>")
    parts.append(chart or '<p class="muted">No held-out forecasts (forecast/predictions.csv) to draw.</p>')
    parts.append("</section>")
    return "".join(parts)


class ReportPathError(InvalidInputError):
    """The report cannot be written where asked (a folder, a read-only place, a full disk)."""


def check_report_path(out_html: str | os.PathLike[str], *, field: str = "out_html") -> Path:
    """Refuse, before any work, a report path that is a folder or in a place that cannot be written.

    ``field`` names it as the caller does (``--out``, ``--report``).  Nothing is
    created: the probe is a temp file in the nearest folder of the path that exists.

    Raises
    ------
    ReportPathError
        One line naming ``field``, the path, why, and the fix.

    Examples
    --------
    >>> import tempfile
    >>> check_report_path(tempfile.mkdtemp(), field="--out")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    optimizer.report.html.ReportPathError: --out '...' is a folder; give the path of the HTML file to write, e.g. .../report.html
    """

    out = Path(out_html)
    if not str(out_html).strip():
        msg = f"{field} is empty; give the path of the HTML file to write, e.g. report.html"
        raise ReportPathError(msg)
    if out.is_dir():
        msg = f"{field} {str(out)!r} is a folder; give the path of the HTML file to write, e.g. {out / 'report.html'}"
        raise ReportPathError(msg)
    try:
        probe_writable(out.absolute().parent)
    except OSError as exc:
        msg = (f"{field} {str(out)!r} cannot be written ({exc.strerror or exc}); give a path in a writable "
               f"folder")
        raise ReportPathError(msg) from None
    return out


def write_report(db_path: str | os.PathLike[str], out_html: str | os.PathLike[str], *,
                 title: str | None = None, outputs: str | os.PathLike[str] | None = None) -> Path:
    """Write the HTML report of the results database ``db_path`` to ``out_html`` (atomically).

    Where the outputs folder (``outputs``, default the database's folder) holds
    ``live/`` (``cityopt live``, the demo's live loop) or ``forecast/``
    (``cityopt forecast``), the page gains their sections (:func:`live_section`,
    :func:`forecast_section`).

    Parameters
    ----------
    db_path : path
        A DuckDB results database (:class:`optimizer.runs.results.ResultsDB`).
    out_html : path
        The HTML file to write.
    title : str, optional
    outputs : path, optional
        The folder holding ``live/`` and ``forecast/`` (default: the database's folder).

    Returns
    -------
    Path
        ``out_html``.

    Raises
    ------
    ReportPathError
        ``out_html`` is a folder or cannot be written (checked first), or the disk filled up.
    ResultsDatabaseError
        No database at ``db_path``, or it cannot be read (corrupt, truncated, another program's).
    """
    from optimizer.runs.results import ResultsDB

    check_report_path(out_html)
    df = ResultsDB(db_path).frame()
    jobs = sorted({str(j) for j in df["job"].dropna()}) if len(df) else []
    title = title or ("cityopt solver comparison" + (f": {', '.join(jobs)}" if jobs else ""))
    sections, toc = [], []
    for problem in sorted(df["problem"].dropna().unique()) if len(df) else []:
        sections.append(f"<h2>{html.escape(str(problem))}</h2>")
        pdf = df[df["problem"] == problem]
        for scenario in sorted(pdf["scenario"].dropna().unique()):
            sec, line = _scenario_section(str(problem), str(scenario), pdf[pdf["scenario"] == scenario])
            sections.append(sec)
            toc.append(line)
    folder = Path(outputs) if outputs is not None else Path(db_path).parent
    for name, build in (("live re-routing", live_section), ("forecasts", forecast_section)):
        sec = build(folder)
        if sec:
            sections.append(sec)
            anchor = "live" if name.startswith("live") else "forecast"
            toc.append(f'<li><a href="#{anchor}">{name}</a></li>')
    versions = ""
    if len(df) and isinstance(df["versions"].iloc[0], str):
        v = json.loads(df["versions"].iloc[0])
        versions = ", ".join(f"{k} {val}" for k, val in v.items())
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="muted">{len(df)} runs from {html.escape(str(db_path))}; written {now}. {html.escape(versions)}</p>
<h2>Verdicts</h2>
<ul class="toc">{"".join(toc) or "<li>No runs in this database yet.</li>"}</ul>
{"".join(sections)}
<h2>Every run</h2>
<details open><summary>{len(df)} runs</summary>{_runs_table(df) if len(df) else ""}</details>
</body></html>
"""
    try:
        out = atomic_write_text(out_html, page)
        os.chmod(out, 0o644)  # a page people read (atomic writes start private)
    except OSError as exc:
        msg = f"the report {str(out_html)!r} could not be written ({exc.strerror or exc}); free space or write it elsewhere"
        raise ReportPathError(msg) from None
    log.info("wrote report %s (%d runs)", out, len(df))
    return out
