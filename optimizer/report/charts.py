"""The matplotlib figures of the HTML report (:mod:`optimizer.report.html`), as inline PNG ``<img>`` tags.

The objective / gap / wall-time panels of a scenario, the static route map of
traffic plans (segment loads coloured; the interactive one is
:mod:`optimizer.maps`), and the day's dispatch stacked by unit with the
power-flow check per period.  Each function returns HTML, or None where the run
folders hold no files to draw.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.maps import feature_lines, read_features

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure


def _num(x: Any) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None




def _png(fig: Figure, **data: str) -> str:
    """The figure as an inline ``<img>``; ``data`` become ``data-<key>`` attributes (``_`` as ``-``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    attrs = "".join(f' data-{k.replace("_", "-")}="{html.escape(str(v))}"' for k, v in data.items())
    return f'<img alt="{html.escape(fig.get_label() or "figure")}"{attrs} src="data:image/png;base64,' \
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

    panels = [(lab, feature_lines(read_features(d / "segment_loads.geojson")), feature_lines(read_features(d / "plan.geojson")))
              for lab, d in runs]
    panels = [p for p in panels if p[1] or p[2]]
    if not panels:
        return None
    vmax = max((float(p.get("load", 1) or 1) for _, seg, _ in panels for _, p in seg), default=1.0)
    norm = Normalize(vmin=0.5, vmax=max(vmax, 1.5))
    cmap = colormaps["YlOrRd"]
    fig = _fig(5.2 * len(panels), 4.6, f"routes and segment loads: {title}")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    streets = [c for d in background for c, _ in feature_lines(read_features(d / "segment_loads.geojson"))]
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


def vc_column(peak_slice: str) -> str:
    """The ``segment_loads.geojson`` column of a slice named like ``assessment.peak_slice``.

    >>> vc_column("07:45-08:00")
    'vc 07:45'
    """
    return "vc " + str(peak_slice).split("-")[0].strip()


def _vc_peak_map(run_dir: Path, peak_slice: str, plan: str, instance: str, *, path: Path | None = None,
                 column: str | None = None) -> str | None:
    """The plan's segments coloured by volume/capacity in the slice ``peak_slice``.

    Every segment of the plan (``segment_loads.geojson``) is drawn: light grey where
    it carries nothing in that slice, else coloured from 0 to ``max(1.2, max v/c)``
    and thicker above 1.0 (over capacity).  None if the file has no segments or no
    column for that slice.  ``path`` and ``column`` read another file and property
    (the live loop's ``live/segment_loads.geojson``, ``vc <strategy> HH:MM``).
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    col = column or vc_column(peak_slice)
    seg = feature_lines(read_features(path or run_dir / "segment_loads.geojson"))
    if not seg or not any(col in p for _, p in seg):
        return None
    vcs = [_num(p.get(col)) or 0.0 for _, p in seg]
    top = max(vcs)
    norm = Normalize(vmin=0.0, vmax=max(1.2, top))
    cmap = colormaps["RdYlGn_r"]
    fig = _fig(7.0, 5.6, f"volume/capacity at the peak slice {peak_slice}: {instance} {plan}")
    ax = fig.subplots()
    idle = [c for (c, _), v in zip(seg, vcs) if v <= 0.0]
    if idle:
        ax.add_collection(LineCollection(idle, colors="#d3d3d3", linewidths=1.2, zorder=1))
    busy = sorted(((v, c) for (c, _), v in zip(seg, vcs) if v > 0.0), key=lambda t: t[0])  # worst on top
    if busy:
        ax.add_collection(LineCollection([c for _, c in busy], colors=[cmap(norm(v)) for v, _ in busy],
                                         linewidths=[4.5 if v > 1.0 else 2.0 for v, _ in busy], zorder=2))
    ax.autoscale()
    ax.set_aspect(1 / math.cos(math.radians(sum(y for c, _ in seg for _, y in c) / sum(len(c) for c, _ in seg))))
    over = sum(v > 1.0 for v in vcs)
    ax.set_title(f"{plan}: volume/capacity in the peak slice {peak_slice}\n"
                 f"{len(busy)} of {len(seg)} segments loaded, max {top:.2f}, {over} over capacity (thick)",
                 fontsize=10)
    ax.tick_params(labelsize=7)
    ax.ticklabel_format(useOffset=False)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.set_xlabel("longitude", fontsize=8)
    ax.set_ylabel("latitude", fontsize=8)
    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.8,
                       label=f"volume / capacity, {peak_slice} (grey: empty)")
    bar.ax.axhline(1.0, color="k", lw=1.2)
    return _png(fig, figure="vc-peak-map", plan=plan, slice=peak_slice, segments=str(len(seg)),
                loaded=str(len(busy)), over=str(over), max_vc=repr(top))


def _ranks(values: list[float]) -> list[int]:
    """1 for the lowest; ties (1e-9 relative) share a rank.

    >>> _ranks([3.0, 1.0, 3.0, 2.0])
    [3, 1, 3, 2]
    """
    return [1 + sum(1 for w in values if w < v - 1e-9 * max(1.0, abs(v))) for v in values]


def _model_vs_simulation_chart(points: list[dict[str, Any]], so_bound: float | None, title: str) -> str | None:
    """Per plan: the model's (BPR) system travel time beside SUMO's, each ranked, the SO bound on the model's.

    ``points``: dicts with ``label``, ``model`` and ``sumo`` (veh-h), ``model_rank``,
    ``sumo_rank`` and ``lost`` (a note where SUMO lost or teleported vehicles, else "").
    Each panel's axis is zoomed to its values (plans differ by little): it does not start at 0.
    """
    if not points:
        return None
    import numpy as np

    fig = _fig(max(7.0, 1.6 * len(points) + 4.0), 3.8, f"model against SUMO: {title}")
    axes = fig.subplots(1, 2)
    labels = [p["label"] for p in points]
    x = np.arange(len(points))
    for ax, key, what, extra in ((axes[0], "model", "model (BPR): system travel time", so_bound),
                                 (axes[1], "sumo", "SUMO: total travel time", None)):
        vals = [float(p[key]) for p in points]
        ranks = [int(p[f"{key}_rank"]) for p in points]
        colors = ["#3b6fd8" if r == 1 else "#9db8e8" for r in ranks]
        hatch = [("//" if p["lost"] and key == "sumo" else "") for p in points]
        bars = ax.bar(x, vals, color=colors, edgecolor="#24489a")
        for b, h in zip(bars, hatch):
            b.set_hatch(h)
        span = vals + ([extra] if extra is not None else [])
        lo, hi = min(span), max(span)
        pad = (hi - lo) * 0.25 or abs(hi) * 0.01 or 1.0
        ax.set_ylim(lo - pad, hi + pad)
        for xi, v, r in zip(x, vals, ranks):
            ax.annotate(f"#{r}\n{v:.5g}", (xi, v), ha="center", va="bottom", fontsize=7,
                        xytext=(0, 2), textcoords="offset points")
        if extra is not None:
            ax.axhline(extra, color="#c0392b", ls="--", lw=1.2, label=f"SO lower bound {extra:.4g}")
            ax.legend(fontsize=7, loc="lower right")
        ax.set_title(f"{what} (veh-h; #rank)", fontsize=9)
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("vehicle-hours (axis not from 0)", fontsize=8)
    if any(p["lost"] for p in points):
        axes[1].set_xlabel("hatched: SUMO teleported or lost vehicles", fontsize=8)
    return _png(fig, figure="model-vs-simulation")


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



# ---------------------------------------------------------------------------- live loop and forecasts
def _clock_axis(ax: Any, seconds: Any) -> None:
    """Tick an axis of seconds since midnight as ``HH:MM``."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(6, steps=[1, 2, 3, 5, 6, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{int(x // 3600) % 24:02d}:{int(x % 3600 // 60):02d}"))


