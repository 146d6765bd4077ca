"""Compiled (Numba) kernels of :mod:`solvers.qaoa.fastsim`: the real-frame mixer inside a tile.

In the frame of :mod:`solvers.qaoa.fastsim.simulator` the X mixer of a free qubit is the real
rotation ``R(beta) = [[cos, sin], [-sin, cos]]`` acting on the pairs of floats
whose index differs in that qubit's bit.  On the float view of a tile of
complex amplitudes, qubit ``q`` of ``n`` pairs floats ``stride = 2**(n - q)``
apart (the two floats of an amplitude ride along together).

The kernels sweep a tile (held in cache by the caller) two qubits at a time:
one radix-4 butterfly reads four floats, applies ``R`` on both qubits and writes
them back, so ``k`` qubits take ``ceil(k / 2)`` sweeps, each a stream of fused
multiply-adds that LLVM vectorises.  This replaces the Kronecker-block matrix
products of the numpy path, which cost ``2**k`` multiply-adds per float for a
block of ``k`` qubits where the butterflies cost 2 per qubit.

The XY mixer's edges ``exp(-i beta (XX + YY)/2)`` (on qubits of one-hot groups,
outside the frame) run in the same tile pass, one sweep per edge in their order
(:func:`xy_edges`, backward :func:`xy_edges_back`).

``rotate`` is the forward X mixer; ``rotate_back`` is one step of the adjoint
gradient: it returns ``sum_q <lam|A_q|psi>`` (``A = [[0, 1], [-1, 0]]``, the
generator, ``dR/dbeta = A R``) and applies ``R(-beta)`` to both vectors.  The
``A_q`` commute with every ``R`` of the layer and ``R`` is orthogonal, so each
qubit's term may be taken at any point of the sweep.

All kernels release the GIL (``nogil``): the simulator's thread pool runs tiles
in parallel.  They are compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["edge_strides", "float_strides", "rotate", "rotate_back", "xy_edges", "xy_edges_back"]


def float_strides(qubits: list[int] | tuple[int, ...], n: int) -> np.ndarray:
    """The float-view strides of ``qubits`` of an ``n``-qubit big-endian state, ascending.

    >>> float_strides([3, 1, 2], 4).tolist()
    [2, 4, 8]
    """
    return np.array(sorted(2 << (n - 1 - q) for q in qubits), dtype=np.int64)


def edge_strides(edges: list[tuple[int, int]] | tuple[tuple[int, int], ...], n: int) -> np.ndarray:
    """``(E, 2)`` float-view strides of XY ``edges``, the larger stride first, for :func:`xy_edges`.

    >>> edge_strides([(0, 2), (3, 1)], 4).tolist()
    [[16, 4], [8, 2]]
    """
    return np.array([float_strides(e, n)[::-1] for e in edges], dtype=np.int64).reshape(-1, 2)


@njit(cache=True, fastmath=True, nogil=True, boundscheck=False)
def _pair(x, s1, s2, c, s):  # pragma: no cover - compiled
    for i in range(0, x.size, 2 * s2):
        for i2 in range(i, i + s2, 2 * s1):
            p0 = x[i2 : i2 + s1]
            p1 = x[i2 + s1 : i2 + 2 * s1]
            p2 = x[i2 + s2 : i2 + s2 + s1]
            p3 = x[i2 + s2 + s1 : i2 + s2 + 2 * s1]
            for j in range(s1):
                a, b, d, e = p0[j], p1[j], p2[j], p3[j]
                a1 = c * a + s * b
                b1 = c * b - s * a
                d1 = c * d + s * e
                e1 = c * e - s * d
                p0[j] = c * a1 + s * d1
                p2[j] = c * d1 - s * a1
                p1[j] = c * b1 + s * e1
                p3[j] = c * e1 - s * b1


@njit(cache=True, fastmath=True, nogil=True, boundscheck=False)
def _single(x, st, c, s):  # pragma: no cover - compiled
    for i in range(0, x.size, 2 * st):
        xa = x[i : i + st]
        xb = x[i + st : i + 2 * st]
        for j in range(st):
            a, b = xa[j], xb[j]
            xa[j] = c * a + s * b
            xb[j] = c * b - s * a


@njit(cache=True, fastmath=True, nogil=True, boundscheck=False)
def rotate(x, strides, c, s):  # pragma: no cover - compiled
    """``R(beta)`` (``c = cos beta``, ``s = sin beta``, of ``x``'s dtype) on every qubit
    of ``strides`` (ascending float strides, each dividing ``x.size / 2``), in place."""
    k = 0
    while k + 1 < strides.size:
        _pair(x, strides[k], strides[k + 1], c, s)
        k += 2
    if k < strides.size:
        _single(x, strides[k], c, s)


@njit(cache=True, fastmath=True, nogil=True, boundscheck=False)
def _dot_generator(p, lam, st):  # pragma: no cover - compiled
    acc = 0.0
    for i in range(0, p.size, 2 * st):
        pa = p[i : i + st]
        pb = p[i + st : i + 2 * st]
        la = lam[i : i + st]
        lb = lam[i + st : i + 2 * st]
        part = 0.0
        for j in range(st):
            part += la[j] * pb[j] - lb[j] * pa[j]
        acc += part
    return acc


@njit(cache=True, fastmath=True, nogil=True, boundscheck=False)
def rotate_back(p, lam, strides, c, s):  # pragma: no cover - compiled
    """``sum_q <lam|A_q|p>`` over the qubits of ``strides`` (float64), then ``R(-beta)``
    (pass ``c = cos beta``, ``s = -sin beta``) on both ``p`` and ``lam`` in place."""
    acc = 0.0
    for k in range(strides.size):
        acc += _dot_generator(p, lam, strides[k])
    rotate(p, strides, c, s)
    rotate(lam, strides, c, s)
    return acc


# ------------------------------------------------------------------ XY edges
@njit(cache=True, fastmath=True, nogil=True, boundscheck=False)
def _xy(x, fa, fb, c, s):  # pragma: no cover - compiled
    # amplitudes |..0_a..1_b..> (X) and |..1_a..0_b..> (Y); floats re, im interleaved
    for i0 in range(0, x.size, 2 * fa):
        for i1 in range(i0, i0 + fa, 2 * fb):
            xs = x[i1 + fb : i1 + 2 * fb]
            ys = x[i1 + fa : i1 + fa + fb]
            for j in range(0, fb, 2):
                xr, xi, yr, yi = xs[j], xs[j + 1], ys[j], ys[j + 1]
                xs[j] = c * xr + s * yi
                xs[j + 1] = c * xi - s * yr
                ys[j] = c * yr + s * xi
                ys[j + 1] = c * yi - s * xr


@njit(cache=True, fastmath=True, nogil=True, boundscheck=False)
def xy_edges(x, edges, c, s):  # pragma: no cover - compiled
    """``exp(-i beta (XX + YY)/2)`` on each edge in order, in place, on the float view ``x``.

    ``edges`` is ``(E, 2)`` int64 of float strides ``(f_a, f_b)``, ``f_a > f_b`` (the
    qubit with the larger stride first); ``c = cos beta``, ``s = sin beta``.
    """
    for e in range(edges.shape[0]):
        _xy(x, edges[e, 0], edges[e, 1], c, s)


@njit(cache=True, fastmath=True, nogil=True, boundscheck=False)
def _xy_dot(p, lam, fa, fb):  # pragma: no cover - compiled
    # Re <lam| -i (XX + YY)/2 |p> = Im(conj(lam_X) p_Y + conj(lam_Y) p_X)
    acc = 0.0
    for i0 in range(0, p.size, 2 * fa):
        for i1 in range(i0, i0 + fa, 2 * fb):
            px = p[i1 + fb : i1 + 2 * fb]
            py = p[i1 + fa : i1 + fa + fb]
            lx = lam[i1 + fb : i1 + 2 * fb]
            ly = lam[i1 + fa : i1 + fa + fb]
            part = 0.0
            for j in range(0, fb, 2):
                part += lx[j] * py[j + 1] - lx[j + 1] * py[j] + ly[j] * px[j + 1] - ly[j + 1] * px[j]
            acc += part
    return acc


@njit(cache=True, fastmath=True, nogil=True, boundscheck=False)
def xy_edges_back(p, lam, edges, c, s):  # pragma: no cover - compiled
    """Backward through :func:`xy_edges`: for each edge in reverse order, its
    ``Re <lam|D|p>`` (summed, float64), then the edge with ``(c, s)`` (pass
    ``s = -sin beta``) on ``p`` and ``lam``."""
    acc = 0.0
    for e in range(edges.shape[0] - 1, -1, -1):
        fa, fb = edges[e, 0], edges[e, 1]
        acc += _xy_dot(p, lam, fa, fb)
        _xy(p, fa, fb, c, s)
        _xy(lam, fa, fb, c, s)
    return acc
