"""The solver-comparison report: one self-contained HTML file from a results database.

:func:`write_report` reads the ``runs`` table (:mod:`optimizer.bench`) and, per
problem and scenario (an instance over its seeds), shows:

- a plain verdict per instance (which solver won and by how much; QAOA's gap to
  the CP-SAT / exact optimum, also when it loses) and one over the seeds;
- objective by solver over seeds (mean, standard deviation, min and max, each
  seed a point), the gap to the best bound, and wall time;
- QAOA quality (objective over the instance's best) against depth, one line
  per backend: noiseless (``qsim``, ``fast``) against each QVM;
- traffic: the routes on a map of the city's streets, segment loads coloured
  (from each run folder's ``segment_loads.geojson`` and ``plan.geojson``);
- dispatch: the day's dispatch as a stacked area chart, with the power-flow
  check (max line loading per period, violations marked), from ``dispatch.csv``,
  ``demand.csv`` and ``powerflow.json``;

and a table of every run.  Plots are PNG images inlined as base64 and the page
carries no script and loads nothing from the network, so it opens offline with
no console errors.  Traffic plans are drawn twice: as a matplotlib image (it
prints) and as an interactive folium map (:mod:`optimizer.report_map`) in an
``<iframe srcdoc>`` with Leaflet inlined, no CDN and no tiles, so it too works
offline; the page itself carries no script.

Every figure in the tables carries its exact value in a ``data-value``
attribute, so tests compare the page with the database.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.io import atomic_write_text
from optimizer.report_map import traffic_map_html

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["instance_verdicts", "solver_stats", "write_report"]

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
def _num(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def solver_stats(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """Per solver label of one scenario: objective mean / std / min / max over seeds, gap, wall time.

    The gap of a run is to the best bound of its instance (the largest ``best_bound``
    any solver proved for that seed): ``(objective - bound) / |objective|``.
    """
    import numpy as np

    from optimizer.runner import relative_gap

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
                gaps.append(relative_gap(o, b, o))
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
    from optimizer.runner import RunRecord, SolverRequest

    recs = []
    for _, r in rows.iterrows():
        s = json.loads(r["summary"]) if isinstance(r["summary"], str) else dict(r["summary"])
        req = SolverRequest(str(s.get("solver", r["solver"])), s.get("options") or {}, label=str(r["label"]))
        recs.append(RunRecord(req, None, s))  # type: ignore[arg-type]
    return recs


def instance_verdicts(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """:func:`optimizer.runner.verdict` of every instance (seed) in ``rows``."""
    from optimizer.runner import verdict

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
    from optimizer.runner import BOUND_LABELS

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


# ---------------------------------------------------------------------------- figures
def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return f'<img alt="{html.escape(fig.get_label() or "figure")}" src="data:image/png;base64,' \
           f'{base64.b64encode(buf.getvalue()).decode()}">'


def _fig(w: float, h: float, label: str) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    fig.set_label(label)
    return fig


def _objective_figure(rows: pd.DataFrame, stats: list[dict[str, Any]], units: str, title: str) -> str:
    import numpy as np

    fig = _fig(11, 3.4, f"objective, gap and wall time: {title}")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    labels = [s["label"] for s in stats]
    x = np.arange(len(labels))
    means = [s["objective_mean"] if s["objective_mean"] is not None else np.nan for s in stats]
    stds = [s["objective_std"] or 0.0 for s in stats]
    ax1.bar(x, means, yerr=stds, capsize=4, color="#9db8e8", edgecolor="#3b6fd8")
    for i, lab in enumerate(labels):
        ys = [_num(v) for v, f in zip(rows.loc[rows["label"] == lab, "objective"],
                                      rows.loc[rows["label"] == lab, "feasible"]) if bool(f)]
        ys = [y for y in ys if y is not None]
        ax1.scatter([i] * len(ys), ys, color="#222", s=14, zorder=3)
    finite = [m for m in means if np.isfinite(m)]
    finite += [m + k * sd for m, sd in zip(means, stds) if np.isfinite(m) for k in (-1, 1)]
    finite += [v for v in (_num(o) for o, f in zip(rows["objective"], rows["feasible"]) if bool(f)) if v is not None]
    if finite:
        lo, hi = min(finite), max(finite)
        pad = (hi - lo) * 0.15 or abs(hi) * 0.05 or 1.0
        ax1.set_ylim(max(0.0, lo - pad) if lo >= 0 else lo - pad, hi + pad)
    ax1.set_title(f"objective ({units}), mean +- sd; dots: seeds", fontsize=9)
    gaps = [100 * (s["gap_to_bound_mean"] if s["gap_to_bound_mean"] is not None else np.nan) for s in stats]
    ax2.bar(x, gaps, color="#f0b27a", edgecolor="#c0651b")
    ax2.set_title("mean gap to the best bound (%)", fontsize=9)
    walls = [s["wall_time_s_mean"] or np.nan for s in stats]
    ax3.bar(x, walls, color="#a9d8a0", edgecolor="#3a8a2e")
    positive = [w for w in walls if np.isfinite(w) and w > 0]
    if positive and max(positive) > 20 * min(positive):  # a log axis only where the range needs one
        from matplotlib.ticker import LogLocator, ScalarFormatter

        ax3.set_yscale("log")
        ax3.yaxis.set_major_locator(LogLocator(base=10))
        ax3.yaxis.set_major_formatter(ScalarFormatter())
        ax3.set_title("mean wall time (s, log scale)", fontsize=9)
    else:
        ax3.set_title("mean wall time (s)", fontsize=9)
    for ax in (ax1, ax2, ax3):
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    return _png(fig)


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


def _read_geojson(path: Path) -> list[dict[str, Any]]:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("features", [])
    except (OSError, ValueError):
        return []


def _lines(features: list[dict[str, Any]]) -> list[tuple[list[tuple[float, float]], dict[str, Any]]]:
    out = []
    for f in features:
        g = f.get("geometry") or {}
        if g.get("type") == "LineString":
            out.append(([tuple(c[:2]) for c in g["coordinates"]], f.get("properties") or {}))
        elif g.get("type") == "MultiLineString":
            out += [([tuple(c[:2]) for c in part], f.get("properties") or {}) for part in g["coordinates"]]
    return out


def _route_map(runs: list[tuple[str, Path]], title: str, background: list[Path] = ()) -> str | None:
    """Side-by-side maps of segment loads (coloured) and routes, one panel per run folder.

    ``background``: run folders whose plans, drawn in light grey under each panel, show every
    street the instance's candidate routes use.
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    panels = [(lab, _lines(_read_geojson(d / "segment_loads.geojson")), _lines(_read_geojson(d / "plan.geojson")))
              for lab, d in runs]
    panels = [p for p in panels if p[1] or p[2]]
    if not panels:
        return None
    vmax = max((float(p.get("load", 1) or 1) for _, seg, _ in panels for _, p in seg), default=1.0)
    norm = Normalize(vmin=0.5, vmax=max(vmax, 1.5))
    cmap = colormaps["YlOrRd"]
    fig = _fig(5.2 * len(panels), 4.6, f"routes and segment loads: {title}")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    streets = [c for d in background for c, _ in _lines(_read_geojson(d / "segment_loads.geojson"))]
    for ax, (lab, seg, routes) in zip(axes, panels):
        if streets:
            ax.add_collection(LineCollection(streets, colors="#d0d0d0", linewidths=3.0, zorder=0))
        if routes:
            ax.add_collection(LineCollection([c for c, _ in routes], colors="#4a6fa5", linewidths=0.8, alpha=0.5))
        if seg:
            loads = [float(p.get("load", 1) or 1) for _, p in seg]
            ax.add_collection(LineCollection([c for c, _ in seg], colors=[cmap(norm(v)) for v in loads],
                                             linewidths=[1.0 + 4.0 * v / norm.vmax for v in loads]))
        ax.autoscale()
        ax.set_aspect(1 / math.cos(math.radians(60.17)))
        ax.set_title(lab, fontsize=10)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(4))
        ax.set_xlabel("longitude", fontsize=8)
    axes[0].set_ylabel("latitude", fontsize=8)
    sm = ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=list(axes), label="trips on the segment", shrink=0.8)
    return _png(fig)


