"""Convergence studies of the coupled systems (5), (6) and (8)."""

import math
from dataclasses import replace

import numpy as np
import pytest

from skt_lib import ModelParameters
from skt_lib.convergence import PowerLawFit
from skt_lib.studies_particles import (
    DISTANCES,
    CoupledSetting,
    bin_probabilities,
    compare_time_steps,
    fit_power_law_two_variables,
    histogram_l1_distance,
    load_coupled_study,
    marginal_sample,
    particle_count_points,
    plot_power_law,
    power_cutoff_nonlinearity,
    rate_sentence,
    run_coupled_study,
    sample_from_density,
    sampling_floor,
    scaling_points,
    scaling_relation_log10_particles,
    theory_parameters,
    theory_setting,
)

TINY_SETTING = CoupledSetting(means=(-0.5, 0.5), variances=(0.25, 0.25), final_time=0.1,
                              time_step=0.02, domain=(-8.0, 8.0), cells=256,
                              histogram_range=(-4.0, 4.0), histogram_bins=32)


def test_theory_parameters_linear():
    parameters = theory_parameters(0.4)
    assert parameters.radius == 0.4
    assert parameters.potential == -1.0
    assert parameters.nonlinearity.to_config() == "linear"
    with pytest.raises(ValueError, match="alpha must be 0"):
        theory_parameters(0.4, alpha=0.5)
    with pytest.raises(ValueError, match="nonlinearity"):
        theory_parameters(0.4, nonlinearity="cubic")


def test_square_cutoff_slope_is_radius_power():
    for radius in (1.0, 0.5, 0.1):
        parameters = theory_parameters(radius, nonlinearity="square", alpha=0.5)
        function = parameters.nonlinearity
        # f(s) = s^2 has slope 2 s, so the cut-off sits where 2 s = eta^-alpha.
        assert function.threshold == pytest.approx(radius**-0.5 / 2)
        assert function.lipschitz_constant(radius) == pytest.approx(radius**-0.5)
    with pytest.raises(ValueError, match="power must be > 1"):
        power_cutoff_nonlinearity(0.5, alpha=0.5, power=1.0)


def test_particle_count_points_halving():
    assert particle_count_points(0.4, 16, 5) == [(0.4, 2), (0.4, 4), (0.4, 8), (0.4, 16)]
    assert particle_count_points(0.4, 2000, 3) == [(0.4, 500), (0.4, 1000), (0.4, 2000)]
    with pytest.raises(ValueError, match="largest must be >= minimum"):
        particle_count_points(0.4, 1, 3)
    with pytest.raises(ValueError, match="radius"):
        particle_count_points(-0.4, 16, 3)


def test_scaling_points_share_largest_radius():
    points, curves = scaling_points([1.0, 0.5], 100, [0, 2])
    # N_0 = 100 (0.5 / 1)^2 = 25 at eta = 1; k = 2 reaches 100 at eta = 0.5.
    assert points == [(1.0, 25), (0.5, 25), (0.5, 100)]
    assert curves == {0.0: [0, 1], 2.0: [0, 2]}
    points, _ = scaling_points([1.0, 0.1], 100, [3], minimum=5)
    assert points == [(1.0, 5), (0.1, 100)]
    with pytest.raises(ValueError, match="exponents"):
        scaling_points([1.0], 100, [-1])
    with pytest.raises(ValueError, match="radii"):
        scaling_points([], 100, [1])


def test_scaling_relation_known_value():
    # eta^-4 <= delta log N with eta = 0.5, delta = 1 gives log N >= 16.
    assert scaling_relation_log10_particles(0.5, 1.0) == pytest.approx(16 / math.log(10))
    # d = 2 and alpha = 0.5 give the exponent 2 (2 + 1 + 0.5) = 7.
    assert scaling_relation_log10_particles(0.5, 0.1, dimension=2, alpha=0.5) == pytest.approx(
        2**7 / (0.1 * math.log(10)))
    with pytest.raises(ValueError, match="delta"):
        scaling_relation_log10_particles(0.5, 0.0)


