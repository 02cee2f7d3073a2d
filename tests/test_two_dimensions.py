"""2D density estimates, summaries, cached runs and the figure of the plane experiment."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pytest

from skt_lib.two_dimensions import (
    DensityEstimate2D,
    experiment_config_2d,
    gaussian_overlap_2d,
    histogram_density_2d,
    initial_peak_density,
    overlap_matrix_2d,
    plot_two_species_2d,
    radial_profile,
    run_simulation_2d,
    run_two_species_2d,
    species_means,
)


@pytest.fixture
def gaussian_positions():
    generator = np.random.default_rng(3)
    positions = generator.normal(size=(4, 2, 500, 2)) * 2.0
    positions[:, 1] += [1.0, -0.5]
    return positions


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_histogram_shapes(gaussian_positions):
    estimate = histogram_density_2d(gaussian_positions, lower=-5.0, upper=5.0, bins=20)
    assert estimate.edges.shape == (21,)
    assert estimate.centers.shape == (20,)
    assert estimate.density.shape == (2, 20, 20)
    assert estimate.counts.shape == (2, 20, 20)
    assert estimate.outside_fraction.shape == (2,)
    assert estimate.total == 4 * 500
    assert estimate.width == pytest.approx(0.5)
    assert estimate.cell_area == pytest.approx(0.25)


def test_histogram_counts_complete(gaussian_positions):
    estimate = histogram_density_2d(gaussian_positions, lower=-5.0, upper=5.0, bins=20)
    for species in range(2):
        points = gaussian_positions[:, species].reshape(-1, 2)
        outside = np.count_nonzero(np.any(np.abs(points) > 5.0, axis=1))
        assert outside > 0
        assert estimate.outside_fraction[species] == pytest.approx(outside / estimate.total)
        assert estimate.counts[species].sum() + outside == estimate.total


def test_histogram_integrates_to_inside_mass(gaussian_positions):
    estimate = histogram_density_2d(gaussian_positions, lower=-5.0, upper=5.0, bins=20)
    mass = estimate.density.sum(axis=(1, 2)) * estimate.cell_area
    np.testing.assert_allclose(mass, 1.0 - estimate.outside_fraction, rtol=1e-12)


def test_histogram_cell_placement():
    # One run, one species, four points: the index order is [x-cell, y-cell].
    points = np.array([[[[0.1, 0.9], [1.0, 1.0], [0.0, 0.0], [1.0, 1.5]]]])
    estimate = histogram_density_2d(points, lower=0.0, upper=1.0, bins=2)
    assert estimate.counts[0, 0, 1] == 1  # (0.1, 0.9)
    assert estimate.counts[0, 1, 1] == 1  # on the upper corner: last cell
    assert estimate.counts[0, 0, 0] == 1  # on the lower corner: first cell
    assert estimate.counts[0].sum() == 3
    assert estimate.outside_fraction[0] == pytest.approx(0.25)


def test_histogram_matches_numpy(gaussian_positions):
    estimate = histogram_density_2d(gaussian_positions, lower=-4.0, upper=6.0, bins=16)
    points = gaussian_positions[:, 1].reshape(-1, 2)
    expected, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=16,
                                    range=[[-4.0, 6.0], [-4.0, 6.0]])
    np.testing.assert_array_equal(estimate.counts[1], expected)


@pytest.mark.parametrize(
    ("positions", "keywords", "error"),
    [
        (np.zeros((2, 2, 5)), {}, ValueError),  # 1D positions
        (np.zeros((2, 2, 5, 3)), {}, ValueError),  # three coordinates
        (np.zeros((0, 2, 5, 2)), {}, ValueError),  # no run
        (np.full((1, 1, 2, 2), np.nan), {}, ValueError),
        ([[[["a", "b"]]]], {}, TypeError),
        (np.zeros((1, 1, 2, 2)), {"lower": 1.0, "upper": 1.0}, ValueError),
        (np.zeros((1, 1, 2, 2)), {"lower": 2.0, "upper": 1.0}, ValueError),
        (np.zeros((1, 1, 2, 2)), {"bins": 0}, ValueError),
        (np.zeros((1, 1, 2, 2)), {"bins": 2.5}, TypeError),
        (np.zeros((1, 1, 2, 2)), {"lower": float("inf")}, ValueError),
    ],
)
def test_histogram_rejects_invalid_input(positions, keywords, error):
    arguments = {"lower": -1.0, "upper": 1.0, "bins": 4, **keywords}
    with pytest.raises(error):
        histogram_density_2d(positions, **arguments)


def test_overlap_identical_samples(gaussian_positions):
    positions = np.stack([gaussian_positions[:, 0], gaussian_positions[:, 0]], axis=1)
    estimate = histogram_density_2d(positions, lower=-5.0, upper=5.0, bins=20)
    overlap = overlap_matrix_2d(estimate)
    inside = 1.0 - estimate.outside_fraction[0]
    assert overlap[0, 1] == pytest.approx(inside)
    assert overlap[1, 0] == pytest.approx(inside)
    assert overlap[0, 0] == pytest.approx(inside)


def test_overlap_identical_samples_inside_is_one():
    generator = np.random.default_rng(1)
    sample = generator.uniform(-1.0, 1.0, size=(3, 1, 200, 2))
    positions = np.concatenate([sample, sample], axis=1)
    estimate = histogram_density_2d(positions, lower=-1.0, upper=1.0, bins=8)
    assert overlap_matrix_2d(estimate)[0, 1] == pytest.approx(1.0)


def test_overlap_disjoint_samples():
    generator = np.random.default_rng(2)
    left = generator.uniform([-2.0, -2.0], [-0.01, 2.0], size=(3, 1, 200, 2))
    right = generator.uniform([0.01, -2.0], [2.0, 2.0], size=(3, 1, 200, 2))
    estimate = histogram_density_2d(np.concatenate([left, right], axis=1), lower=-2.0,
                                    upper=2.0, bins=10)
    overlap = overlap_matrix_2d(estimate)
    assert overlap[0, 1] == 0.0
    assert overlap[0, 0] == pytest.approx(1.0)
    assert overlap[1, 1] == pytest.approx(1.0)


def test_overlap_rejects_1d_estimate():
    with pytest.raises(TypeError):
        overlap_matrix_2d({"density": np.zeros((2, 3, 3))})


def test_gaussian_overlap_closed_form():
    # Two Gaussians with equal variance v and means d apart overlap by
    # 2 Phi(-d / (2 sqrt(v))), because min(g_1, g_2) is g_1 on the far half-plane.
    expected = 2.0 * 0.5 * math.erfc(2.0 / (2.0 * math.sqrt(2.0)) / math.sqrt(2.0))
    overlap = gaussian_overlap_2d([[-1.0, 0.0], [1.0, 0.0]], [2.0, 2.0])
    assert overlap == pytest.approx(expected, abs=1e-4)


def test_gaussian_overlap_limits():
    assert gaussian_overlap_2d([[0.5, 0.5], [0.5, 0.5]], [3.0, 3.0]) == pytest.approx(1.0, abs=1e-4)
    assert gaussian_overlap_2d([[-50.0, 0.0], [50.0, 0.0]], [1.0, 1.0]) < 1e-12
    with pytest.raises(ValueError):
        gaussian_overlap_2d([[0.0, 0.0]], [1.0, 1.0])
    with pytest.raises(ValueError):
        gaussian_overlap_2d([[0.0, 0.0], [1.0, 0.0]], [1.0, 0.0])


def test_species_means(gaussian_positions):
    means = species_means(gaussian_positions)
    assert means.shape == (2, 2)
    np.testing.assert_allclose(means[1], gaussian_positions[:, 1].reshape(-1, 2).mean(axis=0))


def test_radial_profile_of_ring():
    angles = np.linspace(0.0, 2.0 * np.pi, 400, endpoint=False)
    ring = np.stack([2.0 + 3.2 * np.cos(angles), -1.0 + 3.2 * np.sin(angles)], axis=-1)
    centred = np.array([[2.0, -1.0]] * 399 + [[2.0, 9.0]])  # one point beyond max_radius
    positions = np.stack([ring, centred])[None]
    profile = radial_profile(positions, [2.0, -1.0], max_radius=5.0, bins=10)
    assert profile.density.shape == (2, 10)
    assert profile.peak_radius(0) == pytest.approx(3.25)
    assert profile.peak_radius(1) == pytest.approx(0.25)
    assert profile.outside_fraction.tolist() == [0.0, pytest.approx(1 / 400)]
    areas = np.pi * np.diff(profile.edges**2)
    mass = (profile.density * areas).sum(axis=1)
    np.testing.assert_allclose(mass, 1.0 - profile.outside_fraction)


def test_radial_disc_density():
    generator = np.random.default_rng(5)
    radius = np.sqrt(generator.uniform(0.0, 4.0, size=4000))  # uniform on the disc of radius 2
    angle = generator.uniform(0.0, 2.0 * np.pi, size=4000)
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)
    profile = radial_profile(points[None, None], [0.0, 0.0], max_radius=4.0, bins=8)
    assert profile.disc_density(0, 2.0) == pytest.approx(1.0 / (4.0 * np.pi))
    assert profile.disc_density(0, 4.0) == pytest.approx(1.0 / (16.0 * np.pi))
    with pytest.raises(ValueError, match="annulus edges"):
        profile.disc_density(0, 1.2)
    with pytest.raises(ValueError):
        profile.disc_density(0, 0.0)


@pytest.mark.parametrize(
    ("keywords", "error"),
    [
        ({"centre": [0.0, 0.0, 0.0]}, ValueError),
        ({"centre": [0.0, np.nan]}, ValueError),
        ({"max_radius": 0.0}, ValueError),
        ({"bins": 0}, ValueError),
    ],
)
def test_radial_profile_rejects_invalid_input(gaussian_positions, keywords, error):
    arguments = {"centre": [0.0, 0.0], "max_radius": 5.0, "bins": 5, **keywords}
    with pytest.raises(error):
        radial_profile(gaussian_positions, **arguments)


def test_initial_peak_density():
    assert initial_peak_density(1) == pytest.approx(1.0 / math.sqrt(4.0 * math.pi))
    assert initial_peak_density(2) == pytest.approx(1.0 / (4.0 * math.pi))
    with pytest.raises(ValueError):
        initial_peak_density(3)


NUMERICS = {"particles": 30, "runs": 2, "time_step": 0.25, "radius": 2.0, "seed": 4}


def test_config_contents():
    config = experiment_config_2d(model="drift", **NUMERICS)
    assert config["dimension"] == 2
    assert config["interaction"] == [[0.0, 355.0], [25.0, 0.0]]
    assert config["diffusion"] == [1.0, 2.0]
    assert config["initial"][0] == {"mean": [-1.0, 0.0], "variance": 2.0}
    assert config["initial"][1] == {"mean": [1.0, 0.0], "variance": 2.0}
    assert config["final_time"] == 2.0
    assert config["kernel_normalization"] == "unit-mass"


@pytest.mark.parametrize(
    ("keywords", "error"),
    [
        ({"model": "other"}, ValueError),
        ({"particles": 0}, ValueError),
        ({"runs": 1.5}, TypeError),
        ({"time_step": -0.1}, ValueError),
        ({"radius": 0.0}, ValueError),
        ({"seed": None}, TypeError),
        ({"seed": -1}, ValueError),
        ({"seed": True}, TypeError),
        ({"normalization": "none"}, ValueError),
    ],
)
def test_config_rejects_invalid_input(keywords, error):
    arguments = {"model": "skt", **NUMERICS, **keywords}
    with pytest.raises(error):
        experiment_config_2d(**arguments)


def test_run_rejects_foreign_config():
    with pytest.raises(TypeError):
        run_simulation_2d({"model": "skt", "dimension": 1})


def test_run_is_cached(tmp_path):
    config = experiment_config_2d(model="skt", **NUMERICS)
    first = run_simulation_2d(config, cache_dir=tmp_path, progress=False)
    second = run_simulation_2d(config, cache_dir=tmp_path, progress=False)
    assert first.positions.shape == (1, 2, 2, 30, 2)
    assert first.record["cached"] is False
    assert second.record["cached"] is True
    assert second.model == "skt"
    assert second.parameters.dimension == 2
    np.testing.assert_array_equal(first.positions, second.positions)
    assert len(list(tmp_path.glob("*.npz"))) == 1


def test_both_models_run_reproducibly():
    results = run_two_species_2d(**NUMERICS, cache_dir=None, progress=False)
    assert sorted(results) == ["drift", "skt"]
    for result in results.values():
        assert result.positions.shape == (1, 2, 2, 30, 2)
        assert np.isfinite(result.positions).all()
    config = experiment_config_2d(model="drift", **NUMERICS)
    again = run_simulation_2d(config, progress=False)
    np.testing.assert_array_equal(again.positions, results["drift"].positions)


@pytest.mark.parametrize("style", ["image", "contour"])
def test_plot_layout(gaussian_positions, style):
    estimate = histogram_density_2d(gaussian_positions, lower=-5.0, upper=5.0, bins=20)
    profile = radial_profile(gaussian_positions, [0.0, 0.0], max_radius=5.0, bins=10)
    estimates = {"skt": estimate, "drift": estimate}
    figure = plot_two_species_2d(estimates, profiles={"skt": profile, "drift": profile},
                                 style=style, time_value=2.0)
    image_axes = [axis for axis in figure.axes if axis.get_label() != "<colorbar>"]
    assert len(image_axes) == 6
    assert "t = 2" in image_axes[0].get_title()
    without_profiles = plot_two_species_2d(estimates, style=style)
    assert len([a for a in without_profiles.axes if a.get_label() != "<colorbar>"]) == 4


def test_plot_rejects_invalid_input(gaussian_positions):
    estimate = histogram_density_2d(gaussian_positions, lower=-5.0, upper=5.0, bins=20)
    coarse = histogram_density_2d(gaussian_positions, lower=-5.0, upper=5.0, bins=10)
    with pytest.raises(ValueError, match="style"):
        plot_two_species_2d({"skt": estimate, "drift": estimate}, style="surface")
    with pytest.raises(ValueError, match="drift"):
        plot_two_species_2d({"skt": estimate})
    with pytest.raises(ValueError, match="one grid"):
        plot_two_species_2d({"skt": estimate, "drift": coarse})
    with pytest.raises(ValueError, match="profiles"):
        plot_two_species_2d({"skt": estimate, "drift": estimate}, profiles={"skt": None})


def test_single_point_density():
    estimate = histogram_density_2d(np.zeros((1, 1, 1, 2)), lower=-1.0, upper=1.0, bins=1)
    assert isinstance(estimate, DensityEstimate2D)
    assert estimate.density[0, 0, 0] == pytest.approx(0.25)
