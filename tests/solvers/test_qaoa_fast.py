"""The ``fast`` QAOA simulator: amplitude for amplitude against qsim and Cirq, adjoint
gradients against finite differences, sampling, tiling and threads, options."""

from __future__ import annotations

import numpy as np
import pytest

cirq = pytest.importorskip("cirq")
pytest.importorskip("qsimcirq")

import solvers.qaoa.fastsim.simulator as simulator  # noqa: E402
from solvers import QUBO  # noqa: E402
from solvers.errors import (  # noqa: E402
    BackendUnavailableError,
    InvalidInputError,
    InvalidOptionError,
)
from solvers.qaoa import solve_qaoa  # noqa: E402
from solvers.qaoa.backends import (  # noqa: E402
    available_backends,
    get_backend,
    make_backend,
)
from solvers.qaoa.backends.fast import FastBackend  # noqa: E402
from solvers.qaoa.backends.qsim import QsimBackend  # noqa: E402
from solvers.qaoa.circuit import qaoa_circuit  # noqa: E402
from solvers.qaoa.cost import IsingCost  # noqa: E402
from solvers.qaoa.fastsim import FastSimulator, gpu_status  # noqa: E402
from solvers.qaoa.mixers import make_mixer  # noqa: E402
from solvers.qubo import index_bits  # noqa: E402


def random_cost(n: int, seed: int) -> IsingCost:
    rng = np.random.default_rng(seed)
    return IsingCost.from_qubo(QUBO.from_matrix(np.triu(rng.normal(size=(n, n)))))


def angles(p: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.5, 1.5, p), rng.uniform(-1.5, 1.5, p)


def feasible_mask(n: int, groups) -> np.ndarray:
    bits = index_bits(np.arange(2**n), n)
    return np.all([bits[:, list(g)].sum(axis=1) == 1 for g in groups], axis=0)


#: (n, mixer, groups, init_state, depth)
CONFIGS = [
    (4, "x", (), "auto", 1),
    (7, "x", (), "auto", 3),
    (10, "x", (), "auto", 4),
    (5, "x", [(0, 3)], "w", 2),
    (6, "xy-ring", [(0, 1, 2), (3, 4, 5)], "auto", 2),
    (8, "xy-ring", [(5, 0, 3), (1, 7)], "auto", 4),
    (9, "xy-ring", [(2, 3, 4, 5)], "basis", 3),
    (6, "xy-complete", [(4, 1, 2, 0)], "auto", 3),
    (10, "xy-complete", [(0, 1, 2), (3, 4, 5), (9, 7)], "w", 4),
    (7, "xy-complete", [(6,), (2, 5)], "basis", 2),
]


def _ids(c) -> str:
    return f"n{c[0]}-{c[1]}-{c[3]}-p{c[4]}"


@pytest.mark.parametrize("config", CONFIGS, ids=_ids)
def test_fast_equals_qsim_amplitude_for_amplitude(config) -> None:
    n, mixer, groups, init_state, p = config
    cost = random_cost(n, seed=n + p)
    g, b = angles(p, seed=p)
    kw = {"mixer": mixer, "groups": groups, "init_state": init_state, "threads": 1}
    ref = QsimBackend(cost, p, **kw).state(g, b)
    f64 = FastBackend(cost, p, **kw).state(g, b)
    f128 = FastBackend(cost, p, precision="complex128", **kw).state(g, b)
    assert f64.dtype == np.complex64 and f128.dtype == np.complex128
    # the same state, global phase included (qsim itself is single precision)
    np.testing.assert_allclose(f64, ref, rtol=0, atol=1e-5)
    np.testing.assert_allclose(f128, ref, rtol=0, atol=1e-5)
    np.testing.assert_allclose(f64, f128, rtol=0, atol=2e-6)
    # the matrix-product kernels (the GPU's code, here on numpy) give the same state
    blas = FastBackend(cost, p, kernels="blas", **kw)
    assert blas.simulator.kernels == "blas" and FastBackend(cost, p, **kw).simulator.kernels == "jit"
    np.testing.assert_allclose(blas.state(g, b), ref, rtol=0, atol=1e-5)


