"""Wasserstein distances, power-law fits and Euler-Maruyama strong order."""

import math

import numpy as np
import pytest

from skt_lib import ModelParameters, sample_gaussian_initial
from skt_lib.convergence import (
    fit_power_law,
    gaussian_wasserstein2,
    piecewise_linear_quantiles,
    strong_error_study,
    wasserstein2,
    wasserstein2_to_density,
)


def test_gaussian_w2_known_value():
    # W2 between N(0.3, 0.7^2) and N(-0.2, 1.3^2) is sqrt(0.5^2 + 0.6^2).
    assert gaussian_wasserstein2(0.3, 0.7, -0.2, 1.3) == pytest.approx(math.sqrt(0.61), abs=1e-15)
    assert math.sqrt(0.61) == pytest.approx(0.78102, abs=5e-6)


def test_w2_of_equal_samples_is_zero():
    sample = np.random.default_rng(1).normal(size=1000)
    assert wasserstein2(sample, sample[::-1].copy()) == 0.0


def test_w2_of_shifted_sample_is_shift():
    sample = np.random.default_rng(2).normal(size=1000)
    # Translation moves every quantile by the shift.
    assert wasserstein2(sample, sample + 0.25) == pytest.approx(0.25, rel=1e-12)


def test_w2_unequal_sizes_exact_small_case():
    # Quantile functions: a = 0 on (0, 1/2], 1 on (1/2, 1]; b = 0, 0, 1 in thirds.
    # They differ by 1 on (1/2, 2/3], so W2^2 = 1/6.
    assert wasserstein2([0.0, 1.0], [0.0, 0.0, 1.0]) == pytest.approx(math.sqrt(1 / 6), rel=1e-14)


def test_w2_samples_near_gaussian_value():
    rng = np.random.default_rng(3)
    a = rng.normal(0.3, 0.7, 200_000)
    b = rng.normal(-0.2, 1.3, 150_000)
    # Two samples of these sizes are about n^-1/2 ~ 3e-3 apart from the exact
    # value in W2; allow 0.02.
    assert wasserstein2(a, b) == pytest.approx(math.sqrt(0.61), abs=0.02)


def test_w2_to_density_of_gaussian():
    rng = np.random.default_rng(4)
    sample = rng.normal(0.3, 0.7, 200_000)
    x = np.linspace(-10.0, 10.0, 4001)
    density = np.exp(-((x + 0.2) ** 2) / (2 * 1.69)) / math.sqrt(2 * math.pi * 1.69)
    # Sample noise about 3e-3, grid and quantile quadrature errors below 1e-3.
    assert wasserstein2_to_density(sample, x, density) == pytest.approx(math.sqrt(0.61), abs=0.02)


def test_w2_to_density_rejects_bad_input():
    x = np.linspace(0.0, 1.0, 5)
    with pytest.raises(ValueError, match="density"):
        wasserstein2_to_density([0.5], x, -np.ones(5))
    with pytest.raises(ValueError, match="increasing"):
        wasserstein2_to_density([0.5], x[::-1].copy(), np.ones(5))
    with pytest.raises(ValueError, match="empty"):
        wasserstein2([], [1.0])


def test_piecewise_linear_quantiles_are_exact():
    # Density 2x on [0, 1], given at 3 points as five times that density:
    # the distribution function is x^2, so the quantile at p is sqrt(p).
    levels = np.array([0.0, 0.01, 0.25, 0.5, 0.9, 1.0])
    quantiles = piecewise_linear_quantiles([0.0, 0.5, 1.0], [0.0, 5.0, 10.0], levels)
    np.testing.assert_allclose(quantiles, np.sqrt(levels), rtol=0, atol=1e-15)
    # A density that vanishes on a middle cell: no quantile falls inside it.
    quantiles = piecewise_linear_quantiles([0.0, 1.0, 2.0, 3.0], [1.0, 0.0, 0.0, 1.0],
                                           [0.25, 0.75])
    np.testing.assert_allclose(quantiles, [1 - math.sqrt(0.5), 2 + math.sqrt(0.5)], atol=1e-15)
    with pytest.raises(ValueError, match="levels must be probabilities"):
        piecewise_linear_quantiles([0.0, 1.0], [1.0, 1.0], [1.5])
    with pytest.raises(ValueError, match="positive integral"):
        piecewise_linear_quantiles([0.0, 1.0], [0.0, 0.0], [0.5])


def test_power_law_fit_recovers_rate():
    x = np.array([0.1, 0.05, 0.025, 0.0125])
    fit = fit_power_law(x, 3.0 * x**1.5)
    assert fit.rate == pytest.approx(1.5, abs=1e-12)
    assert fit.prefactor == pytest.approx(3.0, rel=1e-12)
    assert fit.rate_std_error < 1e-10


def test_strong_order_one_for_additive_noise():
    # Without interaction the noise is additive (sqrt(2 sigma) dW). Euler-Maruyama
    # then coincides with the Milstein scheme, whose strong order is 1.
    parameters = ModelParameters(diffusion=[0.5], interaction=[[0.0]], radius=1.0,
                                 potential=-1.0)
    initial = sample_gaussian_initial([0.5], [0.1], runs=4, particles=2000, seed=1)
    study = strong_error_study(initial, parameters, final_time=1.0, coarsest_steps=8,
                               levels=4, seed=2)
    assert study.time_steps.size == 4
    # Measured 1.01 +- 0.02; allow 0.15 around the theoretical order.
    assert abs(study.fit.rate - 1.0) < 0.15


def test_strong_error_study_rejects_bad_refinement():
    parameters = ModelParameters(diffusion=[0.5], interaction=[[0.0]], radius=1.0)
    with pytest.raises(ValueError, match="power of 2"):
        strong_error_study(np.zeros((1, 1, 2)), parameters, final_time=1.0, coarsest_steps=2,
                           levels=3, reference_refinement=3)
