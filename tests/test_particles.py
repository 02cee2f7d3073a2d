"""Tests of skt_lib.particles: Euler-Maruyama particle simulations in 1D."""

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from skt_lib import (
    BUMP_INTEGRAL_1D,
    ModelParameters,
    NonFiniteStateError,
    Nonlinearity,
    sample_gaussian_initial,
    simulate_particles,
)
from skt_lib.kernels import bump_derivative
from skt_lib.particles import build_time_grid, check_run_size

MODELS = ["skt", "drift"]

# The coefficients of Figure 1 of Chen, Daus, Holzinger and Juengel (2020),
# as listed in book/model.md: two species with strongly asymmetric
# cross-interaction, initial Gaussians with means -1 and 1 and variance 2.
FIGURE_DIFFUSION = [1.0, 2.0]
FIGURE_INTERACTION = [[0.0, 355.0], [25.0, 0.0]]
FIGURE_RADIUS = 2.0


def simulate(initial_positions, parameters, **options):
    """Run simulate_particles without a progress bar."""
    return simulate_particles(initial_positions, parameters, progress=False, **options)


def figure_parameters():
    return ModelParameters(diffusion=FIGURE_DIFFUSION, interaction=FIGURE_INTERACTION,
                           radius=FIGURE_RADIUS)


def bump(r):
    """Evaluate B(r) = exp(-1/(1-r^2)) with math.exp, or 0 for |r| >= 1."""
    q = (1.0 - r) * (1.0 + r)
    if q <= 0.0:
        return 0.0
    return math.exp(-1.0 / q)


# --- Exact moments of the linear scheme ----------------------------------------
#
# With a_ij = 0 and U(x) = c |x|^2 / 2 with c = -1, both models reduce to
# x_{m+1} = (1 + h) x_m + sqrt(2 sigma h) z_m. The mean is m0 (1 + h)^n, and
# the variance solves v_{m+1} = (1 + h)^2 v_m + 2 sigma h, whose fixed point
# is -2 sigma / (2 + h).

LINEAR_STEP = 0.01
LINEAR_STEPS = 100
LINEAR_SIGMA = 0.2
INITIAL_MEAN = 0.5
INITIAL_VARIANCE = 0.1


def linear_scheme_mean():
    return INITIAL_MEAN * (1.0 + LINEAR_STEP) ** LINEAR_STEPS


def linear_scheme_variance():
    offset = 2.0 * LINEAR_SIGMA / (2.0 + LINEAR_STEP)
    return (1.0 + LINEAR_STEP) ** (2 * LINEAR_STEPS) * (INITIAL_VARIANCE + offset) - offset


def linear_parameters():
    return ModelParameters(diffusion=[LINEAR_SIGMA], interaction=[[0.0]], radius=1.0,
                           potential=-1.0)


def test_linear_scheme_closed_forms():
    # The literals are the closed forms rounded to 10 decimals (error <= 5e-11).
    assert linear_scheme_mean() == pytest.approx(1.3524069147, rel=0, abs=1e-9)
    assert linear_scheme_variance() == pytest.approx(1.9885207607, rel=0, abs=1e-9)


def test_linear_scheme_variance_recursion():
    variance = INITIAL_VARIANCE
    for _ in range(LINEAR_STEPS):
        variance = (1.0 + LINEAR_STEP) ** 2 * variance + 2.0 * LINEAR_SIGMA * LINEAR_STEP

    # 100 steps of a recursion with factor 1.02 accumulate about 100 roundings
    # of relative size u each, so 1e-13 relative is a safe bound.
    assert variance == pytest.approx(linear_scheme_variance(), rel=1e-13)


