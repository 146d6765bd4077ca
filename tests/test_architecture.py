"""The house's rules, checked: import-linter's contracts (pyproject.toml) hold, and they catch a break."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess:
    if not LINT.exists():
        pytest.fail(f"lint-imports not found beside {sys.executable}; install the dev extras (make test does)")
    return subprocess.run([str(LINT), "--no-cache", "--config", str(root / "pyproject.toml")], cwd=root,
                          capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def test_import_contracts_hold() -> None:
    res = _lint(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("optimizer/inputs/roads.py", "import optimizer.runs.runner", "optimizer layers"),
    ("optimizer/plans/routing.py", "import optimizer.problems.traffic", "plans never import problems"),
    ("solvers/qubo.py", "import optimizer.errors", "solvers never imports optimizer"),
    ("solvers/qaoa/cost.py", "import solvers.qaoa.solver", "no cycles among siblings"),
])
def test_contracts_catch_a_break(tmp_path: Path, module: str, line: str, contract: str) -> None:
    for part in ("optimizer", "solvers", "city_data"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__", "cache"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}  # an import that breaks the house\n")
    res = _lint(tmp_path)
    assert res.returncode != 0
    broken = [ln for ln in res.stdout.splitlines() if ln.endswith("BROKEN")]
    assert any(contract in ln for ln in broken), res.stdout
