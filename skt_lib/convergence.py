"""Distances and rates for convergence studies.

* :func:`wasserstein2` between two 1D samples, and
  :func:`wasserstein2_to_density` between a sample and a density on a grid,
  both through quantile functions: in one dimension
  ``W_2(mu, nu)^2 = int_0^1 |F_mu^{-1}(s) - F_nu^{-1}(s)|^2 ds``. (SciPy's
  ``scipy.stats.wasserstein_distance`` computes ``W_1``, not ``W_2``.)
* :func:`strong_error_study`: the Euler-Maruyama strong error against a finer
  path driven by the same Brownian increments.
* :func:`fit_power_law`: a least-squares rate with its standard error.
"""

import math
from dataclasses import dataclass

import numpy as np

from skt_lib._validation import as_finite_array, check_positive, check_positive_int
from skt_lib.particles import simulate_particles, run_generators


def gaussian_wasserstein2(mean_a, std_a, mean_b, std_b):
    """Return ``W_2`` between ``N(mean_a, std_a^2)`` and ``N(mean_b, std_b^2)`` in 1D.

    Equal to ``sqrt((mean_a - mean_b)^2 + (std_a - std_b)^2)``.
    """
    return math.hypot(mean_a - mean_b, std_a - std_b)


def wasserstein2(sample_a, sample_b):
    """Return ``W_2`` between the empirical measures of two 1D samples.

    Both quantile functions are step functions; the integral of the squared
    difference is exact over the merged breakpoints ``k / n_a`` and ``l / n_b``.

    Parameters
    ----------
    sample_a, sample_b : array_like of shape (n_a,) and (n_b,)
        Samples, each of at least one finite value.
    """
    a = np.sort(as_finite_array("sample_a", sample_a, ndim=1))
    b = np.sort(as_finite_array("sample_b", sample_b, ndim=1))
    if a.size == 0 or b.size == 0:
        msg = f"samples must not be empty, got sizes {a.size} and {b.size}"
        raise ValueError(msg)
    if a.size == b.size:
        return float(np.sqrt(np.mean((a - b) ** 2)))
    breaks = np.union1d(np.arange(1, a.size + 1) / a.size, np.arange(1, b.size + 1) / b.size)
    widths = np.diff(np.concatenate([[0.0], breaks]))
    middles = breaks - 0.5 * widths
    quantile_a = a[np.minimum((middles * a.size).astype(int), a.size - 1)]
    quantile_b = b[np.minimum((middles * b.size).astype(int), b.size - 1)]
    return float(np.sqrt(np.sum(widths * (quantile_a - quantile_b) ** 2)))


def wasserstein2_to_density(sample, x, density, *, quantile_points=4096):
    """Return ``W_2`` between a 1D sample and a density given at grid points.

    The density is interpolated linearly between the points ``x`` and its
    cumulative distribution inverted at ``quantile_points`` midpoints of
    ``[0, 1]``. The sample's quantile function is exact.

    Parameters
    ----------
    sample : array_like of shape (n,)
    x : array_like of shape (m,)
        Increasing grid points (for example cell centres of a PDE solution).
    density : array_like of shape (m,)
        Nonnegative values with positive integral; normalised to mass 1.
    quantile_points : int
        Number of midpoint nodes of the quantile integral.
    """
    sample = np.sort(as_finite_array("sample", sample, ndim=1))
    if sample.size == 0:
        msg = "sample must not be empty"
        raise ValueError(msg)
    quantile_points = check_positive_int("quantile_points", quantile_points)
    levels = (np.arange(quantile_points) + 0.5) / quantile_points
    density_quantiles = piecewise_linear_quantiles(x, density, levels)
    sample_quantiles = sample[np.minimum((levels * sample.size).astype(int), sample.size - 1)]
    return float(np.sqrt(np.mean((density_quantiles - sample_quantiles) ** 2)))


def piecewise_linear_cdf(x, density):
    """Check a density given at grid points and return it with its distribution function.

    The density is linear between the points ``x`` and zero outside
    ``[x[0], x[-1]]``.

    Parameters
    ----------
    x : array_like of shape (m,)
        Strictly increasing grid points, ``m >= 2``.
    density : array_like of shape (m,)
        Nonnegative values with positive integral.

    Returns
    -------
    x : ndarray of shape (m,)
    density : ndarray of shape (m,)
        Divided by its integral, so of mass 1.
    cumulative : ndarray of shape (m,)
        The distribution function at ``x`` (0 at ``x[0]``, 1 at ``x[-1]``).
    """
    x = as_finite_array("x", x, ndim=1)
    density = as_finite_array("density", density, ndim=1)
    if x.shape != density.shape or x.size < 2:
        msg = f"x and density must have equal shapes of at least 2 points, got {x.shape} and {density.shape}"
        raise ValueError(msg)
    if np.any(np.diff(x) <= 0):
        msg = "x must be strictly increasing"
        raise ValueError(msg)
    if np.any(density < 0):
        index = int(np.flatnonzero(density < 0)[0])
        msg = f"density must be >= 0, got {float(density[index])!r} at index {index}"
        raise ValueError(msg)
    # Scaling by the largest value first keeps the sums finite for any density values.
    largest = density.max()
    if largest > 0:
        density = density / largest
    mass = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(x))])
    if not mass[-1] > 0:
        msg = "density must have a positive integral"
        raise ValueError(msg)
    return x, density / mass[-1], mass / mass[-1]