@pytest.mark.parametrize("model", MODELS)
def test_linear_scheme_follows_recursion(model):
    initial = sample_gaussian_initial([INITIAL_MEAN], [INITIAL_VARIANCE], runs=2,
                                      particles=50, seed=3)
    noise = np.random.default_rng(4).standard_normal((LINEAR_STEPS, 2, 1, 50))

    result = simulate(initial, linear_parameters(), model=model, time_step=LINEAR_STEP,
                      final_time=LINEAR_STEPS * LINEAR_STEP, noise=noise)

    # The kernel computes x + (-c x) h + sqrt((2 sigma + 0) h) z. The same
    # operations in the same order give bitwise equal positions.
    expected = initial.copy()
    amplitude = math.sqrt(2.0 * LINEAR_SIGMA * LINEAR_STEP)
    for z in noise:
        expected = expected + expected * LINEAR_STEP + amplitude * z
    np.testing.assert_array_equal(result.positions[-1], expected)


@pytest.mark.parametrize("model", MODELS)
def test_linear_scheme_monte_carlo_moments(model):
    runs, particles = 20, 5000
    initial = sample_gaussian_initial([INITIAL_MEAN], [INITIAL_VARIANCE], runs=runs,
                                      particles=particles, seed=2020)

    result = simulate(initial, linear_parameters(), model=model, time_step=LINEAR_STEP,
                      final_time=LINEAR_STEPS * LINEAR_STEP, seed=2020)

    assert result.record["steps"] == LINEAR_STEPS
    samples = result.positions[-1].ravel()
    n = samples.size
    mean = linear_scheme_mean()
    variance = linear_scheme_variance()
    # Without interaction the particles are independent, and Gaussian because
    # the scheme is linear in Gaussian data. Standard errors: sqrt(v / n) for
    # the sample mean, sqrt(2 / (n - 1)) v for the sample variance. A correct
    # scheme exceeds four standard errors with probability 6e-5 per check.
    mean_error = math.sqrt(variance / n)
    variance_error = math.sqrt(2.0 / (n - 1)) * variance
    assert abs(samples.mean() - mean) <= 4.0 * mean_error
    assert abs(samples.var(ddof=1) - variance) <= 4.0 * variance_error


# --- Symmetries -------------------------------------------------------------------

SYMMETRY_RUNS = 2
SYMMETRY_PARTICLES = 300
SYMMETRY_STEPS = 20
SYMMETRY_STEP = 0.01


def symmetry_data():
    initial = sample_gaussian_initial([-1.0, 1.0], [2.0, 2.0], runs=SYMMETRY_RUNS,
                                      particles=SYMMETRY_PARTICLES, seed=7)
    noise = np.random.default_rng(8).standard_normal(
        (SYMMETRY_STEPS, SYMMETRY_RUNS, 2, SYMMETRY_PARTICLES))
    return initial, noise


def symmetry_options(model):
    return {
        "model": model,
        "time_step": SYMMETRY_STEP,
        "final_time": SYMMETRY_STEPS * SYMMETRY_STEP,
        "output_times": SYMMETRY_STEP * np.arange(1, SYMMETRY_STEPS + 1),
    }


@pytest.mark.parametrize("model", MODELS)
def test_species_swap_swaps_results(model):
    parameters = figure_parameters()
    initial, noise = symmetry_data()

    result = simulate(initial, parameters, noise=noise, **symmetry_options(model))
    swapped = simulate(initial[:, ::-1], parameters.swapped([1, 0]), noise=noise[:, :, ::-1],
                       **symmetry_options(model))

    # Each species is sorted on its own, so every kernel sum adds the same
    # numbers in the same order and the results should be equal. The 1e-12
    # relative tolerance allows only for round-off.
    np.testing.assert_allclose(swapped.positions[:, :, ::-1], result.positions,
                               rtol=1e-12, atol=0)


