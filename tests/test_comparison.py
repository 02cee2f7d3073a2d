"""Tests of skt_lib.comparison: PDEs beside the particle histograms of Section 7."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
from scipy import stats

from skt_lib import (
    ModelParameters,
    ParticleSimulation,
    PDESolution,
    cell_centers,
    gaussian_density,
)
from skt_lib.comparison import (
    CLUSTER_MIN_RELATIVE_HEIGHT,
    COMPANION_PDES,
    DEFAULT_DOMAIN,
    HistogramDistance,
    bin_averages,
    cluster_rows,
    binned_l1_distance,
    binomial_mean_absolute_deviation,
    density_maxima,
    distance_rows,
    experiment_initial_density,
    experiment_parameters,
    histogram_l1_distance,
    histogram_noise_floor,
    largest_floor_ratio,
    meanfield_determinant,
    negative_intervals,
    pde_density_maxima,
    pde_l1_distance,
    plot_pde_overlay,
    simulation_distance_rows,
    solve_experiment_pdes,
    summarize_distances,
)
from skt_lib.density import DensityEstimate, histogram_density
from skt_lib.experiments import PAPER_EXPERIMENTS

COARSE_CELLS = 256


def gaussian_solution(means, *, domain=(-20.0, 20.0), cells=800, times=(1.0,), variance=2.0):
    """Return a PDESolution whose species are Gaussians with ``means``, at every time."""
    x = cell_centers(domain, cells)
    density = np.array([gaussian_density(x, mean, variance) for mean in means])
    stacked = np.repeat(density[None], len(times), axis=0)
    parameters = ModelParameters(diffusion=[1.0] * len(means),
                                 interaction=np.zeros((len(means), len(means))), radius=1.0)
    return PDESolution(x=x, times=np.array(times, dtype=float), density=stacked, system="skt",
                       equation="local", boundary="no-flux", domain=domain,
                       parameters=parameters)


def estimate_from_pde(solution, time_value, edges):
    """Return a DensityEstimate whose bins contain the PDE's own bin averages."""
    averages, outside = bin_averages(solution.at(time_value), solution.domain, edges)
    counts = averages * np.diff(edges) * 1000
    return DensityEstimate(np.asarray(edges, dtype=float), averages, counts, outside, 1000)


# --- bin averages -------------------------------------------------------------------


def test_bin_averages_piecewise_constant_exact():
    domain = (0.0, 4.0)
    density = np.array([[1.0, 2.0, 3.0, 4.0]])
    averages, outside = bin_averages(density, domain, [0.5, 1.5, 3.0])
    assert averages[0, 0] == pytest.approx(1.5, abs=1e-14)
    assert averages[0, 1] == pytest.approx((2.0 * 0.5 + 3.0 * 1.0) / 1.5, abs=1e-14)
    assert outside[0] == pytest.approx(0.5 * 1.0 + 1.0 * 4.0, abs=1e-14)


def test_bin_averages_conserve_mass():
    solution = gaussian_solution([-1.0, 3.0])
    edges = np.linspace(-5.0, 5.0, 37)
    averages, outside = bin_averages(solution.at(1.0), solution.domain, edges)
    inside = averages @ np.diff(edges)
    np.testing.assert_allclose(inside + outside, solution.mass()[0], rtol=0, atol=1e-13)
    assert np.all(outside > 1e-3)


def test_bin_averages_aligned_bins_sum_cells():
    solution = gaussian_solution([0.0], cells=800)
    edges = np.linspace(-20.0, 20.0, 201)  # four cells per bin
    averages, outside = bin_averages(solution.at(1.0), solution.domain, edges)
    expected = solution.at(1.0)[0].reshape(200, 4).mean(axis=1)
    np.testing.assert_allclose(averages[0], expected, rtol=1e-12, atol=1e-15)
    assert outside[0] == pytest.approx(0.0, abs=1e-14)


