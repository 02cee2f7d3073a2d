"""Histogram densities, overlaps and cluster positions (skt_lib.density)."""

import numpy as np
import pytest

from skt_lib.density import density_modes, histogram_density, overlap_matrix


@pytest.fixture
def positions():
    rng = np.random.default_rng(7)
    return rng.normal(0.0, 3.0, size=(6, 2, 5000))


def test_counts_complete(positions):
    estimate = histogram_density(positions, lower=-5.0, upper=5.0, bins=40)
    inside = estimate.counts.sum(axis=1)
    outside = np.round(estimate.outside_fraction * estimate.total).astype(int)
    # Every particle is counted once: inside the window or outside it.
    assert np.array_equal(inside + outside, [6 * 5000, 6 * 5000])


def test_counts_match_numpy_histogram(positions):
    estimate = histogram_density(positions, lower=-5.0, upper=5.0, bins=40)
    for species in range(2):
        expected, _ = np.histogram(positions[:, species], bins=40, range=(-5.0, 5.0))
        assert np.array_equal(estimate.counts[species], expected)


def test_density_integrates_to_inside_mass(positions):
    estimate = histogram_density(positions, lower=-5.0, upper=5.0, bins=40)
    integral = estimate.density.sum(axis=1) * estimate.width
    # Counts / (total * width) summed times width is the inside fraction exactly,
    # up to round-off of the division.
    assert np.allclose(integral, 1.0 - estimate.outside_fraction, rtol=0, atol=1e-12)


def test_window_edges_count_inside():
    positions = np.array([[[-1.0, 1.0, 0.0, 1.0000001]]])
    estimate = histogram_density(positions, lower=-1.0, upper=1.0, bins=4)
    assert estimate.counts[0, 0] == 1
    assert estimate.counts[0, -1] == 1
    assert estimate.outside_fraction[0] == pytest.approx(0.25)


def test_histogram_rejects_bad_window(positions):
    with pytest.raises(ValueError, match="upper"):
        histogram_density(positions, lower=1.0, upper=1.0, bins=10)
    with pytest.raises(ValueError, match="bins"):
        histogram_density(positions, lower=0.0, upper=1.0, bins=0)
    with pytest.raises(ValueError, match="positions"):
        histogram_density(positions[0], lower=0.0, upper=1.0, bins=10)
    with pytest.raises(ValueError, match="finite"):
        histogram_density(np.full((1, 1, 2), np.nan), lower=0.0, upper=1.0, bins=10)


def test_overlap_of_identical_and_disjoint():
    rng = np.random.default_rng(3)
    same = rng.normal(0.0, 1.0, size=(1, 1, 20000))
    identical = np.concatenate([same, same], axis=1)
    estimate = histogram_density(identical, lower=-10.0, upper=10.0, bins=100)
    overlap = overlap_matrix(estimate)
    # Identical samples give identical histograms: the overlap is the inside mass.
    assert overlap[0, 1] == pytest.approx(1.0 - estimate.outside_fraction[0], abs=1e-12)
    disjoint = np.concatenate([same * 0.1 - 5.0, same * 0.1 + 5.0], axis=1)
    estimate = histogram_density(disjoint, lower=-10.0, upper=10.0, bins=100)
    assert overlap_matrix(estimate)[0, 1] == 0.0


def test_modes_of_bimodal_sample():
    rng = np.random.default_rng(11)
    left = rng.normal(-6.0, 1.0, size=20000)
    right = rng.normal(8.0, 1.0, size=10000)
    sample = np.concatenate([left, right])[None, None, :]
    estimate = histogram_density(sample, lower=-20.0, upper=20.0, bins=160)
    modes = density_modes(estimate, 0, smoothing=1.0)
    assert modes.size == 2
    # Bin width 0.25 and 10^4 samples per cluster: the smoothed peak lies
    # within two bins of the true centre.
    assert modes[0] == pytest.approx(-6.0, abs=0.5)
    assert modes[1] == pytest.approx(8.0, abs=0.5)
