"""The planners' notebooks: stored without outputs, and each runs top to bottom in under a minute."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
TIME_LIMIT_S = 60.0


def test_the_four_notebooks_are_there() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"traffic_planner.ipynb", "grid_planner.ipynb",
                                           "solver_comparison.ipynb", "live_rerouting.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear the outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=int(TIME_LIMIT_S * 2), kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    elapsed = time.perf_counter() - t0
    assert elapsed < TIME_LIMIT_S, f"{path.name} took {elapsed:.0f} s"
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    rich = [o for o in outputs if o.get("output_type") in ("display_data", "execute_result")]
    kinds = {k for o in rich for k in o.get("data", {})}
    assert "text/html" in kinds or "image/png" in kinds, f"{path.name} shows no map, chart or table"