@pytest.mark.parametrize(
    ("edges", "message"),
    [
        ([-30.0, 0.0, 10.0], "inside the domain"),
        ([0.0, 0.0, 1.0], "increasing"),
        ([1.0], "increasing"),
    ],
)
def test_bin_averages_invalid_edges(edges, message):
    solution = gaussian_solution([0.0])
    with pytest.raises(ValueError, match=message):
        bin_averages(solution.at(1.0), solution.domain, edges)


# --- L1 distance ------------------------------------------------------------------


def test_l1_distance_zero_for_own_bin_averages():
    solution = gaussian_solution([-2.0, 1.0, 4.0])
    estimate = estimate_from_pde(solution, 1.0, np.linspace(-6.0, 6.0, 49))
    distance = histogram_l1_distance(estimate, solution, 1.0)
    assert isinstance(distance, HistogramDistance)
    assert distance.window.shape == (3,)
    np.testing.assert_allclose(distance.window, 0.0, atol=1e-14)
    np.testing.assert_allclose(distance.total, 0.0, atol=1e-14)
    assert np.all(distance.pde_outside > 0)


def test_l1_distance_symmetric():
    first = gaussian_solution([-1.0, 2.0])
    second = gaussian_solution([0.5, 1.5])
    edges = np.linspace(-8.0, 8.0, 65)
    a, a_out = bin_averages(first.at(1.0), first.domain, edges)
    b, b_out = bin_averages(second.at(1.0), second.domain, edges)
    forward = binned_l1_distance(a, a_out, b, b_out, edges)
    backward = binned_l1_distance(b, b_out, a, a_out, edges)
    np.testing.assert_allclose(forward.total, backward.total, rtol=0, atol=1e-15)
    estimate_first = estimate_from_pde(first, 1.0, edges)
    estimate_second = estimate_from_pde(second, 1.0, edges)
    np.testing.assert_allclose(histogram_l1_distance(estimate_first, second, 1.0).total,
                               histogram_l1_distance(estimate_second, first, 1.0).total,
                               rtol=0, atol=1e-14)


def test_l1_distance_positive_and_bounded():
    near = gaussian_solution([0.0])
    far = gaussian_solution([0.3])
    disjoint = gaussian_solution([15.0])
    estimate = estimate_from_pde(near, 1.0, np.linspace(-10.0, 10.0, 81))
    small = histogram_l1_distance(estimate, far, 1.0).total[0]
    large = histogram_l1_distance(estimate, disjoint, 1.0).total[0]
    assert small > 0
    assert small < large
    assert large <= 2.0 + 1e-12
    assert large > 1.99


def test_l1_distance_counts_mass_outside_window():
    solution = gaussian_solution([0.0])
    edges = np.linspace(-1.0, 1.0, 9)
    estimate = estimate_from_pde(solution, 1.0, edges)
    shifted = DensityEstimate(estimate.edges, estimate.density, estimate.counts,
                              estimate.outside_fraction + 0.1, estimate.total)
    distance = histogram_l1_distance(shifted, solution, 1.0)
    assert distance.window[0] == pytest.approx(0.0, abs=1e-14)
    assert distance.total[0] == pytest.approx(0.1, abs=1e-12)


def test_l1_distance_invalid_inputs():
    solution = gaussian_solution([0.0, 1.0])
    estimate = estimate_from_pde(gaussian_solution([0.0]), 1.0, np.linspace(-5, 5, 11))
    with pytest.raises(ValueError, match="species"):
        histogram_l1_distance(estimate, solution, 1.0)
    with pytest.raises(TypeError, match="DensityEstimate"):
        histogram_l1_distance(np.zeros((2, 10)), solution, 1.0)
    with pytest.raises(TypeError, match="PDESolution"):
        histogram_l1_distance(estimate, np.zeros((1, 10)), 1.0)
    two = estimate_from_pde(solution, 1.0, np.linspace(-5, 5, 11))
    with pytest.raises(ValueError, match="not an output time"):
        histogram_l1_distance(two, solution, 2.0)
    with pytest.raises(ValueError, match="shape"):
        binned_l1_distance(np.zeros((1, 3)), [0.0], np.zeros((1, 4)), [0.0], [0, 1, 2, 3])
    with pytest.raises(ValueError, match="one value per species"):
        binned_l1_distance(np.zeros((1, 3)), [0.0, 0.0], np.zeros((1, 3)), [0.0],
                           [0, 1, 2, 3])