def test_bin_probabilities_exact_cases():
    x = np.linspace(0.0, 1.0, 11)
    probabilities, outside = bin_probabilities(x, np.ones_like(x), [0.0, 0.25, 0.5, 1.0, 2.0])
    np.testing.assert_allclose(probabilities, [0.25, 0.25, 0.5, 0.0], atol=1e-14)
    assert outside == pytest.approx(0.0, abs=1e-14)
    # The density 2x has the distribution function x^2.
    probabilities, outside = bin_probabilities(x, 2 * x, [0.0, 0.5, 0.75])
    np.testing.assert_allclose(probabilities, [0.25, 0.75**2 - 0.25], atol=1e-14)
    assert outside == pytest.approx(1 - 0.75**2, abs=1e-14)
    with pytest.raises(ValueError, match="edges"):
        bin_probabilities(x, np.ones_like(x), [1.0, 0.0])


def test_sample_from_density_moments():
    x = np.linspace(-8.0, 8.0, 2001)
    density = np.exp(-((x - 0.5) ** 2) / 2)
    sample = sample_from_density(x, density, 200_000, np.random.default_rng(1))
    # Standard errors: 1 / sqrt(2e5) = 2.2e-3 for the mean, 3.2e-3 for the variance.
    assert sample.mean() == pytest.approx(0.5, abs=0.01)
    assert sample.var() == pytest.approx(1.0, abs=0.015)
    with pytest.raises(ValueError, match="density"):
        sample_from_density(x, -density, 10, np.random.default_rng(1))


def test_histogram_l1_distance_extremes():
    edges = np.array([0.0, 1.0, 2.0])
    assert histogram_l1_distance([0.5, 1.5], edges, np.array([0.5, 0.5]), 0.0) == 0.0
    # All sample mass outside the bins, all density mass inside: distance 2.
    assert histogram_l1_distance([5.0, 6.0], edges, np.array([0.5, 0.5]), 0.0) == 2.0
    with pytest.raises(ValueError, match="empty"):
        histogram_l1_distance([], edges, np.array([0.5, 0.5]), 0.0)


def test_sampling_floor_shrinks_with_size():
    x = np.linspace(-8.0, 8.0, 1601)
    density = np.exp(-(x**2) / 2)
    edges = np.linspace(-4.0, 4.0, 33)
    small = sampling_floor(x, density, 1000, repeats=6, seed=1, edges=edges)
    large = sampling_floor(x, density, 16000, repeats=6, seed=1, edges=edges)
    # W2 of a sample of size n is about n^-1/2 up to a log factor: 0.03-0.06 for n = 1000.
    assert 0.01 < small.w2_mean < 0.1
    assert large.w2_mean < 0.5 * small.w2_mean
    assert 1.1 * small.w2_mean < small.w2_two_samples < 2.0 * small.w2_mean
    assert large.l1_mean < small.l1_mean
    assert small.size == 1000
    assert small.repeats == 6
    no_bins = sampling_floor(x, density, 100, repeats=2, seed=1)
    assert math.isnan(no_bins.l1_mean)


def test_marginal_sample_pooling():
    final = np.arange(2 * 3 * 4, dtype=float).reshape(2, 3, 4)
    np.testing.assert_array_equal(marginal_sample(final, 1), [4, 5, 6, 7, 16, 17, 18, 19])
    np.testing.assert_array_equal(marginal_sample(final, 1, pooling="particle", particle=2),
                                  [6, 18])
    with pytest.raises(ValueError, match="species"):
        marginal_sample(final, 3)
    with pytest.raises(ValueError, match="particle"):
        marginal_sample(final, 0, pooling="particle", particle=4)
    with pytest.raises(ValueError, match="pooling"):
        marginal_sample(final, 0, pooling="all")


