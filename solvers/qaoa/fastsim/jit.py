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

The phase layer ``exp(-i gamma C')`` runs compiled too (:func:`phase`): numpy's
``cos`` and ``sin`` cost 5 ns (float32) and 18 ns (float64) an element on this
machine, more than all the rotations of a layer, where a branch-free ``sincos``
(Cody-Waite reduction to ``[-pi/4, pi/4]``, the fdlibm polynomials, the
quadrant by selects) that LLVM vectorises costs about 0.9 and 1.7 ns, accurate
to an ulp or two (:data:`SINCOS_ERROR`).

A layer of the X mixer is then two passes over the state (:func:`layer_tiles`,
:func:`high_rotate`): tiles of contiguous amplitudes get the phase and the
rotations of the low-order qubits while in cache; then blocks of all the
``2**h`` rows of the high-order qubits (``width`` amplitudes each, gathered into
a contiguous scratch: rows a power of two apart would fight over the same cache
sets) get the rotations of the ``h`` high-order qubits.

All kernels release the GIL (``nogil``): the simulator's thread pool runs tiles
in parallel.  They are compiled on first use and cached on disk (``cache=True``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "SINCOS_ERROR",
    "edge_strides",
    "expect_tiles",
    "float_strides",
    "high_rotate",
    "layer_tiles",
    "low_coefficients",
    "phase",
    "phase_back",
    "rotate",
    "rotate_back",
    "sincos_constants",
    "xy_edges",
    "xy_edges_back",
]

#: Fast-math flags of the phase kernels: everything but ``reassoc``, which would fold the
#: Cody-Waite reduction ``((t - k p1) - k p2) - k p3`` into one product and lose its precision.
_PHASE_MATH = {"nnan", "ninf", "nsz", "arcp", "contract", "afn"}
#: Largest error of :func:`phase`'s cos and sin against float64 libm, per real dtype
#: (measured by the tests on ``|angle| <= 200``).
SINCOS_ERROR = {"float32": 2e-7, "float64": 5e-16}
#: Elements per chunk of :func:`phase` (its cos and sin buffers stay in L1).
_CHUNK = 512


def float_strides(qubits: list[int] | tuple[int, ...], n: int) -> np.ndarray:
    """The float-view strides of ``qubits`` of an ``n``-qubit big-endian state, ascending.

    >>> float_strides([3, 1, 2], 4).tolist()
    [2, 4, 8]
    """
    return np.array(sorted(2 << (n - 1 - q) for q in qubits), dtype=np.int64)


def sincos_constants(dtype: type) -> np.ndarray:
    """The constants of :func:`phase` in ``dtype`` (float32 or float64): ``2/pi``, ``pi/2``
    in three parts (each product with a small integer exact), the sin and cos
    polynomial coefficients on ``[-pi/4, pi/4]`` (fdlibm's ``__kernel_sin/cos``), and the
    small numbers the kernel needs in its own dtype (a Python float would promote float32).

    >>> sincos_constants(np.float32).dtype.name, sincos_constants(np.float64).size
    ('float32', 21)
    """
    if np.dtype(dtype) == np.float64:
        parts = [1.57079632673412561417e00, 6.07710050630396597660e-11, 2.02226624879595063154e-21]
    else:
        parts = [1.5703125, 4.837512969970703125e-4, 7.54978995489188216e-8]
    values = (
        [2.0 / np.pi, *parts]
        + [-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04]
        + [2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10]
        + [4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05]
        + [-2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11]
        + [0.5, 1.0, 2.0, 4.0, 0.25]
    )
    return np.array(values, dtype=dtype)


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


# ------------------------------------------------------------------ phase layer
@njit(cache=True, fastmath=_PHASE_MATH, nogil=True, boundscheck=False)
def _sincos(d, g, scale, k, cb, sb):  # pragma: no cover - compiled
    # cb[j], sb[j] = scale * cos(g d[j]), scale * sin(g d[j]), all in d's dtype, no branches
    tp, p1, p2, p3 = k[0], k[1], k[2], k[3]
    s1, s2, s3, s4, s5, s6 = k[4], k[5], k[6], k[7], k[8], k[9]
    c1, c2, c3, c4, c5, c6 = k[10], k[11], k[12], k[13], k[14], k[15]
    half, one, two, four, quarter = k[16], k[17], k[18], k[19], k[20]
    three = one + two
    for j in range(d.size):
        t = g * d[j]
        q = np.rint(t * tp)  # t = q pi/2 + r, |r| <= pi/4
        r = ((t - q * p1) - q * p2) - q * p3
        z = r * r
        sn = r + r * z * (s1 + z * (s2 + z * (s3 + z * (s4 + z * (s5 + z * s6)))))
        cs = one - half * z + z * z * (c1 + z * (c2 + z * (c3 + z * (c4 + z * (c5 + z * c6)))))
        q4 = q - four * np.floor(q * quarter)  # the quadrant, 0..3
        odd = (q4 == one) | (q4 == three)
        sv = cs if odd else sn
        cv = sn if odd else cs
        sb[j] = (-sv if q4 >= two else sv) * scale
        cb[j] = (-cv if (q4 == one) | (q4 == two) else cv) * scale


@njit(cache=True, fastmath=True, nogil=True, boundscheck=False)
def phase(x, d, g, scale, k):  # pragma: no cover - compiled
    """``x *= scale * exp(i g d)`` on the float view ``x`` of ``d.size`` amplitudes
    (``g = -gamma`` for the phase layer), ``g``, ``scale``, ``d`` and the constants ``k``
    (:func:`sincos_constants`) in ``x``'s dtype."""
    cb = np.empty(_CHUNK, x.dtype)
    sb = np.empty(_CHUNK, x.dtype)
    for j0 in range(0, d.size, _CHUNK):
        m = min(_CHUNK, d.size - j0)
        _sincos(d[j0 : j0 + m], g, scale, k, cb, sb)
        xs = x[2 * j0 : 2 * (j0 + m)]
        for j in range(m):
            re, im = xs[2 * j], xs[2 * j + 1]
            xs[2 * j] = re * cb[j] - im * sb[j]
            xs[2 * j + 1] = re * sb[j] + im * cb[j]


@njit(cache=True, fastmath=True, nogil=True, boundscheck=False)
def phase_back(p, lam, d, g, k):  # pragma: no cover - compiled
    """Backward through the phase layer on float views ``p`` and ``lam``: returns
    ``Re <lam|-iC|p> = sum d (lam_re p_im - lam_im p_re)`` (float64), then applies
    ``exp(i g d)`` (``g = +gamma``, the inverse layer) to both."""
    acc = 0.0
    for j in range(d.size):
        acc += d[j] * (lam[2 * j] * p[2 * j + 1] - lam[2 * j + 1] * p[2 * j])
    one = k[17]
    phase(p, d, g, one, k)
    phase(lam, d, g, one, k)
    return acc


def low_coefficients(c: float, s: float, low: int, dtype: type) -> np.ndarray:
    """The stencil of :func:`layer_tiles` for the two lowest qubits, ``(6, 2 * CHUNK)``.

    On the float view, qubit ``n - 1`` pairs floats 2 apart and qubit ``n - 2`` floats 4
    apart: too close for vector registers, so each is applied as a contiguous stencil
    ``y[i] = cq x[i] + p[i] x[i + st] + m[i] x[i - st]`` with periodic ``p`` (``s`` where
    the qubit's bit of ``i`` is 0) and ``m`` (``-s`` where it is 1).  Bit 0 of ``low``
    enables qubit ``n - 1``, bit 1 qubit ``n - 2``; a disabled qubit gets ``cq = 1`` and
    zero ``p``, ``m``.  Rows: ``p2, m2, p4, m4``, then ``cq`` of each, repeated.

    >>> low_coefficients(0.8, 0.6, 1, np.float64)[:2, :8].tolist()
    [[0.6, 0.6, 0.0, 0.0, 0.6, 0.6, 0.0, 0.0], [0.0, 0.0, -0.6, -0.6, 0.0, 0.0, -0.6, -0.6]]
    """
    i = np.arange(2 * _CHUNK)
    out = np.zeros((6, i.size), dtype=dtype)
    for row, (bit, st) in enumerate(((1, 2), (2, 4))):
        on = bool(low & bit)
        out[2 * row] = np.where(i & st, 0.0, s if on else 0.0)
        out[2 * row + 1] = np.where(i & st, -s if on else 0.0, 0.0)
        out[4 + row] = c if on else 1.0
    return out


@njit(cache=True, fastmath=True, nogil=True, boundscheck=False)
def _phase_low(x, d, g, scale, k, co, cb, sb, a, b):  # pragma: no cover - compiled
    # the phase, then the two lowest qubits by the stencils of ``co``, chunk by chunk;
    # ``a`` and ``b`` are buffers of 2 * _CHUNK + 8 floats with zero margins of 4
    p2, m2, p4, m4 = co[0], co[1], co[2], co[3]
    c2, c4 = co[4, 0], co[5, 0]
    for j0 in range(0, d.size, _CHUNK):
        m = min(_CHUNK, d.size - j0)
        _sincos(d[j0 : j0 + m], g, scale, k, cb, sb)
        xs = x[2 * j0 : 2 * (j0 + m)]
        for j in range(m):
            re, im = xs[2 * j], xs[2 * j + 1]
            a[4 + 2 * j] = re * cb[j] - im * sb[j]
            a[5 + 2 * j] = re * sb[j] + im * cb[j]
        f = 2 * m
        for i in range(f):
            b[4 + i] = c2 * a[4 + i] + p2[i] * a[6 + i] + m2[i] * a[2 + i]
        for i in range(f):
            xs[i] = c4 * b[4 + i] + p4[i] * b[8 + i] + m4[i] * b[i]


@njit(cache=True, fastmath=True, nogil=True, boundscheck=False)
def layer_tiles(x, d, first, count, tile, g, scale, k, co, strides, edges, c, s):  # pragma: no cover
    """Tiles ``first .. first + count - 1`` of ``tile`` amplitudes of the float view ``x``:
    the phase (:func:`phase`, times ``scale``), the two lowest qubits by the stencils
    ``co`` of :func:`low_coefficients` (``co`` of shape ``(0, 0)``: none), the rotations
    of ``strides`` (:func:`rotate`) and the XY ``edges`` (:func:`xy_edges`), one tile at
    a time while it is in cache."""
    low = co.shape[0] > 0
    cb = np.empty(_CHUNK, x.dtype)
    sb = np.empty(_CHUNK, x.dtype)
    a = np.zeros(2 * _CHUNK + 8, x.dtype)
    b = np.zeros(2 * _CHUNK + 8, x.dtype)
    for t in range(first, first + count):
        o = t * tile
        seg = x[2 * o : 2 * (o + tile)]
        if low:
            _phase_low(seg, d[o : o + tile], g, scale, k, co, cb, sb, a, b)
        else:
            phase(seg, d[o : o + tile], g, scale, k)
        if strides.size:
            rotate(seg, strides, c, s)
        if edges.shape[0]:
            xy_edges(seg, edges, c, s)


@njit(cache=True, fastmath=True, nogil=True, boundscheck=False)
def high_rotate(x, rows, width, first, count, scratch, strides, c, s):  # pragma: no cover
    """The rotations of the high-order qubits, on column blocks ``first .. first + count - 1``.

    ``x`` (a float view) is a matrix of ``rows`` rows (the high-order qubits' index);
    block ``b`` is columns ``b * width .. (b + 1) * width - 1`` (amplitudes) of every row,
    gathered into ``scratch`` (``2 * rows * width`` floats), rotated on ``strides``
    (the qubits' float strides in the scratch), and written back."""
    row = x.size // rows
    w = 2 * width
    for b in range(first, first + count):
        c0 = b * w
        for r in range(rows):
            src = x[r * row + c0 : r * row + c0 + w]
            dst = scratch[r * w : (r + 1) * w]
            for j in range(w):
                dst[j] = src[j]
        rotate(scratch, strides, c, s)
        for r in range(rows):
            src = scratch[r * w : (r + 1) * w]
            dst = x[r * row + c0 : r * row + c0 + w]
            for j in range(w):
                dst[j] = src[j]


@njit(cache=True, fastmath=True, nogil=True, boundscheck=False)
def expect_tiles(x, d):  # pragma: no cover - compiled
    """``sum d |amplitude|**2`` over the float view ``x``, summed in float64."""
    acc = 0.0
    for j in range(d.size):
        acc += d[j] * (x[2 * j] * x[2 * j] + x[2 * j + 1] * x[2 * j + 1])
    return acc