def test_pde_l1_distance():
    first = gaussian_solution([0.0, 1.0])
    second = gaussian_solution([0.0, 1.5])
    np.testing.assert_allclose(pde_l1_distance(first, first, 1.0), 0.0)
    distance = pde_l1_distance(first, second, 1.0)
    assert distance.shape == (2,)
    assert distance[0] == pytest.approx(0.0, abs=1e-15)
    assert distance[1] > 0.1
    with pytest.raises(ValueError, match="share their grid"):
        pde_l1_distance(first, gaussian_solution([0.0, 1.0], cells=400), 1.0)
    with pytest.raises(ValueError, match="number of species"):
        pde_l1_distance(first, gaussian_solution([0.0]), 1.0)


# --- noise floor --------------------------------------------------------------------


@pytest.mark.parametrize("probability", [0.0, 0.003, 0.2, 0.5, 0.97, 1.0])
def test_binomial_mean_absolute_deviation_exact(probability):
    trials = 37
    outcomes = np.arange(trials + 1)
    weights = stats.binom.pmf(outcomes, trials, probability)
    expected = np.sum(weights * np.abs(outcomes - trials * probability))
    value = binomial_mean_absolute_deviation(probability, trials)
    assert value == pytest.approx(expected, abs=1e-12)


def test_binomial_mean_absolute_deviation_invalid():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        binomial_mean_absolute_deviation(1.5, 10)
    with pytest.raises(ValueError, match="trials"):
        binomial_mean_absolute_deviation(0.5, 0)


def test_noise_floor_matches_sampling():
    solution = gaussian_solution([0.0], cells=4000, variance=1.0)
    samples = 2000
    rng = np.random.default_rng(7)
    distances = []
    for _ in range(300):
        positions = rng.normal(0.0, 1.0, size=(1, 1, samples))
        estimate = histogram_density(positions, lower=-3.0, upper=3.0, bins=30)
        distances.append(histogram_l1_distance(estimate, solution, 1.0).total[0])
    floor = histogram_noise_floor(estimate, solution, 1.0)
    assert floor.shape == (1,)
    standard_error = np.std(distances) / math.sqrt(len(distances))
    assert abs(np.mean(distances) - floor[0]) < 4 * standard_error + 1e-3


# --- maxima -------------------------------------------------------------------------


def test_density_maxima_two_peaks():
    x = np.linspace(-20.0, 20.0, 801)
    density = 0.6 * gaussian_density(x, -6.73, 3.0) + 0.4 * gaussian_density(x, 8.81, 3.0)
    maxima = density_maxima(x, density)
    assert maxima.shape == (2,)
    assert maxima[0] == pytest.approx(-6.73, abs=2e-3)
    assert maxima[1] == pytest.approx(8.81, abs=2e-3)


def test_density_maxima_drops_low_peaks():
    x = np.linspace(-20.0, 20.0, 801)
    density = gaussian_density(x, -5.0, 1.0) + 0.1 * gaussian_density(x, 5.0, 1.0)
    assert density_maxima(x, density, min_relative_height=0.2).size == 1
    assert density_maxima(x, density, min_relative_height=0.05).size == 2


@pytest.mark.parametrize(("factor", "count"), [(0.9, 1), (1.1, 2)])
def test_density_maxima_default_cut_off(factor, count):
    # The peaks lie 10 standard deviations apart, so the second one has the
    # relative height factor * CLUSTER_MIN_RELATIVE_HEIGHT.
    x = np.linspace(-20.0, 20.0, 801)
    low = factor * CLUSTER_MIN_RELATIVE_HEIGHT
    density = gaussian_density(x, -5.0, 1.0) + low * gaussian_density(x, 5.0, 1.0)
    assert density_maxima(x, density).size == count