@pytest.mark.parametrize("model", MODELS)
def test_reflection_mirrors_paths(model):
    parameters = figure_parameters()
    initial, noise = symmetry_data()

    result = simulate(initial, parameters, noise=noise, **symmetry_options(model))
    mirrored = simulate(-initial, parameters, noise=-noise, **symmetry_options(model))

    # B is even and B' odd, so reflection maps the scheme to itself. But it
    # reverses the sorted order, so each kernel sum of k <= 300 terms is added
    # in another order, which changes it by at most (k - 1) u = 3.3e-14
    # relative. Increments stay below 4.3 here, so one step differs by at
    # most about 1e-13. Random perturbations of the initial data grew by a
    # factor of at most 40 over these 20 steps (an estimate: three
    # perturbations of size 1e-9, drift model), which bounds the difference
    # by about 20 * 1e-13 * 40 = 8e-11 < 1e-10. Measured: below 1e-14.
    np.testing.assert_allclose(-mirrored.positions, result.positions, rtol=0, atol=1e-10)


@pytest.mark.parametrize("model", MODELS)
def test_reflection_paths_are_nontrivial(model):
    # Guards the reflection test: the interaction must move the particles,
    # or the mirrored paths would agree trivially.
    parameters = figure_parameters()
    free = ModelParameters(diffusion=FIGURE_DIFFUSION, interaction=np.zeros((2, 2)),
                           radius=FIGURE_RADIUS)
    initial, noise = symmetry_data()

    interacting = simulate(initial, parameters, noise=noise, **symmetry_options(model))
    independent = simulate(initial, free, noise=noise, **symmetry_options(model))

    assert np.abs(interacting.positions - independent.positions).max() > 0.1


# --- Reproducibility ----------------------------------------------------------------

THREAD_SCRIPT = textwrap.dedent(
    """
    import sys

    import numba
    import numpy as np

    from skt_lib import ModelParameters, sample_gaussian_initial, simulate_particles

    output = sys.argv[1]
    parameters = ModelParameters(diffusion=[1.0, 2.0],
                                 interaction=[[0.0, 355.0], [25.0, 0.0]], radius=2.0)
    for model in ("skt", "drift"):
        for runs, particles in ((3, 200), (1, 600)):
            initial = sample_gaussian_initial([-1.0, 1.0], [2.0, 2.0], runs=runs,
                                              particles=particles, seed=11)
            result = simulate_particles(initial, parameters, model=model, time_step=0.01,
                                        final_time=0.2, output_times=[0.1, 0.2], seed=11,
                                        progress=False)
            np.save(f"{output}/{model}-{runs}.npy", result.positions)
    np.save(f"{output}/threads.npy", np.array(numba.get_num_threads()))
    """
)

THREAD_COUNTS = (1, 2)


@pytest.fixture(scope="module")
def thread_outputs(tmp_path_factory):
    """Run THREAD_SCRIPT once per thread count; return {threads: output folder}."""
    folders = {}
    for threads in THREAD_COUNTS:
        folder = tmp_path_factory.mktemp(f"threads-{threads}")
        environment = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
        completed = subprocess.run(
            [sys.executable, "-c", THREAD_SCRIPT, str(folder)],
            env=environment, capture_output=True, text=True, timeout=300, check=False)
        assert completed.returncode == 0, completed.stderr
        folders[threads] = folder
    return folders


def test_thread_counts_are_applied(thread_outputs):
    for threads, folder in thread_outputs.items():
        assert int(np.load(folder / "threads.npy")) == threads


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("runs", [3, 1], ids=["run-parallel", "particle-parallel"])
def test_results_independent_of_threads(thread_outputs, model, runs):
    single, double = (np.load(thread_outputs[threads] / f"{model}-{runs}.npy")
                      for threads in THREAD_COUNTS)

    # Each particle's sums run on one thread in a data-determined order.
    assert np.array_equal(single, double)


@pytest.mark.parametrize("model", MODELS)
def test_single_run_equals_run_zero(model):
    parameters = figure_parameters()
    initial, noise = symmetry_data()

    several = simulate(initial, parameters, noise=noise, **symmetry_options(model))
    alone = simulate(initial[:1], parameters, noise=noise[:, :1], **symmetry_options(model))

    # runs=1 uses the particle-parallel kernel and runs=2 the run-parallel
    # one; both compute each particle's sums in the same order.
    assert np.array_equal(alone.positions[:, 0], several.positions[:, 0])