#: Units drawn one by one in a dispatch chart; the rest are summed into one band.
TOP_UNITS = 10


def _top_units(table: Any, top: int = TOP_UNITS) -> Any:
    """The ``top`` units with the most energy (and any that ever draw power, e.g. storage)
    as their own columns, largest first; the others summed into ``"other N units"``.

    >>> import pandas as pd
    >>> t = pd.DataFrame({"a": [1.0, 1.0], "b": [5.0, 5.0], "c": [2.0, 0.0], "s": [-1.0, 1.0]})
    >>> list(_top_units(t, top=1).columns)
    ['b', 's', 'other 2 units']
    """
    if table.shape[1] <= top + 1:
        return table[table.abs().sum().sort_values(ascending=False).index]
    signed = [c for c in table.columns if (table[c] < 0).any()]
    rest = [c for c in table.columns if c not in signed]
    order = table[rest].sum().sort_values(ascending=False).index.tolist()
    keep, other = order[:top], order[top:]
    out = table[keep + signed].copy()
    if other:
        out[f"other {len(other)} units"] = table[other].sum(axis=1)
    return out


def _dispatch_chart(run_dir: Path, label: str) -> str | None:
    """Stacked area of output by unit, demand line, and the power-flow check below."""
    import numpy as np
    import pandas as pd

    try:
        disp = pd.read_csv(run_dir / "dispatch.csv")
    except (OSError, ValueError):
        return None
    try:
        demand = pd.read_csv(run_dir / "demand.csv")
    except (OSError, ValueError):
        demand = None
    try:
        pf = json.loads((run_dir / "powerflow.json").read_text(encoding="utf-8")).get("periods", [])
    except (OSError, ValueError):
        pf = []
    table = _top_units(disp.pivot_table(index="hour_start", columns="unit", values="p_mw", aggfunc="sum").fillna(0.0))
    hours = table.index.to_numpy(dtype=float)
    step = float(np.diff(hours).min()) if len(hours) > 1 else 1.0
    edges = np.append(hours, hours[-1] + step)
    fig = _fig(10, 5.2, f"dispatch and power flow: {label}")
    from matplotlib import colormaps

    plt_colors = [colormaps["tab20"](i) for i in range(20)]
    ax, ax2 = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 1])
    ys = [np.append(table[c].to_numpy(), table[c].to_numpy()[-1]) for c in table.columns]
    palette = [plt_colors[i % len(plt_colors)] for i in range(table.shape[1])]
    if str(table.columns[-1]).startswith("other "):
        palette[-1] = "#b8b8b8"  # the summed band is grey, never a unit's colour again
    ax.stackplot(edges, *ys, labels=list(table.columns), colors=palette, step="post", alpha=0.85)
    if demand is not None and "load_mw" in demand:
        ld = demand["load_mw"].to_numpy(dtype=float)
        ax.step(edges, np.append(ld, ld[-1]), where="post", color="k", lw=1.5, label="load")
    ax.set_ylabel("MW")
    ax.legend(fontsize=7, ncol=1, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.grid(alpha=0.3)
    ax.set_title(f"{label}: output by unit (stacked) against load", fontsize=10)
    if pf:
        loading = [_num(p.get("max_line_loading_percent")) or 0.0 for p in pf]
        viol = [len(p.get("violations") or []) + (0 if p.get("converged", True) else 1) for p in pf]
        x = edges[: len(loading)]
        ax2.bar(x, loading, width=step * 0.9, align="edge",
                color=["#d8553b" if v else "#7fb77e" for v in viol])
        ax2.axhline(100, color="#d8553b", ls="--", lw=1)
        for xi, v, lo in zip(x, viol, loading):
            if v:
                ax2.text(xi + step / 2, lo, str(v), ha="center", va="bottom", fontsize=7, color="#a0301b")
        ax2.set_ylabel("max line loading %")
        ax2.set_title("AC power flow per period (red: limits broken, with how many)", fontsize=9)
    ax2.set_xlabel("hour of the day")
    ax2.grid(alpha=0.3)
    return _png(fig)


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
        base = _run_dir(one, "shortest")
        if base is not None and winner != "shortest":
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


def write_report(db_path: str | os.PathLike[str], out_html: str | os.PathLike[str], *,
                 title: str | None = None) -> Path:
    """Write the HTML report of the results database ``db_path`` to ``out_html`` (atomically).

    Parameters
    ----------
    db_path : path
        A DuckDB results database (:class:`optimizer.bench.ResultsDB`).
    out_html : path
        The HTML file to write.
    title : str, optional

    Returns
    -------
    Path
        ``out_html``.

    Raises
    ------
    ResultsDatabaseError
        No database at ``db_path``.
    """
    from optimizer.bench import ResultsDB

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
    out = atomic_write_text(out_html, page)
    os.chmod(out, 0o644)  # a page people read (atomic writes start private)
    log.info("wrote report %s (%d runs)", out, len(df))
    return out
