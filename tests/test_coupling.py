"""Coupled simulation of the particles (5) and the SDEs (6) and (8)."""

import numpy as np
import pytest

from skt_lib import ModelParameters
from skt_lib.coupling import macroscopic_pressure, simulate_coupled

SETTING = dict(means=[-0.5, 0.5], variances=[0.2, 0.2], particles=200, runs=2, time_step=0.01,
               final_time=0.3, domain=(-12.0, 12.0), cells=512, seed=1)


def test_no_interaction_paths_coincide():
    # With all a_ij = 0 the three systems have the same coefficients
    # sqrt(2 sigma_i) and -c x, the same initial data and the same noise, so
    # their Euler-Maruyama paths agree exactly.
    parameters = ModelParameters(diffusion=[0.5, 0.7], interaction=np.zeros((2, 2)),
                                 radius=0.5, potential=-1.0)
    paths = simulate_coupled(parameters, **SETTING)
    assert np.all(paths.sup_particle_intermediate == 0.0)
    assert np.all(paths.sup_intermediate_macroscopic == 0.0)
    assert np.all(paths.sup_particle_macroscopic == 0.0)


def test_shapes_and_times():
    parameters = ModelParameters(diffusion=[0.5, 0.7], interaction=[[0, 0.2], [0.1, 0]],
                                 radius=0.5, potential=-1.0)
    paths = simulate_coupled(parameters, **SETTING)
    assert paths.times.shape == (31,)
    assert paths.times[-1] == 0.3
    assert paths.sup_particle_macroscopic.shape == (2, 2, 200)
    assert set(paths.final) == {"particle", "intermediate", "macroscopic"}
    # The squared distance of (5) and (8) is at most twice the sum of the two
    # legs through (6) (triangle inequality with (a + b)^2 <= 2 a^2 + 2 b^2).
    bound = 2 * (paths.sup_particle_intermediate + paths.sup_intermediate_macroscopic)
    assert np.all(paths.sup_particle_macroscopic <= bound * (1 + 1e-12) + 1e-300)


def test_intermediate_approaches_macroscopic_as_radius_shrinks():
    errors = []
    for radius in (1.0, 0.5, 0.25):
        parameters = ModelParameters(diffusion=[0.5, 0.7], interaction=[[0, 0.2], [0.1, 0]],
                                     radius=radius, potential=-1.0)
        paths = simulate_coupled(parameters, **dict(SETTING, particles=500))
        errors.append(paths.sup_intermediate_macroscopic.mean())
    # Lemma 10 bounds E sup |Xbar - Xhat|^2 by C eta^2; halving eta must at
    # least halve it (measured: a factor above 10 per halving).
    assert errors[1] < 0.5 * errors[0]
    assert errors[2] < 0.5 * errors[1]


def test_macroscopic_pressure_linear_case():
    parameters = ModelParameters(diffusion=[1.0, 1.0], interaction=[[0, 2.0], [3.0, 0]],
                                 radius=1.0)
    density = np.array([[1.0, 2.0], [0.5, 0.25]])
    pressure = macroscopic_pressure(density, parameters)
    np.testing.assert_array_equal(pressure, [[2.0 * 0.5, 2.0 * 0.25], [3.0 * 1.0, 3.0 * 2.0]])


def test_invalid_arguments():
    parameters = ModelParameters(diffusion=[0.5], interaction=[[0.0]], radius=0.5)
    with pytest.raises(ValueError, match="particles"):
        simulate_coupled(parameters, **dict(SETTING, means=[0.0], variances=[0.2], particles=0))
    with pytest.raises(ValueError, match="time_step"):
        simulate_coupled(parameters, **dict(SETTING, means=[0.0], variances=[0.2],
                                            time_step=-1.0))


def test_estimate_error_known_values():
    from skt_lib.coupling import estimate_error

    values = np.zeros((4, 2, 3))
    values[:, 0, 1] = [1.0, 2.0, 3.0, 4.0]
    estimate = estimate_error(values)
    # Per-run means are [1, 2, 3, 4] / 6; their mean is 2.5 / 6.
    assert estimate.mean == pytest.approx(2.5 / 6)
    assert estimate.mean_std_error == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 6 / 2)
    # Particle 1 (summed over species) has mean 2.5 over runs; the others 0.
    assert estimate.max_over_particles == pytest.approx(2.5)
    assert estimate.max_std_error == pytest.approx(np.std([1, 2, 3, 4], ddof=1) / 2)
    with pytest.raises(ValueError, match="runs"):
        estimate_error(np.zeros((1, 2, 3)))