def test_initial_runs_independent_of_run_count():
    few = sample_gaussian_initial([0.0, 1.0], [1.0, 2.0], runs=2, particles=10, seed=42)
    many = sample_gaussian_initial([0.0, 1.0], [1.0, 2.0], runs=5, particles=10, seed=42)

    assert np.array_equal(few[0], many[0])
    assert np.array_equal(few[1], many[1])


def test_initial_runs_differ():
    initial = sample_gaussian_initial([0.0], [1.0], runs=2, particles=10, seed=42)

    assert not np.array_equal(initial[0], initial[1])


def test_initial_uses_spawned_streams():
    seed = 42
    initial = sample_gaussian_initial([0.5, -1.0], [0.1, 4.0], runs=3, particles=10, seed=seed)

    child = np.random.SeedSequence(seed).spawn(3)[2]
    standard = np.random.default_rng(child).standard_normal((2, 10))
    expected = np.array([[0.5], [-1.0]]) + np.sqrt([[0.1], [4.0]]) * standard
    # Same operations as the library on the same draws: bitwise equal.
    np.testing.assert_array_equal(initial[2], expected)


def test_seeded_noise_independent_of_run_count():
    parameters = figure_parameters()
    options = symmetry_options("skt")
    few_initial = sample_gaussian_initial([-1.0, 1.0], [2.0, 2.0], runs=2, particles=50, seed=9)
    many_initial = sample_gaussian_initial([-1.0, 1.0], [2.0, 2.0], runs=3, particles=50, seed=9)

    few = simulate(few_initial, parameters, seed=9, **options)
    many = simulate(many_initial, parameters, seed=9, **options)

    assert np.array_equal(few.positions[:, 0], many.positions[:, 0])
    assert np.array_equal(few.positions[:, 1], many.positions[:, 1])


def test_seeded_noise_continues_initial_stream():
    seed, runs, particles, sigma, step = 5, 2, 8, 0.3, 0.01
    parameters = ModelParameters(diffusion=[sigma], interaction=[[0.0]], radius=1.0)
    initial = sample_gaussian_initial([0.0], [1.0], runs=runs, particles=particles, seed=seed)

    result = simulate(initial, parameters, time_step=step, final_time=step, seed=seed)

    amplitude = math.sqrt(2.0 * sigma * step)
    for run, child in enumerate(np.random.SeedSequence(seed).spawn(runs)):
        generator = np.random.default_rng(child)
        generator.standard_normal((1, particles))  # the draw of the initial positions
        z = generator.standard_normal((1, particles))
        # x + 0 h + sqrt(2 sigma h) z in the library's order: bitwise equal.
        np.testing.assert_array_equal(result.positions[-1, run], initial[run] + amplitude * z)


# --- Single steps computed by hand ---------------------------------------------------
#
# The library evaluates B with an inline exp within 2.3e-16 relative of
# math.exp. Every other operation below is the same on both sides, so
# the positions agree to a few ulp: rtol 1e-15 allows about 4.5 ulp.
HAND_RTOL = 1e-15


@pytest.mark.parametrize(
    "nonlinearity",
    [Nonlinearity(), Nonlinearity(power=2.0)],
    ids=["linear", "power-2"],
)
def test_skt_step_excludes_self_interaction(nonlinearity):
    sigma, strength, radius, step = 0.5, 2.0, 0.5, 0.01
    parameters = ModelParameters(diffusion=[sigma], interaction=[[strength]], radius=radius,
                                 nonlinearity=nonlinearity)
    initial = np.array([[[0.1, 0.4]]])
    noise = np.array([[[[0.7, -1.3]]]])

    result = simulate(initial, parameters, time_step=step, final_time=step, noise=noise)

    # S_k = w B((x_k - x_l) / eta) / N with w = a / (Z_1 eta) and N = 2,
    # summed over the other particle l only.
    weight = strength / radius / BUMP_INTEGRAL_1D
    x = initial[0, 0]
    z = noise[0, 0, 0]
    expected = []
    for k, l in ((0, 1), (1, 0)):
        s = weight * (bump((x[k] - x[l]) * (1.0 / radius)) / 2)
        pressure = s if nonlinearity.power == 1.0 else s**2.0
        expected.append(x[k] + math.sqrt((2.0 * sigma + 2.0 * pressure) * step) * z[k])
    np.testing.assert_allclose(result.positions[-1, 0, 0], expected, rtol=HAND_RTOL)