def test_two_variable_fit_recovers_rates():
    first = np.array([100.0, 200.0, 400.0, 100.0, 400.0])
    second = np.array([1.0, 0.5, 0.25, 0.25, 1.0])
    fit = fit_power_law_two_variables(first, second, 3.0 * first**-1.0 * second**-1.5)
    assert fit.rates[0] == pytest.approx(-1.0, abs=1e-12)
    assert fit.rates[1] == pytest.approx(-1.5, abs=1e-12)
    assert fit.prefactor == pytest.approx(3.0, rel=1e-10)
    assert fit.rate_std_errors[0] < 1e-10
    with pytest.raises(ValueError, match="collinear"):
        fit_power_law_two_variables([1.0, 2.0, 4.0], [1.0, 2.0, 4.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="at least 3"):
        fit_power_law_two_variables([1.0, 2.0], [1.0, 3.0], [1.0, 1.0])


def test_rate_sentence_verdicts():
    assert "agrees with" in rate_sentence(PowerLawFit(-0.98, 0.02, 1.0), -1.0, quantity="E")
    assert "differs from" in rate_sentence(PowerLawFit(-0.5, 0.02, 1.0), -1.0, quantity="E")
    assert "without a standard error" in rate_sentence(PowerLawFit(-0.5, float("nan"), 1.0),
                                                       -1.0, quantity="E")
    with pytest.raises(TypeError, match="PowerLawFit"):
        rate_sentence(-1.0, -1.0, quantity="E")


def test_rate_clause_distance():
    from skt_lib.studies_particles import rate_clause

    clause = rate_clause(PowerLawFit(3.88, 0.04, 1.0), 4.0)
    assert clause == "differs from 4.00 (3.0 standard errors apart)"
    assert rate_clause(PowerLawFit(3.88, 0.04, 1.0), 4.0, tolerance_std_errors=3.5).startswith(
        "agrees with")


def test_setting_validation():
    with pytest.raises(ValueError, match="equal, nonzero lengths"):
        CoupledSetting(means=(0.0,), variances=(1.0, 1.0), final_time=1.0, time_step=0.1,
                       domain=(-5, 5), cells=64)
    with pytest.raises(ValueError, match="domain"):
        CoupledSetting(means=(0.0,), variances=(1.0,), final_time=1.0, time_step=0.1,
                       domain=(5, -5), cells=64)
    assert theory_setting().with_time_step(0.005).time_step == 0.005


def test_coupled_study_shapes_and_cache(tmp_path):
    points = [(0.5, 20), (0.5, 40)]
    study = run_coupled_study(points, theory_parameters, TINY_SETTING, runs=2, seed=3,
                              cache_dir=tmp_path)

    assert study.record["cached"] is False
    assert study.config["particles"] == 40
    assert study.config["runs"] == 2
    assert study.config["seed"] == 3
    np.testing.assert_array_equal(study.particle_counts, [20, 40])
    np.testing.assert_array_equal(study.sample_sizes(), [40, 80])
    assert study.arrays["w2.particle.local"].shape == (2, 2)
    assert study.arrays["histogram_counts"].shape == (2, 3, 2, 32)
    assert study.arrays["density.nonlocal"].shape == (2, 2, 256)

    # Every final position lies in a bin or outside them.
    totals = study.arrays["histogram_counts"].sum(axis=3) + study.arrays["histogram_outside"]
    np.testing.assert_array_equal(totals, np.broadcast_to([[[40.0]], [[80.0]]], (2, 3, 2)))
    for distance in DISTANCES:
        value, error = study.error(distance)
        np.testing.assert_allclose(value, 2 * study.arrays[f"{distance}.mean"])
        assert np.all(value > 0)
        assert np.all(error >= 0)

    cached = run_coupled_study(points, theory_parameters, TINY_SETTING, runs=2, seed=3,
                               cache_dir=tmp_path)
    assert cached.record["cached"] is True
    assert set(cached.arrays) == set(study.arrays)
    for key, value in study.arrays.items():
        np.testing.assert_array_equal(cached.arrays[key], value)

    stored = sorted(tmp_path.glob("coupled-study-*.npz"))
    assert len(stored) == 1
    assert load_coupled_study(stored[0]).config == study.config

    second = study.subset([1])
    np.testing.assert_array_equal(second.particle_counts, [40])
    np.testing.assert_array_equal(second.arrays["x"], study.arrays["x"])


def test_coupled_study_without_interaction_has_zero_errors():
    def free(radius):
        return ModelParameters(diffusion=[0.5, 0.75], interaction=np.zeros((2, 2)),
                               radius=radius, potential=-1.0)

    study = run_coupled_study([(0.5, 10)], free, TINY_SETTING, runs=2, seed=1)
    for distance in DISTANCES:
        value, _ = study.error(distance)
        assert value[0] == 0.0
    # With identical paths all three samples have the same distance to a density.
    np.testing.assert_array_equal(study.arrays["w2.particle.local"],
                                  study.arrays["w2.macroscopic.local"])


def test_coupled_study_rejects_bad_input():
    with pytest.raises(ValueError, match="runs must be >= 2"):
        run_coupled_study([(0.5, 10)], theory_parameters, TINY_SETTING, runs=1, seed=1)
    with pytest.raises(TypeError, match="seed"):
        run_coupled_study([(0.5, 10)], theory_parameters, TINY_SETTING, runs=2, seed=None)
    with pytest.raises(ValueError, match="must not be empty"):
        run_coupled_study([], theory_parameters, TINY_SETTING, runs=2, seed=1)
    with pytest.raises(ValueError, match="pair"):
        run_coupled_study([0.5], theory_parameters, TINY_SETTING, runs=2, seed=1)
    with pytest.raises(ValueError, match="must set the radius"):
        run_coupled_study([(0.5, 10)], lambda radius: theory_parameters(1.0), TINY_SETTING,
                          runs=2, seed=1)
    with pytest.raises(TypeError, match="CoupledSetting"):
        run_coupled_study([(0.5, 10)], theory_parameters, {"final_time": 1.0}, runs=2, seed=1)


def test_compare_time_steps_difference():
    study = run_coupled_study([(0.5, 10)], theory_parameters, TINY_SETTING, runs=2, seed=1)
    comparison = compare_time_steps(study, study, "particle-intermediate")
    assert comparison.difference == 0.0
    assert comparison.relative_difference == 0.0
    value, error = study.error("particle-intermediate")
    assert comparison.std_error == pytest.approx(math.sqrt(2) * error[0])


def test_plot_power_law_draws_fit():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots()
    x = np.array([100.0, 200.0, 400.0])
    fit = PowerLawFit(-1.0, 0.05, 1.0)
    plot_power_law(axis, x, 1 / x, 0.1 / x, fit, label="data")
    labels = [line.get_label() for line in axis.get_lines()]
    assert "fit: slope -1.00 ± 0.05" in labels
    assert [tick.get_text() for tick in axis.get_xticklabels()] == ["100", "200", "400"]
    assert axis.get_xscale() == "log"
    plt.close(figure)


@pytest.mark.slow
def test_lemma9_rate_near_minus_one():
    # At a fixed radius the Lemma 9 error decays like 1/N; measured -0.98 with
    # N = 100..400, 8 runs and T = 0.5.
    points = particle_count_points(0.4, 400, 3)
    study = run_coupled_study(points, theory_parameters, theory_setting(), runs=8, seed=1)
    fit = study.fit("particle-intermediate", against="particles")
    assert abs(fit.rate + 1.0) < 0.15


def test_free_motion_bias_exact_without_potential():
    from skt_lib.studies_particles import free_motion_bias

    # Without a potential the Euler-Maruyama chain of dX = sqrt(2 sigma) dW is
    # exact in law, so only the finite-volume error remains.
    setting = CoupledSetting(means=(0.0,), variances=(0.25,), final_time=0.5, time_step=0.05,
                             domain=(-8.0, 8.0), cells=512)
    bias = free_motion_bias(setting, [0.5], potential=0.0)
    assert bias.euler_maruyama[0] == pytest.approx(0.0, abs=1e-14)
    assert bias.finite_volume[0] < 2e-3
    with pytest.raises(ValueError, match="diffusion"):
        free_motion_bias(setting, [0.5, 0.7])


def test_free_motion_bias_first_order_in_step():
    from skt_lib.studies_particles import free_motion_bias

    setting = CoupledSetting(means=(-0.5,), variances=(0.25,), final_time=0.5, time_step=0.02,
                             domain=(-10.0, 10.0), cells=256)
    coarse = free_motion_bias(setting, [0.5])
    fine = free_motion_bias(setting.with_time_step(0.01), [0.5])
    # Euler-Maruyama has weak order 1 for this linear SDE: halving h halves the bias.
    assert fine.euler_maruyama[0] / coarse.euler_maruyama[0] == pytest.approx(0.5, abs=0.03)
    # The upwind transport is first order in dx: 4x more cells, about 4x less bias.
    finer_grid = free_motion_bias(replace(setting, cells=1024), [0.5])
    assert finer_grid.finite_volume[0] < 0.4 * coarse.finite_volume[0]


def test_largest_nonlinearity_argument_bounded_by_peak():
    from skt_lib.studies_particles import largest_nonlinearity_argument

    parameters = theory_parameters(0.5)
    largest = largest_nonlinearity_argument(parameters, TINY_SETTING, samples=3)
    # B_ij^eta * u_j <= a_ij max u_j, and the initial Gaussians peak at
    # 1 / sqrt(2 pi 0.25) = 0.798; the largest a_ij is 0.4.
    peak = 1 / math.sqrt(2 * math.pi * 0.25)
    assert 0.5 * 0.4 * peak < largest <= 0.4 * peak
    with pytest.raises(ValueError, match="samples"):
        largest_nonlinearity_argument(parameters, TINY_SETTING, samples=1)