def test_density_maxima_invalid():
    with pytest.raises(ValueError, match="same shape"):
        density_maxima([0.0, 1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="min_relative_height"):
        density_maxima([0.0, 1.0, 2.0], [1.0, 2.0, 1.0], min_relative_height=1.0)
    with pytest.raises(ValueError, match="species"):
        pde_density_maxima(gaussian_solution([0.0]), 1.0, 1)


# --- PDE solves of the experiments --------------------------------------------------


def test_experiment_setup_matches_paper_experiments():
    parameters = experiment_parameters("three-species", radius=1.5, normalization="literal")
    assert parameters.radius == 1.5
    assert parameters.normalization == "literal"
    np.testing.assert_array_equal(parameters.interaction,
                                  PAPER_EXPERIMENTS["three-species"]["interaction"])
    x = cell_centers(DEFAULT_DOMAIN, 1000)
    initial = experiment_initial_density("three-species", x)
    assert initial.shape == (3, 1000)
    np.testing.assert_allclose(initial.sum(axis=1) * (x[1] - x[0]), 1.0, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(PAPER_EXPERIMENTS))
def test_solve_experiment_pdes_coarse(name):
    # pytest turns warnings into errors, so the boundary warning of the
    # solver would fail this test if the default domain were too narrow.
    solutions = solve_experiment_pdes(name, cells=COARSE_CELLS, progress=False)
    setting = PAPER_EXPERIMENTS[name]
    n_species = len(setting["diffusion"])
    assert set(solutions) == set(COMPANION_PDES)
    for model, companions in COMPANION_PDES.items():
        assert list(solutions[model]) == [label for label, _, _ in companions]
        for (_, system, equation), solution in zip(companions, solutions[model].values(),
                                                   strict=True):
            assert solution.system == system
            assert solution.equation == equation
            assert solution.density.shape == (len(setting["output_times"]), n_species,
                                              COARSE_CELLS)
            np.testing.assert_allclose(solution.times, setting["output_times"])
            np.testing.assert_allclose(solution.mass(), 1.0, rtol=1e-10)
            assert solution.density.min() >= 0


def test_local_skt_clusters_of_figure1():
    solutions = solve_experiment_pdes("nonsymmetric", cells=1024, progress=False)
    local = solutions["skt"]["local (1)"]
    first = pde_density_maxima(local, 2.0, 0)
    second = pde_density_maxima(local, 2.0, 1)
    assert first.shape == (2,)
    assert second.shape == (1,)
    assert first[0] == pytest.approx(-6.7, abs=0.15)
    assert first[1] == pytest.approx(8.8, abs=0.15)
    assert second[0] == pytest.approx(1.1, abs=0.15)


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"name": "figure 1", "cells": 64}, ValueError, "name must be one of"),
        ({"name": "symmetric", "cells": 0}, ValueError, "cells"),
        ({"name": "symmetric", "cells": 2}, ValueError, "cells must be >= 3"),
        ({"name": "symmetric", "cells": 64.0}, TypeError, "cells"),
        ({"name": "symmetric", "cells": 64, "domain": (5.0, -5.0)}, ValueError, "a < b"),
        ({"name": "symmetric", "cells": 64, "radius": -1.0}, ValueError, "radius"),
    ],
)
def test_solve_experiment_pdes_invalid(options, error, message):
    options = dict(options)
    name = options.pop("name")
    with pytest.raises(error, match=message):
        solve_experiment_pdes(name, progress=False, **options)


# --- mean-field determinant ---------------------------------------------------------


def test_meanfield_determinant_two_species():
    parameters = experiment_parameters("nonsymmetric")
    x = cell_centers(DEFAULT_DOMAIN, 2000)
    density = experiment_initial_density("nonsymmetric", x)
    determinant = meanfield_determinant(density, parameters)
    expected = 1.0 * 2.0 - 355.0 * 25.0 * density[0] * density[1]
    np.testing.assert_allclose(determinant, expected, rtol=1e-10, atol=1e-10)