def piecewise_linear_quantiles(x, density, levels):
    """Return the quantiles at ``levels`` of a density that is linear between grid points.

    ``x`` and ``density`` are as in :func:`piecewise_linear_cdf`; ``levels``
    are probabilities in ``[0, 1]``. The distribution function is inverted
    exactly (a square root on each cell). The result has the shape of
    ``levels``.
    """
    x, density, cumulative = piecewise_linear_cdf(x, density)
    levels = as_finite_array("levels", levels)
    outside = (levels < 0) | (levels > 1)
    if np.any(outside):
        msg = (f"levels must be probabilities in [0, 1], got "
               f"{float(levels[outside].flat[0])!r}")
        raise ValueError(msg)
    index = np.clip(np.searchsorted(cumulative, levels, side="right") - 1, 0, x.size - 2)
    mass_needed = levels - cumulative[index]
    left = density[index]
    slope = (density[index + 1] - left) / (x[index + 1] - x[index])
    # Solve left * s + slope * s^2 / 2 = mass_needed for the offset s >= 0.
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(np.maximum(left**2 + 2 * slope * mass_needed, 0.0))
        offset = np.where(np.abs(slope) > 1e-300, (root - left) / slope,
                          mass_needed / np.where(left > 0, left, 1.0))
    offset = np.clip(offset, 0.0, x[index + 1] - x[index])
    return x[index] + offset


@dataclass(frozen=True)
class PowerLawFit:
    """Least-squares fit of ``log y = log c + rate log x``.

    Attributes
    ----------
    rate, rate_std_error : float
        Fitted exponent and its standard error (``nan`` with two points).
    prefactor : float
        ``c``.
    """

    rate: float
    rate_std_error: float
    prefactor: float


def fit_power_law(x, y):
    """Fit ``y ~ c x^rate`` by least squares in log-log coordinates.

    Parameters
    ----------
    x, y : array_like of shape (k,)
        Positive values, at least two points.
    """
    x = as_finite_array("x", x, ndim=1)
    y = as_finite_array("y", y, ndim=1)
    if x.shape != y.shape or x.size < 2:
        msg = f"x and y must have equal shapes of at least 2 points, got {x.shape} and {y.shape}"
        raise ValueError(msg)
    if np.any(x <= 0) or np.any(y <= 0):
        msg = "x and y must be > 0 for a log-log fit"
        raise ValueError(msg)
    log_x, log_y = np.log(x), np.log(y)
    design = np.column_stack([np.ones_like(log_x), log_x])
    coefficients, _, _, _ = np.linalg.lstsq(design, log_y, rcond=None)
    residuals = log_y - design @ coefficients
    if x.size > 2:
        variance = residuals @ residuals / (x.size - 2)
        covariance = variance * np.linalg.inv(design.T @ design)
        error = float(np.sqrt(covariance[1, 1]))
    else:
        error = float("nan")
    return PowerLawFit(float(coefficients[1]), error, float(np.exp(coefficients[0])))


@dataclass(frozen=True)
class StrongErrorStudy:
    """Strong errors of Euler-Maruyama at several step sizes.

    Attributes
    ----------
    time_steps : ndarray of shape (levels,)
        Step sizes, coarsest first.
    mean_square_error : ndarray of shape (levels,)
        ``E |X_h(T) - X_ref(T)|^2``, averaged over particles, species and runs.
    standard_error : ndarray of shape (levels,)
        Monte Carlo standard error of each mean square error.
    fit : PowerLawFit
        Fit of the root-mean-square error against the step: ``rate`` is the
        observed strong order.
    """

    time_steps: np.ndarray
    mean_square_error: np.ndarray
    standard_error: np.ndarray
    fit: PowerLawFit


def strong_error_study(initial_positions, parameters, *, model="skt", final_time,
                       coarsest_steps, levels, reference_refinement=8, seed=None):
    """Measure the strong error of Euler-Maruyama against a finer path.

    Paths with ``coarsest_steps * 2^l`` steps (``l = 0 .. levels - 1``) are
    compared at ``final_time`` with a reference path whose step is
    ``reference_refinement`` times smaller than the finest of them, so the
    reference's own error stays small against the errors measured. All paths
    are driven by the same Brownian motion: the increment over one coarse step
    is the sum of the fine increments inside it, so its standard normal is
    the sum of the ``m`` fine ones divided by ``sqrt(m)``.

    Returns
    -------
    StrongErrorStudy
    """
    final_time = check_positive("final_time", final_time)
    coarsest_steps = check_positive_int("coarsest_steps", coarsest_steps)
    levels = check_positive_int("levels", levels)
    reference_refinement = check_positive_int("reference_refinement", reference_refinement)
    if reference_refinement & (reference_refinement - 1):
        msg = f"reference_refinement must be a power of 2, got {reference_refinement}"
        raise ValueError(msg)
    positions = np.asarray(initial_positions, dtype=float)
    fine_steps = coarsest_steps * 2 ** (levels - 1) * reference_refinement
    generator = run_generators(seed, 1)[0]
    fine_noise = generator.standard_normal((fine_steps, *positions.shape))

    def run(noise):
        steps = noise.shape[0]
        result = simulate_particles(positions, parameters, model=model,
                                    time_step=final_time / steps, final_time=final_time,
                                    noise=noise, progress=False)
        return result.positions[-1]

    reference = run(fine_noise)
    time_steps, errors, standard_errors = [], [], []
    for level in range(levels):
        factor = fine_steps // (coarsest_steps * 2**level)
        coarse = fine_noise.reshape(fine_steps // factor, factor, *positions.shape)
        coarse = coarse.sum(axis=1) / math.sqrt(factor)
        squared = (run(coarse) - reference) ** 2
        time_steps.append(final_time / coarse.shape[0])
        errors.append(float(squared.mean()))
        standard_errors.append(float(squared.std(ddof=1) / math.sqrt(squared.size)))
    time_steps = np.array(time_steps)
    errors = np.array(errors)
    fit = fit_power_law(time_steps, np.sqrt(errors))
    return StrongErrorStudy(time_steps, errors, np.array(standard_errors), fit)
