"""The building blocks of :class:`~solvers.qaoa.fastsim.simulator.FastSimulator`.

The array module (numpy, or CuPy for ``platform="gpu"``, imported lazily), the
process-wide thread pools and the hold on BLAS's own threads, and the small pure
functions the simulator is built from: tiling an array, the mixer blocks'
matrices, cutting qubits into blocks, checking angles.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from solvers.errors import BackendUnavailableError, InvalidInputError, InvalidOptionError

__all__ = [
    "PLATFORMS",
    "PRECISIONS",
    "array_module",
    "block_matrix",
    "check_angles",
    "gpu_status",
    "qubit_runs",
    "single_threaded_blas",
    "thread_pool",
    "tile_slices",
    "to_host",
]

#: Working precision name -> (complex dtype, real dtype).
PRECISIONS: dict[str, tuple[type, type]] = {
    "complex64": (np.complex64, np.float32),
    "complex128": (np.complex128, np.float64),
}
#: Values of the ``platform`` option: where the simulator runs.
PLATFORMS = ("cpu", "gpu")

_INSTALL_HINT = "pip install cupy-cuda12x on a machine with an NVIDIA GPU and a CUDA 12 driver"


def gpu_status() -> str:
    """Whether ``platform="gpu"`` can run here: ``"available"`` or why not."""
    try:
        array_module("gpu")
    except BackendUnavailableError as exc:
        return str(exc)
    return "available"


def array_module(platform: str) -> Any:
    """numpy for ``"cpu"``, CuPy for ``"gpu"`` (raises where it cannot run)."""
    if platform == "cpu":
        return np
    if platform != "gpu":
        msg = f"option 'platform' of backend 'fast' must be one of: {', '.join(PLATFORMS)}; got {platform!r}"
        raise InvalidOptionError(msg)
    try:
        import cupy
    except ImportError as exc:
        msg = f"backend 'fast' with platform='gpu' needs CuPy, which is not installed ({exc}); {_INSTALL_HINT}"
        raise BackendUnavailableError(msg) from exc
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
        detail = f"{count} GPUs"
    except Exception as exc:  # CUDARuntimeError and friends: no driver, no GPU
        count, detail = 0, str(exc)
    if count < 1:
        msg = (
            f"backend 'fast' with platform='gpu' needs an NVIDIA GPU: CuPy is installed but finds "
            f"no GPU ({detail}); {_INSTALL_HINT}"
        )
        raise BackendUnavailableError(msg)
    return cupy


def to_host(a: Any) -> np.ndarray:
    return a if isinstance(a, np.ndarray) else a.get()


# ----------------------------------------------------------------- threads
_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def thread_pool(threads: int) -> ThreadPoolExecutor:
    """A process-wide pool of ``threads`` workers (created on first use, then shared)."""
    with _POOLS_LOCK:
        if threads not in _POOLS:
            _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="qaoa-fast")
        return _POOLS[threads]


@functools.cache
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return None
    return ThreadpoolController()


def single_threaded_blas() -> contextlib.AbstractContextManager:
    """Hold BLAS to one thread: the tiles are the unit of parallelism."""
    controller = _blas_controller()
    if controller is None:  # pragma: no cover
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


# ---------------------------------------------------------------- helpers
def tile_slices(shape: Sequence[int], target: int) -> list[tuple[slice, ...]]:
    """Index tuples cutting an array of ``shape`` (powers of two) into pieces of about
    ``target`` elements, innermost axes kept whole first."""
    sizes: list[int] = []
    left = max(1, int(target))
    for d in reversed(shape):
        s = min(int(d), left)
        sizes.append(s)
        left = max(1, left // s)
    sizes.reverse()
    starts = itertools.product(*(range(0, d, s) for d, s in zip(shape, sizes)))
    return [tuple(slice(i, i + s) for i, s in zip(start, sizes)) for start in starts]


def _kron_power(m: np.ndarray, k: int) -> np.ndarray:
    """``m (x) m (x) ... (x) m``, ``k`` factors (outer products: np.kron is slow for tiny ones)."""
    out = m
    for _ in range(k - 1):
        out = (out[:, None, :, None] * m[None, :, None, :]).reshape(2 * out.shape[0], -1)
    return out


@functools.lru_cache(maxsize=512)
def block_matrix(kind: str, k: int, beta: float, dtype: str) -> np.ndarray:
    """The ``2**k x 2**k`` matrices of a mixer block (read-only, cached).

    ``"rx_t"``: ``(rx(2 beta)^{(x)k})^T``; ``"rx_gen_t"``: ``D^T`` with
    ``D = -i sum_j X_j``; ``"real"``: ``R(beta)^{(x)k}`` with
    ``R = [[cos, sin], [-sin, cos]]``; ``"real_gen"``: ``D = sum_j [[0, 1], [-1, 0]]_j``
    (``dR/dbeta = D R``).  ``beta`` is ignored by the generators.
    """
    c, s = math.cos(beta), math.sin(beta)
    if kind == "rx_t":
        out = _kron_power(np.array([[c, -1j * s], [-1j * s, c]]), k).T
    elif kind == "real":
        out = _kron_power(np.array([[c, s], [-s, c]]), k)
    else:
        g = (
            np.array([[0.0, 1.0], [1.0, 0.0]])
            if kind == "rx_gen_t"
            else np.array([[0.0, 1.0], [-1.0, 0.0]])
        )
        eye = np.eye(2)
        out = sum(
            functools.reduce(np.kron, [g if i == j else eye for i in range(k)]) for j in range(k)
        )
        out = (-1j * out).T if kind == "rx_gen_t" else out
    out = np.ascontiguousarray(out, dtype=dtype)
    out.setflags(write=False)
    return out


def qubit_runs(qubits: Sequence[int], size: int, first: int) -> list[tuple[int, int]]:
    """Consecutive runs of ``qubits`` as ``(lo, k)`` blocks.

    Each run is cut from its high-index (low-order bit) end: ``first`` qubits,
    then ``size`` at a time, so a shorter remainder block sits at the run's top,
    where its matrix product is one large one rather than many tiny batched ones.
    """
    blocks: list[tuple[int, int]] = []
    limit = first
    for q in sorted(qubits, reverse=True):
        if blocks and blocks[-1][0] - 1 == q and blocks[-1][1] < limit:
            blocks[-1] = (q, blocks[-1][1] + 1)
        else:
            limit = first if not blocks or blocks[-1][0] - 1 != q else size
            blocks.append((q, 1))
    return blocks


def check_angles(gammas: Sequence[float], betas: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray(gammas, dtype=np.float64).reshape(-1)
    b = np.asarray(betas, dtype=np.float64).reshape(-1)
    if g.size != b.size or g.size == 0:
        msg = (
            f"gammas and betas must be non-empty and of the same length, got {g.size} and {b.size}"
        )
        raise InvalidInputError(msg)
    if not (np.isfinite(g).all() and np.isfinite(b).all()):
        msg = f"angles must be finite, got gammas={g.tolist()} betas={b.tolist()}"
        raise InvalidInputError(msg)
    return g, b