def test_skt_isolated_particle_diffuses_freely():
    sigma, step = 0.5, 0.01
    parameters = ModelParameters(diffusion=[sigma], interaction=[[50.0]], radius=0.5)
    initial = np.array([[[0.3]]])
    noise = np.array([[[[1.7]]]])

    result = simulate(initial, parameters, time_step=step, final_time=step, noise=noise)

    # The only particle has no partner, so S = 0 exactly and the step is
    # x + sqrt(2 sigma h) z in the same operations: bitwise equal.
    assert result.positions[-1, 0, 0, 0] == 0.3 + math.sqrt(2.0 * sigma * step) * 1.7


def test_skt_cross_species_step():
    sigma, radius, step = [0.5, 1.5], 0.8, 0.01
    interaction = [[0.0, 3.0], [1.0, 0.0]]
    parameters = ModelParameters(diffusion=sigma, interaction=interaction, radius=radius)
    initial = np.array([[[0.2], [-0.1]]])
    noise = np.array([[[[0.4], [-0.9]]]])

    result = simulate(initial, parameters, time_step=step, final_time=step, noise=noise)

    # Row i of a acts on species i: species 0 feels a_01 = 3, species 1 feels
    # a_10 = 1, each through B at r = (x_i - x_j) / eta with N = 1.
    x = initial[0, :, 0]
    z = noise[0, 0, :, 0]
    expected = []
    for i, j in ((0, 1), (1, 0)):
        weight = interaction[i][j] / radius / BUMP_INTEGRAL_1D
        s = weight * bump((x[i] - x[j]) * (1.0 / radius))
        expected.append(x[i] + math.sqrt((2.0 * sigma[i] + 2.0 * s) * step) * z[i])
    np.testing.assert_allclose(result.positions[-1, 0, :, 0], expected, rtol=HAND_RTOL)


def test_drift_step_matches_hand_computation():
    sigma, strength, radius, potential, step = 0.5, 2.0, 0.5, 0.3, 0.01
    parameters = ModelParameters(diffusion=[sigma], interaction=[[strength]], radius=radius,
                                 potential=potential)
    initial = np.array([[[0.1, 0.4]]])
    noise = np.array([[[[0.7, -1.3]]]])

    result = simulate(initial, parameters, model="drift", time_step=step, final_time=step,
                      noise=noise)

    # y_k + (-c y_k - grad) h + sqrt(2 sigma h) z_k with
    # grad = w B'((y_k - y_l) / eta) / (N eta), w = a / (Z_1 eta), N = 2.
    # B' comes from the inline exp in the library and from libm here.
    weight = strength / radius / BUMP_INTEGRAL_1D
    y = initial[0, 0]
    z = noise[0, 0, 0]
    amplitude = math.sqrt(2.0 * sigma * step)
    expected = []
    for k, l in ((0, 1), (1, 0)):
        gradient = weight * (bump_derivative((y[k] - y[l]) * (1.0 / radius)) / 2) / radius
        drift = -potential * y[k] - gradient
        expected.append(y[k] + drift * step + amplitude * z[k])
    np.testing.assert_allclose(result.positions[-1, 0, 0], expected, rtol=HAND_RTOL)