def test_fast_equals_qsim_at_16_qubits() -> None:
    n, p = 16, 3
    cost = random_cost(n, seed=16)
    g, b = angles(p, seed=4)
    for mixer, groups in [("x", ()), ("xy-ring", [(0, 5, 10, 15), (1, 2, 3), (7, 8)])]:
        kw = {"mixer": mixer, "groups": groups, "threads": 1}
        ref = QsimBackend(cost, p, **kw).state(g, b)
        got = FastBackend(cost, p, **kw).state(g, b)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)
        assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()  # relative, too


@pytest.mark.parametrize("config", CONFIGS[::3], ids=_ids)
def test_fast_equals_cirq_in_double_precision(config) -> None:
    n, mixer, groups, init_state, p = config
    cost = random_cost(n, seed=3 * n)
    g, b = angles(p, seed=11)
    circuit = qaoa_circuit(
        cost.h, cost.J, p, mixer=mixer, groups=groups, init_state=init_state, gammas=g, betas=b
    )
    ref = cirq.Simulator(dtype=np.complex128).simulate(circuit).final_state_vector
    sim = FastSimulator(
        cost.diag,
        make_mixer(mixer, n, groups=groups, init_state=init_state),
        precision="complex128",
    )
    np.testing.assert_allclose(sim.state(g, b), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("config", CONFIGS[::2], ids=_ids)
def test_initial_state_equals_the_circuit_preparation(config) -> None:
    n, mixer, groups, init_state, _ = config
    circuit = qaoa_circuit(
        np.zeros(n), {}, 1, mixer=mixer, groups=groups, init_state=init_state, gammas=[0], betas=[0]
    )
    ref = cirq.Simulator(dtype=np.complex128).simulate(circuit).final_state_vector
    sim = FastSimulator(
        np.zeros(2**n),
        make_mixer(mixer, n, groups=groups, init_state=init_state),
        precision="complex128",
    )
    np.testing.assert_allclose(sim.initial_state(), ref, atol=1e-12)


# ------------------------------------------------------------- gradients


@pytest.mark.parametrize("config", CONFIGS[1::2] + [CONFIGS[0]], ids=_ids)
def test_adjoint_gradient_equals_central_differences(config) -> None:
    n, mixer, groups, init_state, p = config
    cost = random_cost(n, seed=n)
    g, b = angles(p, seed=n + 1)
    backend = FastBackend(
        cost, p, mixer=mixer, groups=groups, init_state=init_state, precision="complex128"
    )
    value, grad = backend.expectation_and_gradient(g, b)
    assert value == pytest.approx(backend.expectation(g, b), abs=1e-12)
    x, eps = np.concatenate([g, b]), 1e-5
    fd = np.empty(2 * p)
    for i in range(2 * p):
        e = np.zeros(2 * p)
        e[i] = eps
        up, down = x + e, x - e
        fd[i] = (backend.expectation(up[:p], up[p:]) - backend.expectation(down[:p], down[p:])) / (
            2 * eps
        )
    np.testing.assert_allclose(grad, fd, rtol=0, atol=1e-6)
    assert np.abs(grad).max() > 1e-2  # a non-trivial point
    # single precision agrees to its own accuracy
    _, grad32 = FastBackend(
        cost, p, mixer=mixer, groups=groups, init_state=init_state
    ).expectation_and_gradient(g, b)
    np.testing.assert_allclose(grad32, grad, rtol=0, atol=2e-4)
    # the matrix-product kernels' gradient is the same
    value_b, grad_b = FastBackend(
        cost, p, mixer=mixer, groups=groups, init_state=init_state, precision="complex128", kernels="blas"
    ).expectation_and_gradient(g, b)
    assert value_b == pytest.approx(value, abs=1e-12)
    np.testing.assert_allclose(grad_b, grad, rtol=0, atol=1e-12)


def test_gradient_flags() -> None:
    cost = random_cost(3, seed=0)
    assert FastBackend.supports_gradient and FastBackend(cost, 1).supports_gradient
    assert not QsimBackend.supports_gradient


# ----------------------------------------------------- expectation, samples


def test_expectation_and_probabilities() -> None:
    n, p = 8, 3
    q = QUBO.from_matrix(np.triu(np.random.default_rng(2).normal(size=(n, n))))
    cost = IsingCost.from_qubo(q)
    g, b = angles(p, seed=2)
    fb, qb = FastBackend(cost, p), QsimBackend(cost, p, threads=1)
    probs = fb.probabilities(g, b)
    assert probs.dtype == np.float64 and probs.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(probs, qb.probabilities(g, b), atol=1e-6)
    # independent of the diagonal: QUBO energies of every bitstring
    energies = q.energies(index_bits(np.arange(2**n), n))
    assert cost.to_energy(fb.expectation(g, b)) == pytest.approx(float(probs @ energies), abs=1e-4)
    assert fb.expectation(g, b) == pytest.approx(qb.expectation(g, b), abs=1e-5)


@pytest.mark.parametrize("mixer", ["xy-ring", "xy-complete"])
def test_xy_samples_stay_one_hot_on_qsim_and_fast(mixer: str) -> None:
    n, p, groups = 9, 2, [(0, 4, 8), (1, 2), (3, 5, 6, 7)]
    cost = random_cost(n, seed=21)
    g, b = angles(p, seed=3)
    kw = {"mixer": mixer, "groups": groups, "threads": 1}
    fb = FastBackend(cost, p, **kw)
    assert np.all(fb.state(g, b)[~feasible_mask(n, groups)] == 0)
    for backend in (QsimBackend(cost, p, **kw), fb):
        samples = backend.sample(g, b, 2000, seed=5)
        assert samples.shape == (2000, n) and samples.dtype == np.uint8
        for group in groups:
            assert np.all(samples[:, list(group)].sum(axis=1) == 1), (backend.name, group)
        assert len(np.unique(samples, axis=0)) > 5  # it does explore the subspace


def test_fast_samples_follow_the_state() -> None:
    n, p = 4, 2
    backend = FastBackend(random_cost(n, seed=1), p)
    g, b = [0.3, 0.6], [-0.5, -0.2]
    probs = backend.probabilities(g, b)
    samples = backend.sample(g, b, 20000, seed=7)
    assert samples.shape == (20000, n) and samples.dtype == np.uint8
    freq = np.bincount(samples @ (1 << np.arange(n - 1, -1, -1)), minlength=2**n) / 20000
    np.testing.assert_allclose(freq, probs, atol=0.015)
    np.testing.assert_array_equal(
        backend.sample(g, b, 50, seed=3), backend.sample(g, b, 50, seed=3)
    )
    assert not np.array_equal(backend.sample(g, b, 50, seed=3), backend.sample(g, b, 50, seed=4))


def test_zero_probability_states_are_never_sampled() -> None:
    # diag 0: gamma does nothing; basis state of a 2-qubit group, beta = 0: one state only
    sim = FastSimulator(
        np.zeros(8), make_mixer("xy-ring", 3, groups=[(0, 1, 2)], init_state="basis")
    )
    samples = sim.sample([0.4], [0.0], 1000, seed=1)
    assert np.all(samples == [1, 0, 0])
    with pytest.raises(InvalidInputError, match="shots"):
        sim.sample([0.4], [0.0], 0)


# --------------------------------------------------- tiles, threads, sizes


@pytest.mark.parametrize("config", CONFIGS[2::2], ids=_ids)
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kernels", ["jit", "blas"])
def test_tiled_passes_equal_one_tile(config, threads, kernels, monkeypatch) -> None:
    """At these sizes one tile holds the vector; tiny tiles exercise the tiled code paths."""
    n, mixer, groups, init_state, p = config
    cost = random_cost(n, seed=5)
    g, b = angles(p, seed=6)
    kw = {"mixer": mixer, "groups": groups, "init_state": init_state, "precision": "complex128",
          "kernels": kernels}
    whole = FastBackend(cost, p, threads=1, **kw)
    monkeypatch.setattr(simulator, "TILE", 16)
    monkeypatch.setattr(simulator, "HIGH_BLOCK_BYTES", 4096)  # 16 B x 64 rows x 4 columns
    tiled = FastBackend(cost, p, threads=threads, **kw)
    assert tiled.simulator._tile == 16 and (threads == 1) == (tiled.simulator._pool is None)
    if kernels == "jit" and tiled.simulator._high is not None:  # the high pass in column blocks
        rows, width, _ = tiled.simulator._high
        assert rows == 2 ** (n - 4) and rows * width * 16 == 4096 and width < 16
    np.testing.assert_allclose(tiled.state(g, b), whole.state(g, b), atol=1e-13)
    v1, g1 = whole.expectation_and_gradient(g, b)
    v2, g2 = tiled.expectation_and_gradient(g, b)
    assert v2 == pytest.approx(v1, abs=1e-12)
    np.testing.assert_allclose(g2, g1, atol=1e-12)


def test_xy_groups_across_the_default_tile_equal_qsim() -> None:
    """17 qubits: the group on the top qubits runs as whole-vector passes, the other in the
    tile pass; state against qsim, gradient against the matrix-product kernels."""
    n, p = 17, 2
    cost = random_cost(n, seed=17)
    g, b = angles(p, seed=17)
    kw = {"mixer": "xy-ring", "groups": [(0, 1, 9), (12, 14, 15, 16)], "threads": 2}
    jit = FastBackend(cost, p, **kw)
    assert jit.simulator._pass_edges and jit.simulator._tile_edges.size
    np.testing.assert_allclose(jit.state(g, b), QsimBackend(cost, p, **kw).state(g, b), rtol=0, atol=1e-5)
    v1, g1 = FastBackend(cost, p, precision="complex128", **kw).expectation_and_gradient(g, b)
    v2, g2 = FastBackend(cost, p, precision="complex128", kernels="blas", **kw).expectation_and_gradient(g, b)
    assert v1 == pytest.approx(v2, abs=1e-10)
    np.testing.assert_allclose(g1, g2, atol=1e-10)


@pytest.mark.slow
def test_fast_equals_qsim_at_20_qubits_with_threads() -> None:
    n, p = 20, 2
    cost = random_cost(n, seed=20)
    g, b = angles(p, seed=20)
    ref = QsimBackend(cost, p, threads=2).state(g, b)
    got = FastBackend(cost, p, threads=2).state(g, b)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)