def test_meanfield_negative_interval_of_figure1():
    # u_1 u_2 = exp(-(x^2 + 1) / 2) / (4 pi) for the Gaussians of Figure 1,
    # so det < 0 exactly for x^2 < 2 log(a_12 a_21 / (4 pi sigma_1 sigma_2)) - 1.
    half_width = math.sqrt(2.0 * math.log(355.0 * 25.0 / (4.0 * math.pi * 2.0)) - 1.0)
    parameters = experiment_parameters("nonsymmetric")
    x = cell_centers(DEFAULT_DOMAIN, 4000)
    density = experiment_initial_density("nonsymmetric", x)
    intervals = negative_intervals(x, meanfield_determinant(density, parameters))
    assert len(intervals) == 1
    assert intervals[0][0] == pytest.approx(-half_width, abs=1e-3)
    assert intervals[0][1] == pytest.approx(half_width, abs=1e-3)
    assert half_width == pytest.approx(3.276, abs=1e-3)


def test_negative_intervals_cases():
    x = np.arange(6.0)
    assert negative_intervals(x, [1, 1, 1, 1, 1, 1]) == []
    assert negative_intervals(x, [1, -1, 1, 1, -1, 1]) == [(0.5, 1.5), (3.5, 4.5)]
    assert negative_intervals(x, [-1, -1, 1, 1, 1, -3]) == [(0.0, 1.5), (4.25, 5.0)]
    with pytest.raises(ValueError, match="increasing"):
        negative_intervals([0.0, 0.0], [1.0, 1.0])


def test_meanfield_determinant_invalid():
    parameters = experiment_parameters("nonsymmetric")
    with pytest.raises(ValueError, match="species"):
        meanfield_determinant(np.ones((3, 5)), parameters)
    with pytest.raises(ValueError, match=">= 0"):
        meanfield_determinant(-np.ones((2, 5)), parameters)
    with pytest.raises(TypeError, match="ModelParameters"):
        meanfield_determinant(np.ones((2, 5)), {"diffusion": [1, 2]})


# --- figure and table -------------------------------------------------------------


def overlay_inputs():
    solutions = {"skt": {"nonlocal (7)": gaussian_solution([0.0, 1.0], times=(0.5, 1.0)),
                         "local (1)": gaussian_solution([0.2, 1.2], times=(0.5, 1.0))},
                 "drift": {"nonlocal mean-field": gaussian_solution([0.0, 1.0],
                                                                    times=(0.5, 1.0))}}
    edges = np.linspace(-8.0, 8.0, 33)
    estimates = {model: {t: estimate_from_pde(solutions[model][next(iter(solutions[model]))],
                                              t, edges)
                         for t in (0.5, 1.0)}
                 for model in solutions}
    return estimates, solutions


def test_plot_pde_overlay_layout():
    estimates, solutions = overlay_inputs()
    figure = plot_pde_overlay(estimates, solutions, times=[0.5, 1.0], xlim=(-6.0, 6.0))
    try:
        axes = figure.get_axes()
        assert len(axes) == 4
        skt_labels = [text.get_text() for text in axes[0].get_legend().get_texts()]
        drift_labels = [text.get_text() for text in axes[1].get_legend().get_texts()]
        assert "nonlocal (7)" in skt_labels
        assert "local (1)" in skt_labels
        assert "nonlocal mean-field" in drift_labels
        assert axes[0].get_xlim() == (-6.0, 6.0)
    finally:
        plt.close(figure)


def test_plot_pde_overlay_invalid():
    estimates, solutions = overlay_inputs()
    with pytest.raises(ValueError, match="model 'particles'"):
        plot_pde_overlay(estimates, solutions, times=[1.0], models=["particles"])
    with pytest.raises(ValueError, match="non-empty"):
        plot_pde_overlay(estimates, solutions, times=[])
    renamed = {"skt": {"heat equation": solutions["skt"]["local (1)"]}}
    with pytest.raises(ValueError, match="PDE label"):
        plot_pde_overlay(estimates, renamed, times=[1.0], models=["skt"])