def test_drift_step_repels_particles():
    parameters = ModelParameters(diffusion=[0.5], interaction=[[2.0]], radius=0.5)
    initial = np.array([[[0.1, 0.4]]])
    noise = np.zeros((1, 1, 1, 2))

    result = simulate(initial, parameters, model="drift", time_step=0.01, final_time=0.01,
                      noise=noise)

    # Without noise and potential only the interaction moves the particles:
    # the left one moves left, the right one moves right.
    left, right = result.positions[-1, 0, 0]
    assert left < 0.1
    assert right > 0.4


# --- Time grid ------------------------------------------------------------------------


def test_time_grid_hits_output_times():
    steps, output_steps = build_time_grid(1.0, 0.1, [0.25, 0.7, 1.0])

    # Each interval is split into ceil(length / time_step) equal steps:
    # 0.25 -> 3, 0.45 -> 5, 0.3 -> 3.
    assert output_steps == [3, 8, 11]
    assert steps.size == 11
    # The last interval has the rounded length 1.0 - 0.7 = 0.30000000000000004,
    # so its steps exceed 0.1 by one ulp, and the bound allows 2 u relative.
    assert steps.max() <= 0.1 * (1.0 + 2.0**-52)
    # Equal steps within an interval sum to its length up to one rounding
    # per addition, so k steps differ from it by at most about k u relative.
    assert math.fsum(steps[:3]) == pytest.approx(0.25, rel=4e-16)
    assert math.fsum(steps[3:8]) == pytest.approx(0.45, rel=8e-16)
    assert math.fsum(steps) == pytest.approx(1.0, rel=16e-16)


def test_time_grid_keeps_dividing_step():
    steps, output_steps = build_time_grid(1.0, 0.01, [0.5, 1.0])

    # Both intervals have length 0.5, and 0.5 / 50 is exactly the double
    # nearest 0.01.
    assert output_steps == [50, 100]
    assert np.all(steps == 0.01)


def test_simulation_path_on_uneven_grid():
    # Without noise or interaction, x_{m+1} = x_m + (-c x_m) h_m exactly.
    potential, step = 2.0, 0.1
    output_times = [0.0, 0.25, 0.7, 1.0]
    parameters = ModelParameters(diffusion=[1.0], interaction=[[0.0]], radius=1.0,
                                 potential=potential)
    initial = np.array([[[0.5, -1.0, 2.0]]])
    noise = np.zeros((11, 1, 1, 3))

    result = simulate(initial, parameters, time_step=step, final_time=1.0,
                      output_times=output_times, noise=noise)

    assert result.record["steps"] == 11
    # One ulp above time_step from the rounded interval length, as above.
    assert result.record["max_time_step"] <= step * (1.0 + 2.0**-52)
    np.testing.assert_array_equal(result.times, output_times)
    expected = [initial[0]]
    x = initial[0]
    intervals = [(0.0, 0.25, 3), (0.25, 0.7, 5), (0.7, 1.0, 3)]
    for start, stop, count in intervals:
        h = (stop - start) / count
        for _ in range(count):
            x = x + (-potential * x) * h
        expected.append(x)
    # Same operations in the same order as the kernel: bitwise equal.
    np.testing.assert_array_equal(result.positions[:, 0], np.array(expected))


def test_output_at_zero_is_initial():
    parameters = figure_parameters()
    initial, _ = symmetry_data()

    result = simulate(initial, parameters, time_step=0.01, final_time=0.05,
                      output_times=[0.0, 0.05], seed=1)

    assert np.array_equal(result.positions[0], initial)
    assert np.array_equal(result.at(0.0), initial)


def test_default_output_is_final_time():
    parameters = figure_parameters()
    initial, _ = symmetry_data()

    result = simulate(initial, parameters, time_step=0.01, final_time=0.03, seed=1)

    np.testing.assert_array_equal(result.times, [0.03])
    assert result.positions.shape == (1, SYMMETRY_RUNS, 2, SYMMETRY_PARTICLES)
    assert result.record["steps"] == 3