def _live_timeline_chart(timeline: pd.DataFrame, step_s: float) -> str | None:
    """Per strategy over the run: vehicles on the road at each step, and the vehicle-hours spent on the road
    so far (each step's vehicles times the step: the travel time accumulating)."""
    if timeline is None or timeline.empty:
        return None
    fig = _fig(11, 3.6, "live loop: travel time over the run")
    ax1, ax2 = fig.subplots(1, 2)
    finals = {}
    for name, g in timeline.groupby("strategy", sort=False):
        g = g.sort_values("sim_time_s")
        t = g["sim_time_s"].to_numpy(float)
        n = g["vehicles_en_route"].to_numpy(float)
        cum = (n * step_s / 3600.0).cumsum()
        finals[name] = float(cum[-1]) if len(cum) else 0.0
        ax1.step(t, n, where="post", label=name, lw=1.4)
        ax2.plot(t, cum, marker=".", ms=3, label=f"{name} ({finals[name]:.1f})", lw=1.4)
    ax1.set_title("vehicles on the road at each step", fontsize=9)
    ax2.set_title("vehicle-hours on the road so far (travel time over the run)", fontsize=9)
    for ax in (ax1, ax2):
        _clock_axis(ax, None)
        ax.set_xlabel("simulated time", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    ax2.set_ylabel("veh-h", fontsize=8)
    return _png(fig, figure="live-timeline", strategies=" ".join(finals))


def _live_forecast_chart(sensors: pd.DataFrame, strategy: str, chosen: list[str]) -> str | None:
    """For each chosen loop: its measured speed each step against the speed forecast for that step."""
    rows = sensors[(sensors["strategy"] == strategy) & sensors["sensor_id"].isin(chosen)]
    if rows.empty:
        return None
    fig = _fig(3.8 * len(chosen), 3.2, f"live loop: forecast against observed, {strategy}")
    axes = fig.subplots(1, len(chosen), squeeze=False)[0]
    for ax, sid in zip(axes, chosen):
        g = rows[rows["sensor_id"] == sid].sort_values("start_s")
        ax.plot(g["start_s"], g["speed_kph"], "o-", color="#222", ms=3, lw=1.2, label="observed")
        ax.plot(g["start_s"], g["forecast_speed_kph"], "s--", color="#3b6fd8", ms=3, lw=1.2,
                label="forecast one step before")
        ax.set_title(f"{sid}: speed (km/h)", fontsize=9)
        _clock_axis(ax, None)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return _png(fig, figure="live-forecast", strategy=strategy, sensors=" ".join(chosen))


def _forecast_chart(pred: pd.DataFrame, chosen: list[str], horizon: int, tz: str) -> str | None:
    """Held-out day(s): each chosen sensor's observed flow and speed against every model's forecast
    ``horizon`` minutes ahead (plotted at the time forecast)."""
    import pandas as pd

    p = pred[(pred["horizon_min"] == horizon) & pred["sensor_id"].isin(chosen)]
    if p.empty:
        return None
    targets = [t for t in ("flow_vph", "speed_kph") if t in set(p["target"])]
    models = list(dict.fromkeys(p["model"]))
    fig = _fig(3.8 * len(chosen), 2.9 * len(targets), f"forecast against observed, {horizon} min ahead")
    axes = fig.subplots(len(targets), len(chosen), squeeze=False)
    colors = {"persistence": "#7f7f7f", "historical": "#2ca02c", "gbt": "#3b6fd8", "qkernel": "#d62728"}
    for i, target in enumerate(targets):
        for j, sid in enumerate(chosen):
            ax = axes[i][j]
            g = p[(p["sensor_id"] == sid) & (p["target"] == target)]
            when = pd.to_datetime(g["target_time"], utc=True).dt.tz_convert(tz)
            g = g.assign(_t=when).sort_values("_t")
            obs = g.drop_duplicates("_t")
            ax.plot(obs["_t"], obs["observed"], "o-", color="#222", ms=2.5, lw=1.4, label="observed")
            for m in models:
                gm = g[g["model"] == m]
                ax.plot(gm["_t"], gm["predicted"], "-", lw=1.1, color=colors.get(m), label=m)
            ax.set_title(f"{sid}: {target}", fontsize=9)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            from matplotlib.dates import DateFormatter

            ax.xaxis.set_major_formatter(DateFormatter("%H:%M", tz=when.dt.tz if len(when) else None))
    axes[0][0].legend(fontsize=7)
    return _png(fig, figure="forecast-vs-observed", horizon=str(horizon), sensors=" ".join(chosen),
                models=" ".join(models))
