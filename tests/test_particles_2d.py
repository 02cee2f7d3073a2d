"""Particle simulation in two dimensions with the radial bump kernel."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from skt_lib import ModelParameters, sample_gaussian_initial, simulate_particles

STEP = 0.01


def brute_force_step(x, z, parameters, model):
    """One Euler-Maruyama step with all-pairs NumPy sums (no cell list)."""
    weights = parameters.kernel_weights()
    radius = parameters.radius
    n_species, n_particles, _ = x.shape
    out = np.empty_like(x)
    for i in range(n_species):
        term = np.zeros(n_particles)
        gradient = np.zeros((n_particles, 2))
        for j in range(n_species):
            d = x[i][:, None, :] - x[j][None, :, :]
            q = 1.0 - (d**2).sum(axis=-1) / radius**2
            safe = np.where(q > 0, q, 1.0)
            b = np.where(q > 0, np.exp(-1.0 / safe), 0.0)
            if i == j:
                np.fill_diagonal(b, 0.0)
            term += weights[i, j] * b.sum(axis=1) / n_particles
            factor = -2.0 * b / safe**2 / radius**2
            gradient += weights[i, j] * (factor[..., None] * d).sum(axis=1) / n_particles
        if model == "skt":
            amplitude = np.sqrt((2 * parameters.diffusion[i] + 2 * term) * STEP)
            out[i] = x[i] + amplitude[:, None] * z[i]
        else:
            amplitude = np.sqrt(2 * parameters.diffusion[i] * STEP)
            out[i] = x[i] - STEP * gradient + amplitude * z[i]
    return out


@pytest.fixture
def crowded():
    parameters = ModelParameters(diffusion=[1.0, 2.0], interaction=[[5.0, 355.0], [25.0, 0.0]],
                                 radius=1.5, dimension=2)
    initial = sample_gaussian_initial([[-1.0, 0.0], [1.0, 0.5]], [2.0, 2.0], runs=2,
                                      particles=300, seed=1)
    noise = np.random.default_rng(0).standard_normal((1, *initial.shape))
    return parameters, initial, noise


@pytest.mark.parametrize("model", ["skt", "drift"])
def test_cell_list_matches_brute_force(crowded, model):
    parameters, initial, noise = crowded
    result = simulate_particles(initial, parameters, model=model, time_step=STEP,
                                final_time=STEP, noise=noise)
    for run in range(2):
        expected = brute_force_step(initial[run], noise[0, run], parameters, model)
        # Same terms summed in another order: agreement to a few ulp of |x| ~ 5.
        np.testing.assert_allclose(result.positions[-1, run], expected, rtol=0, atol=1e-13)


def test_far_outlier_keeps_sums_exact(crowded):
    parameters, initial, noise = crowded
    initial = initial.copy()
    initial[0, 0, 0] = [1.0e7, -1.0e7]
    result = simulate_particles(initial, parameters, model="skt", time_step=STEP,
                                final_time=STEP, noise=noise)
    expected = brute_force_step(initial[0], noise[0, 0], parameters, "skt")
    np.testing.assert_allclose(result.positions[-1, 0], expected, rtol=1e-13, atol=1e-13)


def test_pure_diffusion_variance():
    sigma, variance, final_time = 0.3, 0.2, 1.0
    parameters = ModelParameters(diffusion=[sigma], interaction=[[0.0]], radius=1.0,
                                 dimension=2)
    initial = sample_gaussian_initial([[0.5, -1.0]], [variance], runs=10, particles=5000,
                                      seed=3)
    result = simulate_particles(initial, parameters, model="skt", time_step=STEP,
                                final_time=final_time, seed=3)
    positions = result.positions[-1].reshape(-1, 2)
    samples = positions.shape[0]
    expected = variance + 2 * sigma * final_time
    # Without interaction each coordinate is Gaussian with variance v0 + 2 sigma t
    # (Euler-Maruyama is exact for Brownian motion). The sample variance has
    # standard error sqrt(2 / (n - 1)) times the variance; allow four of them.
    tolerance = 4 * np.sqrt(2.0 / (samples - 1)) * expected
    for axis in range(2):
        assert abs(positions[:, axis].var(ddof=1) - expected) < tolerance


def test_2d_bitwise_across_thread_counts(tmp_path):
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from skt_lib import ModelParameters, sample_gaussian_initial, simulate_particles
        parameters = ModelParameters(diffusion=[1.0, 2.0], interaction=[[0, 355], [25, 0]],
                                     radius=1.0, dimension=2)
        runs = int(sys.argv[2])
        x0 = sample_gaussian_initial([[-1, 0], [1, 0]], [2, 2], runs=runs, particles=200,
                                     seed=4)
        result = simulate_particles(x0, parameters, model=sys.argv[3], time_step=0.01,
                                    final_time=0.05, seed=4)
        np.save(sys.argv[1], result.positions)
    """)
    for runs in ("1", "3"):
        for model in ("skt", "drift"):
            outputs = []
            for threads in ("1", "2"):
                path = tmp_path / f"{runs}-{model}-{threads}.npy"
                env = dict(os.environ, NUMBA_NUM_THREADS=threads)
                subprocess.run([sys.executable, "-c", code, str(path), runs, model],
                               check=True, env=env)
                outputs.append(np.load(path))
            assert np.array_equal(outputs[0], outputs[1]), (runs, model)


def test_2d_shape_is_checked():
    parameters = ModelParameters(diffusion=[1.0], interaction=[[0.0]], radius=1.0,
                                 dimension=2)
    with pytest.raises(ValueError, match="initial_positions"):
        simulate_particles(np.zeros((1, 1, 4)), parameters, time_step=0.1, final_time=0.1)
    with pytest.raises(ValueError, match="last axis"):
        simulate_particles(np.zeros((1, 1, 4, 3)), parameters, time_step=0.1, final_time=0.1)
