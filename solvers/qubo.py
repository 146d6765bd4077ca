"""The QUBO value type: sparse linear + quadratic terms + offset, labels, one-hot groups.

A QUBO over binary variables ``x_i in {0, 1}`` has energy

    E(x) = offset + sum_i linear[i] x_i + sum_{i<j} w_ij x_i x_j

and maps to an Ising model over spins ``s_i = 1 - 2 x_i`` (``x = 0`` is spin
``+1``, the Z eigenvalue of ``|0>``), which is what a QAOA cost layer needs.

The type is immutable; arithmetic and conversions return new objects.  Energies
of many assignments are computed at once (``energies``), and the full energy
vector of all ``2**n`` assignments is built in ``O(2**n)`` by doubling
(``all_energies``), which both the ``exact`` solver and the QAOA cost diagonal use.

Examples
--------
>>> q = QUBO.from_terms({"a": -1.0, "b": -1.0}, {("a", "b"): 3.0}, offset=1.0)
>>> q.num_variables, q.labels
(2, ('a', 'b'))
>>> float(q.energy([1, 0])), float(q.energy([1, 1]))
(0.0, 2.0)
>>> h, J, c = q.to_ising()
>>> import numpy as np
>>> s = np.array([-1.0, 1.0])   # x = (1, 0)
>>> float(c + h @ s + sum(w * s[i] * s[j] for (i, j), w in J.items()))
0.0
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from solvers.errors import InvalidInputError, ProblemTooLargeError

if TYPE_CHECKING:  # pragma: no cover
    import dimod

__all__ = ["QUBO", "QUBOBuilder", "SCHEMA_VERSION", "bits_index", "index_bits"]

SCHEMA_VERSION = 1
#: Largest n whose full energy vector ``all_energies`` builds in one array.
MAX_DENSE_VARIABLES = 30


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class QUBO:
    """An immutable QUBO.

    Parameters
    ----------
    linear : ndarray, shape (n,)
        Linear coefficients.
    quad_i, quad_j : ndarray of int, shape (m,)
        Indices of the quadratic terms, ``quad_i < quad_j``, each pair once.
    quad_w : ndarray, shape (m,)
        Their coefficients.
    offset : float
        Constant energy.
    labels : tuple of hashable
        A label per variable (default ``0..n-1``).
    onehot : tuple of tuple of int
        Groups of variables of which exactly one must be 1 in a feasible
        assignment (the QUBO already holds their penalty; the groups let
        solvers and mixers keep to the feasible subspace).
    metadata : dict
        Free-form facts about how the QUBO was made (e.g. penalty weights).

    Use :meth:`from_terms`, :meth:`from_coo` (arrays), :meth:`from_matrix` or
    :class:`QUBOBuilder` rather than the raw constructor.
    """

    linear: np.ndarray
    quad_i: np.ndarray
    quad_j: np.ndarray
    quad_w: np.ndarray
    offset: float = 0.0
    labels: tuple[Hashable, ...] = ()
    onehot: tuple[tuple[int, ...], ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        lin = np.asarray(self.linear, dtype=np.float64).reshape(-1)
        n = lin.shape[0]
        qi = np.asarray(self.quad_i, dtype=np.int64).reshape(-1)
        qj = np.asarray(self.quad_j, dtype=np.int64).reshape(-1)
        qw = np.asarray(self.quad_w, dtype=np.float64).reshape(-1)
        if not (qi.shape == qj.shape == qw.shape):
            msg = "quad_i, quad_j and quad_w must have the same length"
            raise InvalidInputError(msg)
        if qi.size and (qi.min() < 0 or qj.max() >= n or np.any(qi >= qj)):
            msg = "quadratic indices must satisfy 0 <= i < j < n; build with QUBO.from_terms"
            raise InvalidInputError(msg)
        if not (np.all(np.isfinite(lin)) and np.all(np.isfinite(qw)) and np.isfinite(self.offset)):
            msg = "QUBO coefficients must be finite (got NaN or inf)"
            raise InvalidInputError(msg)
        labels = tuple(self.labels) if self.labels else tuple(range(n))
        if len(labels) != n:
            msg = f"labels has {len(labels)} entries for {n} variables"
            raise InvalidInputError(msg)
        if len(set(labels)) != n:
            msg = "labels must be unique"
            raise InvalidInputError(msg)
        groups = tuple(tuple(int(v) for v in g) for g in self.onehot)
        seen: set[int] = set()
        for g in groups:
            if not g or any(v < 0 or v >= n for v in g) or seen.intersection(g) or len(set(g)) != len(g):
                msg = "one-hot groups must be non-empty, disjoint lists of variable indices"
                raise InvalidInputError(msg)
            seen.update(g)
        object.__setattr__(self, "linear", _readonly(lin))
        object.__setattr__(self, "quad_i", _readonly(qi))
        object.__setattr__(self, "quad_j", _readonly(qj))
        object.__setattr__(self, "quad_w", _readonly(qw))
        object.__setattr__(self, "offset", float(self.offset))
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "onehot", groups)
        object.__setattr__(self, "metadata", dict(self.metadata))

    # ------------------------------------------------------------------ build
    @classmethod
    def from_terms(
        cls,
        linear: Mapping[Hashable, float],
        quadratic: Mapping[tuple[Hashable, Hashable], float],
        offset: float = 0.0,
        *,
        labels: Sequence[Hashable] | None = None,
        onehot: Iterable[Iterable[Hashable]] = (),
        metadata: Mapping[str, Any] | None = None,
    ) -> QUBO:
        """Build from label-keyed terms; repeated and mirrored pairs are summed.

        ``quadratic[(a, a)]`` is folded into the linear term (``x**2 == x``).
        """
        b = QUBOBuilder(labels or ())
        for v, w in linear.items():
            b.add_linear(v, w)
        for (u, v), w in quadratic.items():
            b.add_quadratic(u, v, w)
        b.add_offset(offset)
        for g in onehot:
            b.add_onehot(list(g), penalty=0.0)
        return b.build(metadata=metadata)

    @classmethod
    def from_coo(
        cls,
        num_variables: int,
        linear: Sequence[float] | np.ndarray | None = None,
        rows: Sequence[int] | np.ndarray = (),
        cols: Sequence[int] | np.ndarray = (),
        weights: Sequence[float] | np.ndarray = (),
        offset: float = 0.0,
        *,
        labels: Sequence[Hashable] | None = None,
        onehot: Iterable[Iterable[int]] = (),
        metadata: Mapping[str, Any] | None = None,
        drop_zeros: bool = True,
    ) -> QUBO:
        """Build from arrays in one call: ``linear`` (``num_variables`` values, or None)
        and the quadratic terms ``weights[k] x[rows[k]] x[cols[k]]`` in coordinate form.

        Pairs are summed as by :class:`QUBOBuilder` (either order, repeats, ``(i, i)``
        folded into the linear term); ``onehot`` groups are variable indices.

        Examples
        --------
        >>> q = QUBO.from_coo(3, [1.0, 0.0, -1.0], [0, 1, 2, 2], [1, 0, 2, 0], [2.0, 1.0, 4.0, -0.5])
        >>> q.linear.tolist(), q.quad_i.tolist(), q.quad_j.tolist(), q.quad_w.tolist()
        ([1.0, 0.0, 3.0], [0, 0], [1, 2], [3.0, -0.5])
        """
        n = int(num_variables)
        names = list(range(n)) if labels is None else list(labels)
        if len(names) != n:
            msg = f"labels has {len(names)} entries for {n} variables"
            raise InvalidInputError(msg)
        b = QUBOBuilder(names)
        if b.num_variables != n:
            msg = "labels must be unique"
            raise InvalidInputError(msg)
        if linear is not None:
            b.add_linear_array(np.arange(n), linear)
        b.add_quadratic_array(rows, cols, weights)
        b.add_offset(offset)
        for g in onehot:
            idx = [int(i) for i in g]
            if any(i < 0 or i >= n for i in idx):
                msg = f"one-hot group {idx} names variables outside [0, {n})"
                raise InvalidInputError(msg)
            b.add_onehot([names[i] for i in idx], penalty=0.0)
        return b.build(metadata=metadata, drop_zeros=drop_zeros)

    @classmethod
    def from_matrix(cls, Q: np.ndarray, offset: float = 0.0, **kwargs: Any) -> QUBO:
        """Build from a square matrix; ``E = x^T Q x + offset`` (both triangles count)."""
        Q = np.asarray(Q, dtype=np.float64)
        if Q.ndim != 2 or Q.shape[0] != Q.shape[1]:
            msg = f"Q must be a square matrix, got shape {Q.shape}"
            raise InvalidInputError(msg)
        upper = np.triu(Q, 1) + np.tril(Q, -1).T
        i, j = np.nonzero(upper)
        return cls(np.diag(Q).copy(), i, j, upper[i, j], offset, **kwargs)

    @classmethod
    def from_ising(
        cls,
        h: np.ndarray,
        J: Mapping[tuple[int, int], float],
        offset: float = 0.0,
        **kwargs: Any,
    ) -> QUBO:
        """Inverse of :meth:`to_ising` (spin ``s = 1 - 2x``)."""
        h = np.asarray(h, dtype=np.float64)
        lin = -2.0 * h
        c = float(offset) + float(h.sum())
        quad: dict[tuple[int, int], float] = {}
        for (i, j), w in J.items():
            i, j = (i, j) if i < j else (j, i)
            quad[(i, j)] = quad.get((i, j), 0.0) + 4.0 * w
            lin[i] -= 2.0 * w
            lin[j] -= 2.0 * w
            c += w
        keys = sorted(quad)
        qi = np.array([k[0] for k in keys], dtype=np.int64)
        qj = np.array([k[1] for k in keys], dtype=np.int64)
        qw = np.array([quad[k] for k in keys], dtype=np.float64)
        return cls(lin, qi, qj, qw, c, **kwargs)

    # ------------------------------------------------------------- properties
    @property
    def num_variables(self) -> int:
        return int(self.linear.shape[0])

    @property
    def num_interactions(self) -> int:
        return int(self.quad_w.shape[0])

    def index(self, label: Hashable) -> int:
        """Index of a variable by its label."""
        try:
            return self._label_index[label]
        except KeyError:
            msg = f"no variable labelled {label!r}"
            raise KeyError(msg) from None

    @property
    def _label_index(self) -> dict[Hashable, int]:
        cache = self.__dict__.get("_label_index_cache")
        if cache is None:
            cache = {v: i for i, v in enumerate(self.labels)}
            object.__setattr__(self, "_label_index_cache", cache)
        return cache

    def dense(self) -> np.ndarray:
        """Upper-triangular matrix Q with ``E = x^T Q x + offset``."""
        n = self.num_variables
        Q = np.zeros((n, n))
        Q[np.diag_indices(n)] = self.linear
        np.add.at(Q, (self.quad_i, self.quad_j), self.quad_w)
        return Q

    def symmetric_couplings(self) -> np.ndarray:
        """Symmetric matrix W with ``W[i, j] = W[j, i] = w_ij`` and zero diagonal."""
        n = self.num_variables
        W = np.zeros((n, n))
        np.add.at(W, (self.quad_i, self.quad_j), self.quad_w)
        return W + W.T

    # --------------------------------------------------------------- energies
    def _check_bits(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.shape[-1] != self.num_variables:
            msg = f"assignment has {X.shape[-1]} bits, the QUBO has {self.num_variables} variables"
            raise InvalidInputError(msg)
        return X

    def energy(self, x: Sequence[int] | np.ndarray) -> float:
        """Energy of one assignment."""
        return float(self.energies(np.asarray(x)[None, :])[0])

    def energies(self, X: np.ndarray) -> np.ndarray:
        """Energies of many assignments at once, ``X`` of shape ``(m, n)`` in {0, 1}."""
        X = self._check_bits(X)
        Xf = X.astype(np.float64, copy=False)
        e = Xf @ self.linear + self.offset
        if self.num_interactions:
            e += (Xf[:, self.quad_i] * Xf[:, self.quad_j]) @ self.quad_w
        return e

    def all_energies(self, *, dtype: Any = np.float64, order: str = "big") -> np.ndarray:
        """Energies of all ``2**n`` assignments, built in ``O(2**n)`` by doubling.

        Parameters
        ----------
        dtype : numpy dtype
            ``float64`` (default) or ``float32``.
        order : {"big", "little"}
            ``"big"``: index bit ``n-1-i`` is variable ``i`` (variable 0 is the
            most significant bit, Cirq's state-vector order). ``"little"``:
            index bit ``i`` is variable ``i``.

        Examples
        --------
        >>> q = QUBO.from_terms({0: 1.0, 1: 2.0}, {(0, 1): 4.0})
        >>> q.all_energies().tolist()   # x = 00, 01, 10, 11 (x0 x1)
        [0.0, 2.0, 1.0, 7.0]
        """
        n = self.num_variables
        if n > MAX_DENSE_VARIABLES:
            msg = f"all_energies needs 2**n values; n={n} exceeds {MAX_DENSE_VARIABLES}"
            raise ProblemTooLargeError(msg)
        if order not in ("big", "little"):
            msg = f"order must be 'big' or 'little', got {order!r}"
            raise InvalidInputError(msg)
        perm = np.arange(n) if order == "little" else np.arange(n)[::-1]
        W = self.symmetric_couplings()[np.ix_(perm, perm)]
        return _doubling_energies(self.linear[perm], W, self.offset, dtype)

    # ------------------------------------------------------------ feasibility
    def onehot_violations(self, X: np.ndarray) -> np.ndarray:
        """Number of violated one-hot groups for each assignment in ``X``."""
        X = np.atleast_2d(self._check_bits(X))
        v = np.zeros(X.shape[0], dtype=np.int64)
        for g in self.onehot:
            v += X[:, list(g)].sum(axis=1) != 1
        return v

    def is_feasible(self, x: Sequence[int] | np.ndarray) -> bool:
        """True when every one-hot group of ``x`` has exactly one 1."""
        return bool(self.onehot_violations(np.asarray(x)[None, :])[0] == 0)

    # ------------------------------------------------------------ conversions
    def to_ising(self) -> tuple[np.ndarray, dict[tuple[int, int], float], float]:
        """Ising form ``(h, J, offset)`` with ``E = offset + h.s + sum J_ij s_i s_j``.

        Spins are ``s_i = 1 - 2 x_i``: ``x_i = 0`` is ``s_i = +1`` (Z's ``|0>``).
        """
        h = -0.5 * self.linear.copy()
        c = self.offset + 0.5 * float(self.linear.sum())
        J: dict[tuple[int, int], float] = {}
        for i, j, w in zip(self.quad_i.tolist(), self.quad_j.tolist(), self.quad_w.tolist()):
            J[(i, j)] = J.get((i, j), 0.0) + 0.25 * w
            h[i] -= 0.25 * w
            h[j] -= 0.25 * w
            c += 0.25 * w
        return h, J, c

    def to_bqm(self) -> dimod.BinaryQuadraticModel:
        """A ``dimod.BinaryQuadraticModel`` (BINARY vartype) with the same labels, in the same order.

        (dimod's constructor would add the variables of the quadratic terms first,
        so :meth:`from_bqm` would give them back in another order.)

        >>> q = QUBO.from_terms({"a": 1.0, "b": 0.0, "c": 2.0}, {("a", "c"): 3.0})
        >>> list(q.to_bqm().variables), QUBO.from_bqm(q.to_bqm()).is_equal(q)
        (['a', 'b', 'c'], True)
        """
        import dimod

        bqm = dimod.BinaryQuadraticModel(dimod.BINARY)
        bqm.add_linear_from((self.labels[i], float(w)) for i, w in enumerate(self.linear))
        bqm.add_quadratic_from(
            (self.labels[i], self.labels[j], float(w))
            for i, j, w in zip(self.quad_i.tolist(), self.quad_j.tolist(), self.quad_w.tolist())
        )
        bqm.offset = self.offset
        return bqm

    @classmethod
    def from_bqm(cls, bqm: dimod.BinaryQuadraticModel) -> QUBO:
        """From a ``dimod.BinaryQuadraticModel`` (either vartype)."""
        import dimod

        b = bqm.change_vartype(dimod.BINARY, inplace=False)
        return cls.from_terms(dict(b.linear), dict(b.quadratic), float(b.offset), labels=list(b.variables))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (labels are stringified with ``repr`` if not str/int)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "type": "QUBO",
            "labels": [v if isinstance(v, (str, int)) else repr(v) for v in self.labels],
            "linear": self.linear.tolist(),
            "quadratic": [self.quad_i.tolist(), self.quad_j.tolist(), self.quad_w.tolist()],
            "offset": self.offset,
            "onehot": [list(g) for g in self.onehot],
            "metadata": dict(self.metadata),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QUBO:
        """Inverse of :meth:`to_dict`; the schema version is checked."""
        if d.get("type") != "QUBO" or d.get("schema_version") != SCHEMA_VERSION:
            msg = (
                f"not a QUBO of schema version {SCHEMA_VERSION} "
                f"(type={d.get('type')!r}, schema_version={d.get('schema_version')!r})"
            )
            raise InvalidInputError(msg)
        qi, qj, qw = d["quadratic"]
        return cls(
            np.array(d["linear"], dtype=np.float64),
            np.array(qi, dtype=np.int64),
            np.array(qj, dtype=np.int64),
            np.array(qw, dtype=np.float64),
            d["offset"],
            tuple(d["labels"]),
            tuple(tuple(g) for g in d["onehot"]),
            d.get("metadata", {}),
        )

    # -------------------------------------------------------------- equality
    def is_equal(self, other: object) -> bool:
        """Exact equality of every coefficient, label and group."""
        return self.is_almost_equal(other, atol=0.0)

    def is_almost_equal(self, other: object, *, atol: float = 1e-9) -> bool:
        """Equality up to ``atol`` on each coefficient (labels and groups exact)."""
        if not isinstance(other, QUBO) or other.labels != self.labels or other.onehot != self.onehot:
            return False
        return bool(
            np.allclose(self.dense(), other.dense(), rtol=0.0, atol=atol)
            and abs(self.offset - other.offset) <= atol
        )

    def __add__(self, other: QUBO) -> QUBO:
        if not isinstance(other, QUBO):
            return NotImplemented
        if other.labels != self.labels:
            msg = "QUBOs must have the same labels to be added"
            raise InvalidInputError(msg)
        return QUBO.from_matrix(
            self.dense() + other.dense(),
            self.offset + other.offset,
            labels=self.labels,
            onehot=self.onehot or other.onehot,
            metadata={**other.metadata, **self.metadata},
        )

    def scaled(self, factor: float) -> QUBO:
        """A new QUBO with every coefficient (and the offset) times ``factor``."""
        return QUBO(
            self.linear * factor,
            self.quad_i,
            self.quad_j,
            self.quad_w * factor,
            self.offset * factor,
            self.labels,
            self.onehot,
            self.metadata,
        )

    def __repr__(self) -> str:
        return (
            f"QUBO(num_variables={self.num_variables}, num_interactions={self.num_interactions}, "
            f"onehot_groups={len(self.onehot)}, offset={self.offset:g})"
        )


class QUBOBuilder:
    """Accumulates terms by label or index, then :meth:`build` an immutable :class:`QUBO`.

    Terms come one at a time (:meth:`add_linear`, :meth:`add_quadratic`, by label)
    or many at once (:meth:`add_linear_array`, :meth:`add_quadratic_array`, by
    variable index).  Either way they are kept as coordinate lists in the order
    they were added and summed once, in :meth:`build`: repeated pairs and both
    orders ``(i, j)``, ``(j, i)`` add up, a pair ``(i, i)`` folds into the linear
    term (``x**2 == x``), and the sums are taken term by term in the order added,
    so the same terms give the same QUBO, to the last bit, by either path.

    Examples
    --------
    >>> b = QUBOBuilder(["x", "y", "z"])
    >>> b.add_onehot(["x", "y", "z"], penalty=5.0)   # 5 * (1 - x - y - z)**2
    >>> q = b.build()
    >>> [float(q.energy(v)) for v in ([0, 0, 0], [1, 0, 0], [1, 1, 0])]
    [5.0, 0.0, 5.0]
    >>> b = QUBOBuilder(range(3))
    >>> b.add_quadratic_array([0, 2, 1, 1], [1, 0, 0, 1], [1.0, 2.0, 0.5, -3.0])
    >>> q = b.build()
    >>> q.quad_i.tolist(), q.quad_j.tolist(), q.quad_w.tolist(), q.linear.tolist()
    ([0, 0], [1, 2], [1.5, 2.0], [0.0, -3.0, 0.0])
    """

    def __init__(self, labels: Iterable[Hashable] = ()) -> None:
        self._index: dict[Hashable, int] = {}
        self._labels: list[Hashable] = []
        self._offset = 0.0
        self._onehot: list[tuple[int, ...]] = []
        # terms not yet in a chunk (scalar calls), then the chunks, in the order added
        self._lin_idx: list[int] = []
        self._lin_w: list[float] = []
        self._quad_idx: list[tuple[int, int]] = []
        self._quad_w: list[float] = []
        self._lin_chunks: list[tuple[np.ndarray, np.ndarray]] = []
        self._quad_chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for v in labels:
            self.variable(v)

    @property
    def num_variables(self) -> int:
        return len(self._labels)

    def variable(self, label: Hashable) -> int:
        """Index of ``label``, adding it if new."""
        i = self._index.get(label)
        if i is None:
            i = self._index[label] = len(self._labels)
            self._labels.append(label)
        return i

    def variables(self, labels: Iterable[Hashable]) -> np.ndarray:
        """Indices of ``labels`` (int64 array), adding the new ones in order."""
        return np.array([self.variable(v) for v in labels], dtype=np.int64)

    def add_linear(self, v: Hashable, w: float) -> None:
        self._lin_idx.append(self.variable(v))
        self._lin_w.append(float(w))

    def add_quadratic(self, u: Hashable, v: Hashable, w: float) -> None:
        i, j = self.variable(u), self.variable(v)
        if i == j:
            self._lin_idx.append(i)
            self._lin_w.append(float(w))
            return
        self._quad_idx.append((i, j) if i < j else (j, i))
        self._quad_w.append(float(w))

    def add_linear_array(self, indices: Sequence[int] | np.ndarray, weights: Sequence[float] | np.ndarray) -> None:
        """Add ``weights[k] * x[indices[k]]`` for every ``k`` (variable indices, repeats add up)."""
        idx = self._check_indices(indices, "indices")
        w = self._check_weights(weights, idx.shape)
        self._flush()
        self._lin_chunks.append((idx, w))

    def add_quadratic_array(
        self,
        rows: Sequence[int] | np.ndarray,
        cols: Sequence[int] | np.ndarray,
        weights: Sequence[float] | np.ndarray,
    ) -> None:
        """Add ``weights[k] * x[rows[k]] * x[cols[k]]`` for every ``k`` (variable indices).

        Either order of a pair, repeated pairs and pairs ``(i, i)`` (linear terms)
        are accepted, exactly as by :meth:`add_quadratic`.
        """
        r = self._check_indices(rows, "rows")
        c = self._check_indices(cols, "cols")
        if r.shape != c.shape:
            msg = f"rows and cols must have the same length, got {r.size} and {c.size}"
            raise InvalidInputError(msg)
        w = self._check_weights(weights, r.shape)
        self._flush()
        diag = r == c
        if diag.any():
            self._lin_chunks.append((r[diag], w[diag]))
            off = ~diag
            r, c, w = r[off], c[off], w[off]
        self._quad_chunks.append((np.minimum(r, c), np.maximum(r, c), w))

    def add_offset(self, c: float) -> None:
        self._offset += float(c)

    def add_onehot(self, group: Sequence[Hashable], penalty: float) -> None:
        """Record a one-hot group and add ``penalty * (1 - sum(group))**2``."""
        idx = tuple(self.variable(v) for v in group)
        self._onehot.append(idx)
        if penalty:
            self.add_offset(penalty)
            arr = np.asarray(idx, dtype=np.int64)
            a, b = np.triu_indices(len(arr), 1)  # row-major: the order of the pairs (u, v), u before v
            self.add_linear_array(arr, np.full(len(arr), -float(penalty)))
            self.add_quadratic_array(arr[a], arr[b], np.full(len(a), 2.0 * penalty))

    def _check_indices(self, indices: Sequence[int] | np.ndarray, name: str) -> np.ndarray:
        a = np.asarray(indices)
        if a.size == 0:
            return np.zeros(0, dtype=np.int64)
        if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer):
            msg = f"{name} must be a 1-d array of variable indices, got dtype {a.dtype} and shape {a.shape}"
            raise InvalidInputError(msg)
        a = a.astype(np.int64, copy=True)
        if a.min() < 0 or a.max() >= self.num_variables:
            msg = (f"{name} must be variable indices in [0, {self.num_variables}); add the variables "
                   "first (QUBOBuilder(labels) or variables(labels))")
            raise InvalidInputError(msg)
        return a

    @staticmethod
    def _check_weights(weights: Sequence[float] | np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        w = np.array(weights, dtype=np.float64).reshape(-1)
        if w.shape != shape:
            msg = f"weights must have one entry per index ({shape[0]}), got {w.size}"
            raise InvalidInputError(msg)
        return w

    def _flush(self) -> None:
        """Move the terms of scalar calls into chunks, keeping the order terms were added in."""
        if self._lin_idx:
            self._lin_chunks.append((np.array(self._lin_idx, dtype=np.int64), np.array(self._lin_w)))
            self._lin_idx, self._lin_w = [], []
        if self._quad_idx:
            ij = np.array(self._quad_idx, dtype=np.int64).reshape(-1, 2)
            self._quad_chunks.append((ij[:, 0], ij[:, 1], np.array(self._quad_w)))
            self._quad_idx, self._quad_w = [], []

    def build(self, *, metadata: Mapping[str, Any] | None = None, drop_zeros: bool = True) -> QUBO:
        """The QUBO of the terms so far (the builder may go on adding terms).

        ``drop_zeros``: leave out the pairs whose weights sum to zero.
        """
        self._flush()
        n = self.num_variables
        lin, qi, qj, qw = _sum_terms(
            n,
            _concat([c[0] for c in self._lin_chunks], np.int64),
            _concat([c[1] for c in self._lin_chunks], np.float64),
            _concat([c[0] for c in self._quad_chunks], np.int64),
            _concat([c[1] for c in self._quad_chunks], np.int64),
            _concat([c[2] for c in self._quad_chunks], np.float64),
            drop_zeros=drop_zeros,
        )
        return QUBO(lin, qi, qj, qw, self._offset, tuple(self._labels), tuple(self._onehot), metadata or {})


def _concat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype=dtype)


def _sum_terms(
    n: int,
    lin_idx: np.ndarray,
    lin_w: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    weights: np.ndarray,
    *,
    drop_zeros: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Coordinate-list terms summed into a QUBO's arrays ``(linear, quad_i, quad_j, quad_w)``.

    Linear terms at ``lin_idx`` and pairs ``(rows, cols)`` with ``rows < cols``;
    repeated entries are summed one by one in the order given (``np.bincount``),
    as a running sum would, and the pairs come out sorted.
    """
    linear = np.bincount(lin_idx, weights=lin_w, minlength=n) if lin_idx.size else np.zeros(n)
    if not rows.size:
        empty = np.zeros(0, dtype=np.int64)
        return linear, empty, empty.copy(), np.zeros(0)
    keys, inverse = np.unique(rows * np.int64(n) + cols, return_inverse=True)
    w = np.bincount(inverse.reshape(-1), weights=weights, minlength=keys.size)
    if drop_zeros:
        keep = w != 0.0
        keys, w = keys[keep], w[keep]
    return linear, keys // n, keys % n, w


def _doubling_energies(h: np.ndarray, W: np.ndarray, offset: float, dtype: Any) -> np.ndarray:
    """All energies, index bit ``i`` = variable ``i`` (little endian).

    ``E_{k+1} = [E_k, E_k + d_k]`` with ``d_k(x) = h_k + sum_{j<k} W_jk x_j``, and
    ``d_k`` itself built by doubling: ``O(2**n)`` work in all.
    """
    n = h.shape[0]
    dtype = np.dtype(dtype).type
    E = np.full(1, offset, dtype=dtype)
    for k in range(n):
        d = np.full(1, h[k], dtype=dtype)
        for j in range(k):
            d = np.concatenate((d, d + dtype(W[j, k]) if W[j, k] else d))
        E = np.concatenate((E, E + d))
    return E


def index_bits(indices: np.ndarray, n: int, *, order: str = "big") -> np.ndarray:
    """Bits of state indices as an ``(m, n)`` uint8 array (see ``all_energies``'s order)."""
    indices = np.asarray(indices, dtype=np.int64)
    shifts = np.arange(n - 1, -1, -1) if order == "big" else np.arange(n)
    return ((indices[:, None] >> shifts[None, :]) & 1).astype(np.uint8)


def bits_index(bits: np.ndarray, *, order: str = "big") -> np.ndarray:
    """State indices of ``(m, n)`` bit rows, the inverse of :func:`index_bits`.

    Examples
    --------
    >>> bits_index(np.array([[1, 0, 1], [0, 1, 1]])).tolist()
    [5, 3]
    >>> index_bits(bits_index(np.array([[0, 1, 1]]), order="little"), 3, order="little").tolist()
    [[0, 1, 1]]
    """
    bits = np.asarray(bits)
    n = bits.shape[-1]
    shifts = np.arange(n - 1, -1, -1, dtype=np.int64) if order == "big" else np.arange(n, dtype=np.int64)
    return bits.astype(np.int64) @ (1 << shifts)