def test_distance_rows_table():
    estimates, solutions = overlay_inputs()
    rows = distance_rows(estimates, solutions, times=[0.5, 1.0])
    assert len(rows) == 6
    assert list(rows[0]) == ["particles", "t", "PDE", "L1 (species 1)", "L1 (species 2)",
                             "noise floor (species 1)", "noise floor (species 2)"]
    by_label = {(row["PDE"], row["t"]): row for row in rows}
    assert by_label[("nonlocal (7)", 1.0)]["L1 (species 1)"] == pytest.approx(0.0, abs=1e-14)
    assert by_label[("local (1)", 1.0)]["L1 (species 1)"] > 0.01
    assert by_label[("local (1)", 1.0)]["noise floor (species 1)"] > 0


def test_summarize_distances_counts():
    estimates, solutions = overlay_inputs()
    summary = summarize_distances(distance_rows(estimates, solutions, times=[0.5, 1.0]))
    assert summary["comparisons"] == 4
    assert summary["closer_to_nonlocal"] == 4
    assert summary["ratio"]["nonlocal (7)"] == pytest.approx(0.0, abs=1e-9)
    assert summary["ratio"]["local (1)"] > 1
    assert set(summary["ratio"]) == {"nonlocal (7)", "local (1)", "nonlocal mean-field"}


def test_cluster_rows_table():
    estimates, solutions = overlay_inputs()
    rows = cluster_rows(estimates, solutions, 1.0)
    assert [row["density"] for row in rows] == ["skt particles", "nonlocal (7)", "local (1)",
                                                "drift particles", "nonlocal mean-field"]
    assert rows[1]["species 1"] == "0.00"
    assert rows[2]["species 2"] == "1.20"
    assert float(rows[0]["species 2"]) == pytest.approx(1.0, abs=0.5)


def test_cluster_rows_share_cut_off():
    # A second peak at about 11 % of the first lies between the default
    # cut-off and 20 %, so both rows list it by default and drop it at 20 %.
    x = cell_centers((-20.0, 20.0), 800)
    density = 0.9 * gaussian_density(x, -6.0, 2.0) + 0.1 * gaussian_density(x, 6.0, 2.0)
    parameters = ModelParameters(diffusion=[1.0], interaction=[[0.0]], radius=1.0)
    solution = PDESolution(x=x, times=np.array([1.0]), density=density[None, None],
                           system="drift", equation="nonlocal", boundary="no-flux",
                           domain=(-20.0, 20.0), parameters=parameters)
    estimates = {"drift": {1.0: estimate_from_pde(solution, 1.0, np.linspace(-15.0, 15.0, 121))}}
    solutions = {"drift": {"nonlocal mean-field": solution}}

    rows = cluster_rows(estimates, solutions, 1.0)
    high = cluster_rows(estimates, solutions, 1.0, min_relative_height=0.2)

    assert [row["density"] for row in rows] == ["drift particles", "nonlocal mean-field"]
    for row in rows:
        assert len(row["species 1"].split(", ")) == 2, row
    for row in high:
        assert len(row["species 1"].split(", ")) == 1, row


def test_simulation_distance_rows_near_floor():
    solution = gaussian_solution([-1.0, 2.0], times=(0.5, 1.0))
    rng = np.random.default_rng(3)
    means = np.array([-1.0, 2.0])[None, None, :, None]
    positions = means + math.sqrt(2.0) * rng.standard_normal((2, 4, 2, 500))
    result = ParticleSimulation(np.array([0.5, 1.0]), positions, "skt", solution.parameters)
    rows = simulation_distance_rows(result, solution, lower=-8.0, upper=8.0, bins=32)
    assert [row["t"] for row in rows] == [0.5, 1.0]
    assert list(rows[0]) == ["t", "L1 (species 1)", "L1 (species 2)",
                             "noise floor (species 1)", "noise floor (species 2)"]
    ratio = largest_floor_ratio(rows)
    assert 0.3 < ratio < 2.5
    with pytest.raises(TypeError, match="ParticleSimulation"):
        simulation_distance_rows(positions, solution, lower=-8.0, upper=8.0, bins=32)
    with pytest.raises(ValueError, match="noise floor"):
        largest_floor_ratio([{"t": 1.0}])