# ------------------------------------------------- backend plumbing, errors


def test_registered_and_solves() -> None:
    assert "fast" in available_backends()
    assert get_backend("fast") is FastBackend
    cost = random_cost(5, seed=3)
    assert isinstance(make_backend("fast", cost, 2, precision="complex128"), FastBackend)
    q = QUBO.from_matrix(np.triu(np.random.default_rng(4).normal(size=(6, 6))))
    sol = solve_qaoa(q, seed=1, depth=2, backend="fast", shots=256)
    E = q.all_energies(order="big")
    assert sol.energy == pytest.approx(E.min())
    assert sol.resources["backend"] == "fast"


@pytest.mark.parametrize(
    ("mixer", "groups", "init_state"),
    [
        ("x", (), "auto"),
        ("xy-ring", [(0, 1, 2), (4, 5)], "w"),
        ("xy-complete", [(5, 1, 3)], "basis"),
    ],
)
def test_resources_equal_the_qsim_circuit(mixer, groups, init_state) -> None:
    cost = random_cost(6, seed=9)
    kw = {"mixer": mixer, "groups": groups, "init_state": init_state}
    for depth in (1, 3):
        fb, qb = FastBackend(cost, depth, **kw), QsimBackend(cost, depth, **kw)
        assert fb.resources() == qb.resources()
        assert qb.resources()["circuit_moments"] == len(qb.circuit)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"precision": "complex32"}, InvalidOptionError, "precision"),
        ({"platform": "tpu"}, InvalidOptionError, "platform"),
        ({"init_state": "ghz"}, InvalidOptionError, "init_state"),
        ({"mixer": "xy-ring"}, InvalidOptionError, "mixer.*groups"),
        ({"mixer": "xy-ring", "groups": [(0, 1), (1, 2)]}, InvalidOptionError, "disjoint"),
        ({"shots_per_call": 3}, InvalidOptionError, "shots_per_call"),
        ({"threads": 0}, InvalidOptionError, "threads"),
        ({"kernels": "avx"}, InvalidOptionError, "kernels"),
        ({"kernels": "jit", "platform": "gpu"}, InvalidOptionError, "CPU only"),
    ],
)
def test_bad_options(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        FastBackend(random_cost(3, seed=0), 1, **kwargs)


def _gpu_available() -> bool:
    return gpu_status() == "available"


@pytest.mark.skipif(_gpu_available(), reason="a GPU is available here")
def test_gpu_request_without_a_gpu_says_what_is_missing() -> None:
    with pytest.raises(BackendUnavailableError, match="pip install cupy-cuda12x") as info:
        FastBackend(random_cost(3, seed=0), 1, platform="gpu")
    assert isinstance(info.value, ImportError)
    assert "CuPy" in str(info.value) and "NVIDIA GPU" in str(info.value)


@pytest.mark.skipif(not _gpu_available(), reason="needs CuPy and an NVIDIA GPU")
def test_gpu_equals_cpu() -> None:  # pragma: no cover - no GPU in CI
    cost = random_cost(12, seed=1)
    g, b = angles(3, seed=1)
    for mixer, groups in [("x", ()), ("xy-ring", [(0, 1, 2), (5, 6)])]:
        kw = {"mixer": mixer, "groups": groups, "precision": "complex128"}
        gpu, cpu = FastBackend(cost, 3, platform="gpu", **kw), FastBackend(cost, 3, **kw)
        np.testing.assert_allclose(gpu.state(g, b), cpu.state(g, b), atol=1e-12)
        v1, g1 = gpu.expectation_and_gradient(g, b)
        v2, g2 = cpu.expectation_and_gradient(g, b)
        assert v1 == pytest.approx(v2, abs=1e-10)
        np.testing.assert_allclose(g1, g2, atol=1e-10)


def test_bad_angles() -> None:
    backend = FastBackend(random_cost(3, seed=0), 2)
    with pytest.raises(InvalidInputError, match="depth=2"):
        backend.state([0.1], [0.2])
    with pytest.raises(InvalidInputError, match="same length"):
        backend.expectation([0.1, 0.2], [0.2])
    with pytest.raises(InvalidInputError, match="finite"):
        backend.expectation([0.1, np.nan], [0.2, 0.3])
    with pytest.raises(InvalidInputError, match="2\\*\\*n"):
        FastSimulator(np.zeros(6), make_mixer("x", 3))


def test_import_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, solvers.qaoa.backends.fast; "
        "heavy = [m for m in ('cirq', 'qsimcirq', 'sympy', 'cupy') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------ compiled kernels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_phase_equals_libm(dtype) -> None:
    """The branch-free sincos of the phase layer, every quadrant, against float64 libm."""
    from solvers.qaoa.fastsim.jit import SINCOS_ERROR, phase, sincos_constants

    d = np.random.default_rng(3).uniform(-200, 200, 4099).astype(dtype)
    d[:8] = [0, np.pi / 4, -np.pi / 4, np.pi / 2, np.pi, -np.pi, 1e-30, 3 * np.pi / 2]
    cdt = np.complex64 if dtype == np.float32 else np.complex128
    psi = np.full(d.size, 1 + 2j, dtype=cdt)
    phase(psi.view(dtype), d, dtype(-0.7), dtype(1.0), sincos_constants(dtype))
    ref = (1 + 2j) * np.exp(-0.7j * d.astype(np.float64) if dtype == np.float64 else
                            1j * (dtype(-0.7) * d).astype(np.float64))
    assert np.abs(psi - ref).max() <= 3 * SINCOS_ERROR[np.dtype(dtype).name]
