"""Device backends optimised on the noiseless simulator: the answer still comes from the device.

A sampler that records every run wraps the noisy virtual machine of rainbow (the
noise model of the ``qvm`` backend) and is handed to the ``engine`` backend, so
the test sees each device call and every bitstring the device returned.
"""

from __future__ import annotations

import numpy as np
import pytest

cirq = pytest.importorskip("cirq")
qsimcirq = pytest.importorskip("qsimcirq")

from cirq_google.engine import virtual_engine_factory as vef  # noqa: E402

from solvers import QUBOBuilder, solve_qubo  # noqa: E402
from solvers.errors import InvalidOptionError  # noqa: E402


class RecordingSampler(cirq.Sampler):
    """A ``cirq.Sampler`` that runs another one and keeps every result's bits."""

    def __init__(self, inner: cirq.Sampler) -> None:
        self.inner = inner
        self.calls: list[np.ndarray] = []

    def run_sweep(self, program, params, repetitions=1):  # noqa: ANN001, ANN201
        results = self.inner.run_sweep(program, params, repetitions)
        for r in results:
            self.calls.append(np.asarray(r.measurements["x"], dtype=np.uint8).copy())
        return results


def noisy_rainbow_sampler(seed: int) -> RecordingSampler:
    engine = vef.create_default_noisy_quantum_virtual_machine(
        "rainbow", simulator_class=qsimcirq.QSimSimulator, seed=np.random.RandomState(seed)
    )
    return RecordingSampler(engine.get_processor("rainbow").get_sampler())


def small_qubo():
    """3 one-hot groups of 2 (6 qubits) with random costs; its feasible optimum by enumeration."""
    rng = np.random.default_rng(3)
    b = QUBOBuilder()
    groups = [[f"t{t}r{r}" for r in range(2)] for t in range(3)]
    for g in groups:
        for v in g:
            b.add_linear(v, float(rng.uniform(0.0, 2.0)))
    for g in groups:
        b.add_onehot(g, penalty=6.0)
    q = b.build()
    every = np.array([[int(c) for c in format(i, "06b")] for i in range(64)], dtype=np.uint8)
    ok = q.onehot_violations(every) == 0
    return q, float(q.energies(every)[ok].min())


def test_noiseless_optimisation_calls_the_device_once_and_answers_from_its_samples():
    q, best = small_qubo()
    sampler = noisy_rainbow_sampler(7)
    sol = solve_qubo(q, "qaoa", backend="engine:rainbow", depth=1, seed=1, shots=400,
                     backend_options={"sampler": sampler})
    # the optimiser ran on the noiseless simulator: the device ran once, for the answer
    assert len(sampler.calls) == 1
    device_bits = sampler.calls[0]
    assert device_bits.shape == (400, 6)
    assert (device_bits == sol.bits).all(axis=1).any()
    assert sol.info["optimised_on"] == "fast"
    assert sol.resources["evaluations"] > 1
    assert sol.feasible and sol.energy == pytest.approx(best)
    # both figures are reported; the device's P(optimum) is the fraction of its own shots
    at_opt = (q.onehot_violations(device_bits) == 0) & np.isclose(q.energies(device_bits), best)
    assert sol.resources["p_optimum"] == pytest.approx(at_opt.mean())
    assert 0.0 < sol.resources["p_optimum_noiseless"] <= 1.0
    assert 0.0 < sol.resources["feasible_fraction_noiseless"] <= 1.0 + 1e-9
    assert sol.resources["optimum_energy"] == pytest.approx(best)


def test_device_refinement_runs_its_evaluations_on_the_device_and_answers_from_its_samples():
    q, best = small_qubo()
    sampler = noisy_rainbow_sampler(7)
    sol = solve_qubo(q, "qaoa", backend="engine:rainbow", depth=1, seed=1, shots=400, shots_per_eval=100,
                     device_refine=4, backend_options={"sampler": sampler})
    # 4 refinement evaluations of 100 shots (the first at the noiseless optimum), then the answer's 400
    assert [c.shape[0] for c in sampler.calls] == [100, 100, 100, 100, 400]
    refine = sol.info["device_refine"]
    assert refine["evaluations"] == sol.resources["evaluations_on_device"] == 4
    assert refine["stopped_by"] == "maxiter"
    assert refine["best_estimate"] == min(refine["trace"]) <= refine["estimate_at_noiseless_optimum"]
    assert refine["trace"][0] == refine["estimate_at_noiseless_optimum"]
    assert (sampler.calls[-1] == sol.bits).all(axis=1).any()  # the answer is one of the last run's samples
    assert sol.feasible and sol.energy == pytest.approx(best)


def test_device_refinement_needs_a_device_and_noiseless_angles():
    q, _ = small_qubo()
    with pytest.raises(InvalidOptionError, match="device_refine"):
        solve_qubo(q, "qaoa", backend="fast", depth=1, seed=1, device_refine=3)
    with pytest.raises(InvalidOptionError, match="device_refine"):
        solve_qubo(q, "qaoa", backend="fast", depth=1, seed=1, device_refine=-1)


def test_device_optimisation_calls_the_device_per_evaluation():
    q, _ = small_qubo()
    sampler = noisy_rainbow_sampler(7)
    sol = solve_qubo(q, "qaoa", backend="engine:rainbow", depth=1, seed=1, shots=200, maxiter=3,
                     shots_per_eval=100, device_optimise="device", backend_options={"sampler": sampler})
    assert sol.resources["evaluations"] == 3
    assert len(sampler.calls) == 3 + 1  # one sampling run per evaluation, one for the answer
    assert [c.shape[0] for c in sampler.calls] == [100, 100, 100, 200]
    assert (sampler.calls[-1] == sol.bits).all(axis=1).any()
    assert sol.info["optimised_on"] == "device"
    assert "p_optimum_noiseless" not in sol.resources


def test_bad_device_optimise_is_one_clear_error():
    q, _ = small_qubo()
    with pytest.raises(InvalidOptionError, match="device_optimise.*noiseless, device"):
        solve_qubo(q, "qaoa", backend="qvm:rainbow", device_optimise="gpu")