def test_at_rejects_missing_time():
    parameters = figure_parameters()
    initial, _ = symmetry_data()
    result = simulate(initial, parameters, time_step=0.01, final_time=0.02, seed=1)

    with pytest.raises(ValueError, match="not an output time"):
        result.at(0.01)


# --- Blow-up ----------------------------------------------------------------------------


def test_blow_up_raises_with_partial_outputs():
    # U(x) = c x^2 / 2 with c = 1e5 and h = 0.01: each step multiplies x by
    # 1 - c h = -999, so |x| overflows after about 100 of the 200 steps. Only
    # species 1 of run 1 starts away from 0, and the noise is zero, so all
    # other positions stay exactly 0.
    potential = 1e5
    parameters = ModelParameters(diffusion=[1.0, 1.0], interaction=np.zeros((2, 2)),
                                 radius=1.0, potential=potential)
    initial = np.zeros((2, 2, 3))
    initial[1, 1] = [1.0, -0.5, 2.0]
    output_times = [0.0, 0.01, 2.0]
    steps, _ = build_time_grid(2.0, 0.01, output_times)
    noise = np.zeros((steps.size, 2, 2, 3))

    with pytest.raises(NonFiniteStateError) as caught, pytest.warns(UserWarning, match="time_step"):
        simulate(initial, parameters, time_step=0.01, final_time=2.0,
                 output_times=output_times, noise=noise)

    # Reference: the same update on Python floats, first step with a
    # non-finite position.
    x = initial[1, 1].tolist()
    failed_step = None
    for index, h in enumerate(steps.tolist(), start=1):
        x = [value + (-potential * value) * h for value in x]
        if not all(math.isfinite(value) for value in x):
            failed_step = index
            break
    error = caught.value
    assert failed_step is not None
    assert 50 < failed_step < steps.size
    assert error.step == failed_step
    assert error.species == 1
    assert error.run == 1
    assert error.time == pytest.approx(math.fsum(steps[:failed_step]), rel=1e-12)
    assert f"step {failed_step}" in str(error)
    assert "species 1" in str(error)
    assert "run 1" in str(error)

    partial = error.partial
    np.testing.assert_array_equal(partial.times, [0.0, 0.01])
    assert partial.record["failed_step"] == failed_step
    assert partial.record["steps"] == failed_step - 1
    assert np.array_equal(partial.positions[0], initial)
    # One step x + (-c x) h in the kernel's operation order: bitwise equal.
    assert np.array_equal(partial.positions[1], initial + (-potential * initial) * 0.01)


# --- Invalid input -------------------------------------------------------------------


def valid_call():
    parameters = ModelParameters(diffusion=[1.0, 2.0], interaction=np.ones((2, 2)), radius=1.0)
    return {
        "initial_positions": np.zeros((1, 2, 4)),
        "parameters": parameters,
        "model": "skt",
        "time_step": 0.1,
        "final_time": 1.0,
        "progress": False,
    }


@pytest.mark.parametrize(
    ("changes", "error", "pattern"),
    [
        ({"model": "SKT"}, ValueError, "model must be one of"),
        ({"initial_positions": np.zeros((2, 4))}, ValueError,
         "initial_positions must be a 3-dimensional array"),
        ({"initial_positions": np.zeros((1, 3, 4))}, ValueError,
         "initial_positions has 3 species"),
        ({"initial_positions": np.zeros((1, 2, 0))}, ValueError,
         "initial_positions must have at least one run and one particle"),
        ({"initial_positions": np.full((1, 2, 4), np.nan)}, ValueError,
         "initial_positions must contain only finite"),
        ({"initial_positions": [[["a"]]]}, TypeError,
         "initial_positions must contain only real numbers"),
        ({"parameters": {"diffusion": [1.0]}}, TypeError, "parameters must be a ModelParameters"),
        ({"time_step": 0.0}, ValueError, "time_step must be > 0"),
        ({"time_step": -0.1}, ValueError, "time_step must be > 0"),
        ({"time_step": float("nan")}, ValueError, "time_step must be finite"),
        ({"final_time": 0.0}, ValueError, "final_time must be > 0"),
        ({"output_times": [0.5, 1.5]}, ValueError, r"output_times must lie in \[0, final_time"),
        ({"output_times": [-0.1, 0.5]}, ValueError, r"output_times must lie in \[0, final_time"),
        ({"output_times": [0.5, 0.2]}, ValueError, "output_times must be strictly increasing"),
        ({"output_times": [0.5, 0.5]}, ValueError, "output_times must be strictly increasing"),
        ({"output_times": []}, ValueError, "output_times must list at least one time"),
        ({"noise": np.zeros((9, 1, 2, 4))}, ValueError, r"noise must have shape \(10, 1, 2, 4\)"),
        ({"noise": np.zeros((10, 2, 4))}, ValueError, "noise must be a 4-dimensional array"),
        ({"noise": np.full((10, 1, 2, 4), np.inf)}, ValueError,
         "noise must contain only finite"),
    ],
)
def test_simulation_rejects_invalid_input(changes, error, pattern):
    arguments = valid_call()
    arguments.update(changes)
    initial_positions = arguments.pop("initial_positions")
    parameters = arguments.pop("parameters")

    with pytest.raises(error, match=pattern):
        simulate_particles(initial_positions, parameters, **arguments)


def test_dimension_two_needs_coordinate_axis():
    arguments = valid_call()
    parameters = ModelParameters(diffusion=[1.0, 2.0], interaction=np.ones((2, 2)), radius=1.0,
                                 dimension=2)

    # 1D positions of shape (runs, species, particles) lack the coordinate axis.
    with pytest.raises(ValueError, match="initial_positions"):
        simulate_particles(arguments["initial_positions"], parameters, time_step=0.1,
                           final_time=1.0, progress=False)


@pytest.mark.parametrize(
    ("means", "variances", "runs", "error", "pattern"),
    [
        ([0.0, 1.0], [1.0], 2, ValueError, "means and variances must have equal lengths"),
        ([0.0], [0.0], 2, ValueError, "variances must be > 0"),
        ([float("nan")], [1.0], 2, ValueError, "means must contain only finite"),
        ([0.0], [1.0], 0, ValueError, "runs must be an integer >= 1"),
        ([0.0], [1.0], 2.0, TypeError, "runs must be an integer >= 1"),
    ],
)
def test_initial_rejects_invalid_input(means, variances, runs, error, pattern):
    with pytest.raises(error, match=pattern):
        sample_gaussian_initial(means, variances, runs=runs, particles=5, seed=0)


@pytest.mark.parametrize("seed", [1.5, "1", -1, True])
def test_invalid_seed_names_argument(seed):
    with pytest.raises((TypeError, ValueError), match="seed"):
        sample_gaussian_initial([0.0], [1.0], runs=1, particles=2, seed=seed)


def test_stable_potential_step_does_not_warn():
    # c h = 1.5 < 2: the factor |1 - c h| = 0.5 contracts, so no warning.
    parameters = ModelParameters(diffusion=[1.0], interaction=[[0.0]], radius=1.0,
                                 potential=150.0)
    simulate_particles(np.zeros((1, 1, 3)), parameters, time_step=0.01, final_time=0.02,
                       seed=1, progress=False)


def test_run_size_limits():
    parameters = ModelParameters(diffusion=[1.0], interaction=[[0.0]], radius=1.0)
    with pytest.raises(ValueError, match="steps"):
        simulate_particles(np.zeros((1, 1, 3)), parameters, time_step=1e-300, final_time=1.0)
    with pytest.raises(ValueError, match="memory"):
        check_run_size(runs=10**12, n_species=1, particles=10**6, outputs=1, dimension=1,
                       steps_estimate=10)
