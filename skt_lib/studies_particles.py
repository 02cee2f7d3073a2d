r"""Convergence studies of the coupled particle systems (5), (6) and (8).

The estimates of Chen, Daus, Holzinger and Jüngel (2020) are measured by
looping :func:`skt_lib.coupling.simulate_coupled` over particle counts ``N``
and interaction radii ``eta``:

* Lemma 9, ``E sup_t |X - Xbar|^2 <= C N^(-1 + loss)``: particles (5)
  against the intermediate SDE (6), against ``N`` at a fixed radius;
* Lemma 10, ``E sup_t |Xbar - Xhat|^2 <= C eta^(2 (1 - alpha))``: the
  intermediate SDE against the macroscopic SDE (8), against ``eta``;
* Theorem 5, ``E sup_t |X - Xhat|^2 <= C eta^(2 (1 - alpha))`` when ``N``
  grows with ``eta^-1`` as the scaling relation (9) asks;
* Remark 6 and Theorems 7 and 8: the law of a particle at the final time
  against the PDE densities, in ``W_2`` and, through histograms, in ``L^1``.
  Each distance is reported next to the Monte Carlo noise floor of a sample
  of the same size.

:func:`run_coupled_study` runs one coupled simulation per point ``(eta, N)``
and reduces it to the numbers above, so one run serves every chapter.
Results are cached under a key derived from the full configuration.
:func:`particle_count_points` and :func:`scaling_points` build the point
lists, and :func:`fit_power_law_two_variables` separates the dependence on
``N`` and ``eta``.
"""

import json
import math
import numbers
import time as clock
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from skt_lib._validation import (
    as_finite_array,
    check_choice,
    check_nonnegative,
    check_positive,
    check_positive_int,
    check_real,
)
from skt_lib.convergence import (
    PowerLawFit,
    fit_power_law,
    piecewise_linear_cdf,
    piecewise_linear_quantiles,
    wasserstein2,
    wasserstein2_to_density,
)
from skt_lib.coupling import estimate_error, simulate_coupled
from skt_lib.experiments import config_key, write_npz_atomically
from skt_lib.nonlinearity import Nonlinearity
from skt_lib.parameters import ModelParameters
from skt_lib.pde import (
    cell_centers,
    gaussian_density,
    kernel_convolution,
    solve_cross_diffusion,
)

#: Path-wise distances measured by :func:`simulate_coupled`, with the
#: attribute of :class:`skt_lib.coupling.CoupledPaths` that stores each.
DISTANCES = {
    "particle-intermediate": "sup_particle_intermediate",
    "intermediate-macroscopic": "sup_intermediate_macroscopic",
    "particle-macroscopic": "sup_particle_macroscopic",
}
#: Systems whose final positions are compared with the PDE densities.
SYSTEMS = ("particle", "intermediate", "macroscopic")
#: PDE densities at the final time: ``u_eta`` of (7) and ``u`` of (1).
REFERENCES = ("nonlocal", "local")
POOLINGS = ("species", "particle")
NONLINEARITIES = ("linear", "square")
#: Statistics of a distance returned by :meth:`CoupledStudy.error`.
STATISTICS = ("species-sum", "max")

#: Coefficients of the theory setting: small ``a_ij`` against ``sigma_i``.
THEORY_DIFFUSION = (0.5, 0.75)
THEORY_INTERACTION = ((0.2, 0.4), (0.3, 0.1))
THEORY_MEANS = (-0.5, 0.5)
THEORY_VARIANCES = (0.25, 0.25)

#: Entropy word that separates the noise-floor samples from the streams of
#: the initial data and the Brownian increments, which derive from the seed.
_FLOOR_STREAM = 1


@dataclass(frozen=True)
class CoupledSetting:
    """Initial data and numerics shared by the points of a study.

    Attributes
    ----------
    means, variances : tuple of float
        Gaussian initial law of each species.
    final_time, time_step : float
        ``T`` and the Euler-Maruyama step.
    domain : tuple of float
        PDE interval, which must contain the mass up to ``T``.
    cells : int
        PDE cells.
    pde_tolerance : float
        Local error tolerance of the adaptive PDE solves.
    histogram_range : tuple of float
        Interval of the histograms of the final positions.
    histogram_bins : int
        Number of equal bins on ``histogram_range``.
    """

    means: tuple
    variances: tuple
    final_time: float
    time_step: float
    domain: tuple
    cells: int
    pde_tolerance: float = 1e-7
    histogram_range: tuple = (-6.0, 6.0)
    histogram_bins: int = 96

    def __post_init__(self):
        means = as_finite_array("means", self.means, ndim=1)
        variances = as_finite_array("variances", self.variances, ndim=1)
        if means.size == 0 or means.size != variances.size:
            msg = (f"means and variances must have equal, nonzero lengths, got {means.size} "
                   f"and {variances.size}")
            raise ValueError(msg)
        if np.any(variances <= 0):
            msg = f"variances must be > 0, got {variances.tolist()}"
            raise ValueError(msg)
        object.__setattr__(self, "means", tuple(means.tolist()))
        object.__setattr__(self, "variances", tuple(variances.tolist()))
        object.__setattr__(self, "final_time", check_positive("final_time", self.final_time))
        object.__setattr__(self, "time_step", check_positive("time_step", self.time_step))
        object.__setattr__(self, "domain", _check_interval("domain", self.domain))
        object.__setattr__(self, "cells", check_positive_int("cells", self.cells))
        object.__setattr__(self, "pde_tolerance",
                           check_positive("pde_tolerance", self.pde_tolerance))
        object.__setattr__(self, "histogram_range",
                           _check_interval("histogram_range", self.histogram_range))
        object.__setattr__(self, "histogram_bins",
                           check_positive_int("histogram_bins", self.histogram_bins))

    @property
    def n_species(self):
        """Number of species."""
        return len(self.means)

    def histogram_edges(self):
        """Return the ``histogram_bins + 1`` bin edges."""
        return np.linspace(*self.histogram_range, self.histogram_bins + 1)

    def with_time_step(self, time_step):
        """Return a copy with another Euler-Maruyama step."""
        return replace(self, time_step=time_step)

    def to_config(self):
        """Return the setting as a JSON-ready dict."""
        return {key: list(value) if isinstance(value, tuple) else value
                for key, value in asdict(self).items()}


def _check_interval(name, interval):
    values = as_finite_array(name, interval, ndim=1)
    if values.size != 2 or not values[0] < values[1]:
        msg = f"{name} must be a pair (a, b) with a < b, got {interval!r}"
        raise ValueError(msg)
    return (float(values[0]), float(values[1]))


def theory_setting(*, time_step=0.01, final_time=0.5, cells=2048):
    """Return the setting of the theory chapters: two Gaussians, whole-line interval.

    The initial Gaussians have means ``-0.5`` and ``0.5`` and variance
    ``0.25``. Under the dispersing drift ``+x`` a species' variance grows
    like ``e^(2t)``. At ``T = 0.5`` it is about 2.5, so the interval
    ``[-10, 10]`` contains the mass to more than six standard deviations.
    """
    return CoupledSetting(
        means=THEORY_MEANS, variances=THEORY_VARIANCES, final_time=final_time,
        time_step=time_step, domain=(-10.0, 10.0), cells=cells,
    )


def power_cutoff_nonlinearity(radius, *, alpha, power=2.0):
    """Return ``f(s) = s^power`` cut off where its slope reaches ``radius^-alpha``.

    The threshold ``s_c = (radius^-alpha / power)^(1 / (power - 1))`` is the
    largest for which ``f_eta`` is Lipschitz with constant ``radius^-alpha``,
    as the theory requires, and the linear continuation beyond it is
    continuously differentiable. ``s_c`` grows without bound as the radius
    shrinks when ``alpha > 0``.
    """
    radius = check_positive("radius", radius)
    alpha = check_nonnegative("alpha", alpha)
    power = check_positive("power", power)
    if power <= 1.0:
        msg = f"power must be > 1 for a cut-off at a finite slope, got {power!r}"
        raise ValueError(msg)
    threshold = (radius ** (-alpha) / power) ** (1.0 / (power - 1.0))
    return Nonlinearity(power=power, threshold=threshold, alpha=alpha)


def theory_parameters(radius, *, nonlinearity="linear", alpha=0.0):
    """Return the two-species coefficients of the theory at interaction radius ``radius``.

    The potential is ``U(x) = -x^2 / 2`` (dispersing), the kernel has unit
    mass, ``sigma = (0.5, 0.75)`` and ``a = [[0.2, 0.4], [0.3, 0.1]]``.

    Parameters
    ----------
    radius : float
        ``eta > 0``.
    nonlinearity : {"linear", "square"}
        ``f(s) = s`` (globally Lipschitz, ``alpha = 0``), or ``f(s) = s^2``
        with the cut-off of :func:`power_cutoff_nonlinearity`.
    alpha : float
        Exponent of the Lipschitz bound ``eta^-alpha`` of ``f_eta``; must be
        0 for the linear ``f``.
    """
    check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    alpha = check_nonnegative("alpha", alpha)
    if nonlinearity == "linear":
        if alpha != 0.0:
            msg = f"alpha must be 0 for the linear f, which is globally Lipschitz, got {alpha!r}"
            raise ValueError(msg)
        function = Nonlinearity()
    else:
        function = power_cutoff_nonlinearity(radius, alpha=alpha)
    return ModelParameters(diffusion=THEORY_DIFFUSION, interaction=THEORY_INTERACTION,
                           radius=radius, nonlinearity=function, potential=-1.0)


def particle_count_points(radius, largest, levels, *, minimum=2):
    """Return points ``(radius, N)`` with ``N = largest, largest / 2, ...``, smallest ``N`` first.

    ``levels`` counts are generated by halving (rounded down). Counts below
    ``minimum`` are dropped, so fewer points are returned for a small
    ``largest``.
    """
    radius = check_positive("radius", radius)
    largest = check_positive_int("largest", largest)
    levels = check_positive_int("levels", levels)
    minimum = check_positive_int("minimum", minimum)
    if largest < minimum:
        msg = f"largest must be >= minimum, got largest={largest} and minimum={minimum}"
        raise ValueError(msg)
    counts = sorted({largest >> level for level in range(levels) if largest >> level >= minimum})
    return [(radius, count) for count in counts]


def scaling_points(radii, largest, exponents, *, minimum=2):
    """Return points on the curves ``N = N_0 (eta_max / eta)^k``, one curve per exponent ``k``.

    All curves start from the same ``N_0`` at the largest radius, and the
    curve of the largest exponent reaches ``N = largest`` at the smallest
    radius, so ``N_0 = largest (eta_min / eta_max)^(k_max)``. Counts are
    rounded and raised to at least ``minimum``. Points shared by several
    curves (at least the largest radius) are listed once.

    Returns
    -------
    points : list of (float, int)
        Distinct points, ordered by decreasing radius and then increasing ``N``.
    curves : dict
        For each exponent, the indices into ``points`` of its curve, in order
        of decreasing radius.
    """
    radii = _check_radii(radii)
    largest = check_positive_int("largest", largest)
    minimum = check_positive_int("minimum", minimum)
    exponents = as_finite_array("exponents", exponents, ndim=1)
    if exponents.size == 0 or np.any(exponents < 0):
        msg = f"exponents must be a nonempty list of numbers >= 0, got {exponents.tolist()}"
        raise ValueError(msg)
    smallest, widest = radii.min(), radii.max()
    start = largest * (smallest / widest) ** exponents.max()
    pairs = {}
    for exponent in exponents.tolist():
        curve = []
        for radius in sorted(set(radii.tolist()), reverse=True):
            count = max(minimum, round(start * (widest / radius) ** exponent))
            curve.append((radius, int(count)))
        pairs[exponent] = curve
    points = sorted({point for curve in pairs.values() for point in curve},
                    key=lambda point: (-point[0], point[1]))
    index = {point: position for position, point in enumerate(points)}
    curves = {exponent: [index[point] for point in curve] for exponent, curve in pairs.items()}
    return points, curves


def _check_radii(radii):
    radii = as_finite_array("radii", radii, ndim=1)
    if radii.size == 0 or np.any(radii <= 0):
        msg = f"radii must be a nonempty list of numbers > 0, got {radii.tolist()}"
        raise ValueError(msg)
    return radii


def scaling_relation_log10_particles(radius, delta, *, dimension=1, alpha=0.0):
    """Return the smallest ``log10 N`` allowed by ``eta^-(2 (d + 1 + alpha)) <= delta log N``.

    The scaling relation (9) is ``N >= exp(eta^-(2 (d + 1 + alpha)) / delta)``.
    The logarithm is returned because ``N`` overflows a float already for
    moderate ``eta``.
    """
    radius = check_positive("radius", radius)
    delta = check_positive("delta", delta)
    dimension = check_positive_int("dimension", dimension)
    alpha = check_nonnegative("alpha", alpha)
    exponent = 2.0 * (dimension + 1.0 + alpha)
    return radius ** (-exponent) / (delta * math.log(10.0))


def sample_from_density(x, density, size, rng):
    """Draw ``size`` points from a density given at grid points, linear between them.

    The same piecewise linear density is used by
    :func:`skt_lib.convergence.wasserstein2_to_density`, so a sample drawn
    here measures that function's Monte Carlo floor exactly.
    """
    size = check_positive_int("size", size)
    return piecewise_linear_quantiles(x, density, rng.random(size))


def bin_probabilities(x, density, edges):
    """Return the mass of each bin and the mass outside ``[edges[0], edges[-1]]``.

    The density is linear between the grid points ``x``, zero outside
    ``[x[0], x[-1]]``, and normalised to mass 1.

    Returns
    -------
    probabilities : ndarray of shape (bins,)
    outside : float
    """
    x, density, cumulative = piecewise_linear_cdf(x, density)
    edges = as_finite_array("edges", edges, ndim=1)
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        msg = f"edges must be at least 2 strictly increasing values, got {edges.tolist()}"
        raise ValueError(msg)
    clipped = np.clip(edges, x[0], x[-1])
    index = np.clip(np.searchsorted(x, clipped, side="right") - 1, 0, x.size - 2)
    offset = clipped - x[index]
    slope = (density[index + 1] - density[index]) / (x[index + 1] - x[index])
    partial = density[index] * offset + 0.5 * slope * offset**2
    at_edges = np.clip(cumulative[index] + partial, 0.0, 1.0)
    probabilities = np.diff(at_edges)
    outside = float(max(0.0, 1.0 - (at_edges[-1] - at_edges[0])))
    return probabilities, outside


def histogram_l1_distance(sample, edges, probabilities, outside):
    """Return the ``L^1`` distance between a sample's histogram and binned probabilities.

    Both sides are compared bin by bin as masses, and the mass outside the
    bins counts as one more bin. The value lies in ``[0, 2]``.
    """
    sample = as_finite_array("sample", sample, ndim=1)
    if sample.size == 0:
        msg = "sample must not be empty"
        raise ValueError(msg)
    counts, outside_count = _histogram(sample, edges)
    return _l1_from_counts(counts, outside_count, sample.size, probabilities, outside)


def _histogram(sample, edges):
    counts, _ = np.histogram(sample, bins=edges)
    return counts, int(sample.size - counts.sum())


def _l1_from_counts(counts, outside_count, size, probabilities, outside):
    return float(np.abs(counts / size - probabilities).sum() + abs(outside_count / size - outside))


@dataclass(frozen=True)
class SamplingFloor:
    """Distances of i.i.d. samples of a density from that density (Monte Carlo floor).

    Attributes
    ----------
    w2_mean, w2_std : float
        Mean and standard deviation, over the repeats, of ``W_2`` between a
        sample of the given size and the density.
    w2_two_samples : float
        Mean ``W_2`` between two independent samples of that size; about
        ``sqrt(2)`` times ``w2_mean``.
    l1_mean : float
        Mean ``L^1`` distance between a sample's histogram and the binned
        density (:func:`histogram_l1_distance`); ``nan`` without bins.
    size, repeats : int
    """

    w2_mean: float
    w2_std: float
    w2_two_samples: float
    l1_mean: float
    size: int
    repeats: int


def sampling_floor(x, density, size, *, repeats=4, seed=None, edges=None, quantile_points=None):
    """Measure the distances that sampling alone puts between a sample and its density.

    A sample of ``size`` points, even drawn exactly from the density, is
    about ``size^-1/2`` away in ``W_2`` (up to a logarithmic factor for
    unbounded support). A measured distance at or below this floor carries
    no information about the bias of the sample's law.

    Parameters
    ----------
    x, density : array_like of shape (m,)
        Grid points and nonnegative density values.
    size : int
        Sample size, the size of the sample being judged.
    repeats : int
        Independent samples averaged.
    seed : int, SeedSequence or None
        Seed of the samples.
    edges : array_like, optional
        Histogram bin edges for the ``L^1`` floor.
    quantile_points : int, optional
        Passed to :func:`wasserstein2_to_density`; ``max(4096, size)`` by default.

    Returns
    -------
    SamplingFloor
    """
    size = check_positive_int("size", size)
    repeats = check_positive_int("repeats", repeats)
    quantile_points = max(4096, size) if quantile_points is None else quantile_points
    rng = np.random.default_rng(seed)
    binned = bin_probabilities(x, density, edges) if edges is not None else None
    to_density, two_samples, l1 = [], [], []
    for _ in range(repeats):
        first = sample_from_density(x, density, size, rng)
        second = sample_from_density(x, density, size, rng)
        to_density.append(wasserstein2_to_density(first, x, density,
                                                  quantile_points=quantile_points))
        two_samples.append(wasserstein2(first, second))
        if binned is not None:
            l1.append(histogram_l1_distance(first, edges, *binned))
    spread = float(np.std(to_density, ddof=1)) if repeats > 1 else float("nan")
    return SamplingFloor(
        w2_mean=float(np.mean(to_density)), w2_std=spread,
        w2_two_samples=float(np.mean(two_samples)),
        l1_mean=float(np.mean(l1)) if l1 else float("nan"), size=size, repeats=repeats,
    )


def marginal_sample(final_positions, species, *, pooling="species", particle=0):
    """Return a sample of the law of one particle of ``species`` at the final time.

    Parameters
    ----------
    final_positions : ndarray of shape (runs, n_species, N)
    species : int
        0-based species index.
    pooling : {"species", "particle"}
        ``"species"`` pools all particles of the species over all runs
        (``runs * N`` values). The particles of one run are exchangeable, so
        each has the same law, but they are not independent: the pooled
        sample is a correlated sample of that law. ``"particle"`` takes
        particle ``particle`` from every run (``runs`` independent values).
    particle : int
        Particle index for ``pooling="particle"``.
    """
    positions = np.asarray(final_positions, dtype=float)
    if positions.ndim != 3:
        msg = f"final_positions must have shape (runs, n_species, N), got {positions.shape}"
        raise ValueError(msg)
    check_choice("pooling", pooling, POOLINGS)
    if not 0 <= species < positions.shape[1]:
        msg = f"species must be in [0, {positions.shape[1] - 1}], got {species!r}"
        raise ValueError(msg)
    if pooling == "species":
        return positions[:, species, :].reshape(-1)
    if not 0 <= particle < positions.shape[2]:
        msg = f"particle must be in [0, {positions.shape[2] - 1}], got {particle!r}"
        raise ValueError(msg)
    return positions[:, species, particle].copy()


@dataclass
class CoupledStudy:
    """Errors and distances of coupled simulations at points ``(eta, N)``.

    Attributes
    ----------
    arrays : dict of str to ndarray
        With ``P`` points, ``n`` species, ``c`` PDE cells and ``b`` bins:

        * ``"radius"``, ``"particles"``, ``"wall_seconds"``: shape (P,);
        * ``"<distance>.mean"``, ``".mean_std_error"``, ``".max"``,
          ``".max_std_error"``: :class:`skt_lib.coupling.ErrorEstimate` of
          each distance in :data:`DISTANCES`, shape (P,);
        * ``"<distance>.species_mean"``, ``".species_mean_std_error"``:
          ``E sup_t |.|^2`` per species (average over particles, standard
          error over runs), shape (P, n);
        * ``"w2.<system>.<reference>"``: ``W_2`` between the final positions
          of a system in :data:`SYSTEMS` and a PDE density in
          :data:`REFERENCES`, shape (P, n);
        * ``"floor.w2.<reference>"``, ``".w2_std"``, ``".w2_two_samples"``,
          ``".l1"``: the :class:`SamplingFloor` for a sample of the same
          size, shape (P, n);
        * ``"l1.<system>.<reference>"``: histogram ``L^1`` distance, shape (P, n);
        * ``"histogram_counts"`` (P, 3, n, b) and ``"histogram_outside"``
          (P, 3, n): histograms of the final positions of the three systems;
          ``"histogram_edges"`` (b + 1,);
        * ``"x"`` (c,) and ``"density.<reference>"`` (P, n, c): the PDE
          densities at the final time.
    config : dict
        The configuration the cache key is derived from.
    record : dict
        ``wall_time_seconds`` of the computation and whether it was loaded
        from the cache.
    """

    arrays: dict
    config: dict
    record: dict = field(default_factory=dict)

    @property
    def radii(self):
        """Interaction radius ``eta`` of each point."""
        return self.arrays["radius"]

    @property
    def particle_counts(self):
        """``N`` of each point."""
        return self.arrays["particles"]

    @property
    def runs(self):
        """Independent runs per point."""
        return int(self.config["runs"])

    @property
    def n_species(self):
        """Number of species."""
        return self.arrays["w2.particle.local"].shape[1]

    def sample_sizes(self):
        """Return the size of each point's pooled sample per species, shape (P,)."""
        if self.config.get("pooling", "species") == "particle":
            return np.full(self.radii.shape, self.runs)
        return self.particle_counts * self.runs

    def error(self, distance, statistic="species-sum"):
        """Return an estimate of ``E sup_t |.|^2`` and its standard error, each of shape (P,).

        ``"species-sum"`` is the sum over species of the per-particle
        expectation, estimated by averaging over particles and runs. The
        particles of a species are exchangeable, so this equals the
        supremum over particles in the statements of Lemma 9, Lemma 10 and
        Theorem 5. ``"max"`` is that supremum taken literally over noisy
        per-particle means, which biases it upwards by a few standard
        errors, more so for larger ``N``.
        """
        check_choice("distance", distance, tuple(DISTANCES))
        check_choice("statistic", statistic, STATISTICS)
        if statistic == "max":
            return self.arrays[f"{distance}.max"], self.arrays[f"{distance}.max_std_error"]
        n = self.n_species
        return n * self.arrays[f"{distance}.mean"], n * self.arrays[f"{distance}.mean_std_error"]

    def fit(self, distance, *, against, statistic="species-sum", indices=None):
        """Fit ``error ~ c x^rate`` with ``x`` the particle count or the radius.

        Parameters
        ----------
        distance : str
            A key of :data:`DISTANCES`.
        against : {"particles", "radius"}
        statistic : {"species-sum", "max"}
        indices : sequence of int, optional
            Points to fit (all by default).

        Returns
        -------
        skt_lib.convergence.PowerLawFit
        """
        check_choice("against", against, ("particles", "radius"))
        values, _ = self.error(distance, statistic)
        x = self.particle_counts if against == "particles" else self.radii
        selection = np.arange(x.size) if indices is None else np.asarray(indices, dtype=int)
        return fit_power_law(x[selection].astype(float), values[selection])

    def subset(self, indices):
        """Return the study restricted to the points ``indices``, in that order.

        ``config`` and ``record`` are shared with the full study and still
        describe all of its points.
        """
        indices = np.asarray(indices, dtype=int)
        points = self.radii.size
        arrays = {key: value[indices] if value.ndim and value.shape[0] == points
                  and key not in ("x", "histogram_edges") else value
                  for key, value in self.arrays.items()}
        return CoupledStudy(arrays, self.config, dict(self.record))

    def point_rows(self, distances=tuple(DISTANCES)):
        """Return one table row per point: ``eta``, ``N`` and each error with its standard error."""
        rows = []
        for point in range(self.radii.size):
            row = {"eta": float(self.radii[point]), "N": int(self.particle_counts[point])}
            for distance in distances:
                value, error = self.error(distance)
                row[distance] = f"{value[point]:.3g} ± {error[point]:.2g}"
            rows.append(row)
        return rows


def run_coupled_study(points, make_parameters, setting, *, runs, seed, cache_dir=None,
                      pooling="species", floor_repeats=4, progress=False):
    """Run :func:`simulate_coupled` at each point ``(eta, N)`` and measure every distance.

    Parameters
    ----------
    points : sequence of (float, int)
        Interaction radius ``eta`` and particle count ``N`` per point.
    make_parameters : callable
        ``make_parameters(eta)`` returns the 1D :class:`ModelParameters`
        with ``radius == eta``, for example :func:`theory_parameters`.
    setting : CoupledSetting
        Initial data and numerics.
    runs : int
        Independent runs per point, at least 2.
    seed : int
        Seed of the initial data and the noise of every point, and of the
        noise-floor samples. Points with equal ``N`` share their initial data
        and Brownian increments.
    cache_dir : path-like, optional
        Folder of the cached result. A study whose configuration, including
        the library version, matches a stored one is loaded instead of run.
    pooling : {"species", "particle"}
        Sample of the one-particle law, see :func:`marginal_sample`.
    floor_repeats : int
        Samples averaged by :func:`sampling_floor`.
    progress : bool
        Show a progress bar over the points.

    Returns
    -------
    CoupledStudy
    """
    points = _check_points(points)
    if not isinstance(setting, CoupledSetting):
        msg = f"setting must be a CoupledSetting, got {setting!r}"
        raise TypeError(msg)
    runs = check_positive_int("runs", runs)
    if runs < 2:
        msg = f"runs must be >= 2 for standard errors over runs, got {runs}"
        raise ValueError(msg)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        msg = f"seed must be an integer >= 0 (studies are cached by seed), got {seed!r}"
        raise TypeError(msg)
    if seed < 0:
        msg = f"seed must be an integer >= 0, got {seed!r}"
        raise ValueError(msg)
    seed = int(seed)
    check_choice("pooling", pooling, POOLINGS)
    floor_repeats = check_positive_int("floor_repeats", floor_repeats)
    if floor_repeats < 2:
        msg = f"floor_repeats must be >= 2 for a spread of the floor, got {floor_repeats}"
        raise ValueError(msg)
    parameters = [_checked_parameters(make_parameters, radius, setting) for radius, _ in points]
    config = {
        "study": "coupled",
        "points": [[radius, count] for radius, count in points],
        "particles": max(count for _, count in points),
        "runs": runs,
        "seed": seed,
        "setting": setting.to_config(),
        "parameters": [_parameters_config(p) for p in parameters],
        "pooling": pooling,
        "floor_repeats": floor_repeats,
    }
    cache_path = None
    if cache_dir is not None:
        cache_path = Path(cache_dir) / f"coupled-study-{config_key(config)}.npz"
        if cache_path.exists():
            return load_coupled_study(cache_path)

    started = clock.perf_counter()
    measurements = []
    # Points with equal parameters (for example all points of a sweep over N)
    # share their PDE densities at the final time.
    densities = {}
    for index, ((radius, count), model) in enumerate(
            tqdm(list(zip(points, parameters)), desc="coupled points", disable=not progress)):
        key = json.dumps(config["parameters"][index], sort_keys=True)
        if key not in densities:
            densities[key] = solve_final_densities(model, setting)
        measurements.append(_measure_point(model, count, setting, densities[key], runs=runs,
                                           seed=seed, point_index=index, pooling=pooling,
                                           floor_repeats=floor_repeats))
    arrays = _stack_measurements(measurements, points, setting)
    record = {"wall_time_seconds": clock.perf_counter() - started, "cached": False}
    study = CoupledStudy(arrays, config, record)
    if cache_path is not None:
        write_npz_atomically(cache_path, config=json.dumps(config), record=json.dumps(record),
                             **{f"array:{key}": value for key, value in arrays.items()})
    return study


def load_coupled_study(path):
    """Read a study written by :func:`run_coupled_study`, with ``record["cached"]`` set to True."""
    with np.load(path) as data:
        config = json.loads(str(data["config"]))
        record = json.loads(str(data["record"]))
        arrays = {key.removeprefix("array:"): data[key] for key in data.files
                  if key.startswith("array:")}
    record["cached"] = True
    return CoupledStudy(arrays, config, record)


def _check_points(points):
    checked = []
    for point in points:
        if not isinstance(point, (tuple, list)) or len(point) != 2:
            msg = f"each point must be a pair (radius, particles), got {point!r}"
            raise ValueError(msg)
        checked.append((check_positive("radius", point[0]),
                        check_positive_int("particles", point[1])))
    if not checked:
        msg = "points must not be empty"
        raise ValueError(msg)
    return checked


def _checked_parameters(make_parameters, radius, setting):
    parameters = make_parameters(radius)
    if not isinstance(parameters, ModelParameters) or parameters.dimension != 1:
        msg = f"make_parameters({radius!r}) must return 1D ModelParameters, got {parameters!r}"
        raise TypeError(msg)
    if not math.isclose(parameters.radius, radius, rel_tol=1e-12):
        msg = (f"make_parameters({radius!r}) returned radius {parameters.radius!r}, but it "
               "must set the radius it is given")
        raise ValueError(msg)
    if parameters.n_species != setting.n_species:
        msg = (f"make_parameters returned {parameters.n_species} species but the setting has "
               f"initial data for {setting.n_species}")
        raise ValueError(msg)
    return parameters


def _parameters_config(parameters):
    return {
        "diffusion": parameters.diffusion.tolist(),
        "interaction": parameters.interaction.tolist(),
        "radius": parameters.radius,
        "normalization": parameters.normalization,
        "nonlinearity": parameters.nonlinearity.to_config(),
        "potential": parameters.potential,
    }


def solve_final_densities(parameters, setting):
    """Solve (7) and (1) up to the final time and return ``x`` and both densities.

    The densities have shape (n_species, cells) and are keyed by
    :data:`REFERENCES`.

    Same initial data, interval, cells and tolerance as
    :func:`simulate_coupled`, but with output at the final time only, so the
    adaptive steps, and the densities within the tolerance, can differ.
    """
    x = cell_centers(setting.domain, setting.cells)
    initial = np.array([gaussian_density(x, mean, variance)
                        for mean, variance in zip(setting.means, setting.variances)])
    densities = {}
    for reference in REFERENCES:
        solution = solve_cross_diffusion(
            initial, parameters, system="skt", equation=reference, domain=setting.domain,
            final_time=setting.final_time, tolerance=setting.pde_tolerance,
        )
        densities[reference] = np.maximum(solution.density[-1], 0.0)
    return x, densities


def largest_nonlinearity_argument(parameters, setting, *, samples=21):
    """Return the largest argument ``B_ij^eta * u_eta,j`` that ``f_eta`` receives in (7).

    The nonlocal system is solved with output at ``samples`` equally spaced
    times in ``[0, T]`` (including both ends), and the maximum over those
    times, the cells and all pairs ``(i, j)`` is returned. Comparing it with
    the cut-off threshold shows whether ``f_eta`` differs from ``f`` anywhere
    the particles go. Values between output times are not checked.
    """
    samples = check_positive_int("samples", samples)
    if samples < 2:
        msg = f"samples must be >= 2 to include 0 and the final time, got {samples}"
        raise ValueError(msg)
    x = cell_centers(setting.domain, setting.cells)
    initial = np.array([gaussian_density(x, mean, variance)
                        for mean, variance in zip(setting.means, setting.variances)])
    solution = solve_cross_diffusion(
        initial, parameters, system="skt", equation="nonlocal", domain=setting.domain,
        final_time=setting.final_time, tolerance=setting.pde_tolerance,
        output_times=np.linspace(0.0, setting.final_time, samples),
    )
    return float(max(kernel_convolution(np.maximum(density, 0.0), parameters,
                                        domain=setting.domain).max()
                     for density in solution.density))


def _measure_point(parameters, count, setting, final_densities, *, runs, seed, point_index,
                   pooling, floor_repeats):
    started = clock.perf_counter()
    paths = simulate_coupled(
        parameters, means=setting.means, variances=setting.variances, particles=count,
        runs=runs, time_step=setting.time_step, final_time=setting.final_time,
        domain=setting.domain, cells=setting.cells, seed=seed,
        pde_tolerance=setting.pde_tolerance,
    )
    x, densities = final_densities
    edges = setting.histogram_edges()
    n = setting.n_species
    result = {"x": x}
    for distance, attribute in DISTANCES.items():
        squared = getattr(paths, attribute)
        estimate = estimate_error(squared)
        per_run = squared.mean(axis=2)
        result[f"{distance}.mean"] = estimate.mean
        result[f"{distance}.mean_std_error"] = estimate.mean_std_error
        result[f"{distance}.max"] = estimate.max_over_particles
        result[f"{distance}.max_std_error"] = estimate.max_std_error
        result[f"{distance}.species_mean"] = per_run.mean(axis=0)
        result[f"{distance}.species_mean_std_error"] = per_run.std(axis=0, ddof=1) / math.sqrt(runs)
    counts = np.zeros((len(SYSTEMS), n, edges.size - 1))
    outside = np.zeros((len(SYSTEMS), n))
    samples = {}
    for s, system in enumerate(SYSTEMS):
        for i in range(n):
            sample = marginal_sample(paths.final[system], i, pooling=pooling)
            samples[system, i] = sample
            counts[s, i], outside[s, i] = _histogram(sample, edges)
    size = next(iter(samples.values())).size
    quantile_points = max(4096, size)
    for reference in REFERENCES:
        result[f"density.{reference}"] = densities[reference]
        floors = [
            sampling_floor(x, densities[reference][i], size, repeats=floor_repeats, edges=edges,
                           seed=np.random.SeedSequence([seed, _FLOOR_STREAM, point_index,
                                                        REFERENCES.index(reference), i]))
            for i in range(n)
        ]
        result[f"floor.w2.{reference}"] = np.array([floor.w2_mean for floor in floors])
        result[f"floor.w2_std.{reference}"] = np.array([floor.w2_std for floor in floors])
        result[f"floor.w2_two_samples.{reference}"] = np.array(
            [floor.w2_two_samples for floor in floors])
        result[f"floor.l1.{reference}"] = np.array([floor.l1_mean for floor in floors])
        binned = [bin_probabilities(x, densities[reference][i], edges) for i in range(n)]
        for s, system in enumerate(SYSTEMS):
            result[f"w2.{system}.{reference}"] = np.array([
                wasserstein2_to_density(samples[system, i], x, densities[reference][i],
                                        quantile_points=quantile_points)
                for i in range(n)
            ])
            result[f"l1.{system}.{reference}"] = np.array([
                _l1_from_counts(counts[s, i], outside[s, i], size, *binned[i]) for i in range(n)
            ])
    result["histogram_counts"] = counts
    result["histogram_outside"] = outside
    result["wall_seconds"] = clock.perf_counter() - started
    return result


def _stack_measurements(measurements, points, setting):
    arrays = {
        "radius": np.array([radius for radius, _ in points], dtype=float),
        "particles": np.array([count for _, count in points], dtype=int),
        "x": measurements[0]["x"],
        "histogram_edges": setting.histogram_edges(),
    }
    for key in measurements[0]:
        if key != "x":
            arrays[key] = np.array([measurement[key] for measurement in measurements])
    return arrays


@dataclass(frozen=True)
class FreeMotionBias:
    """Discretisation errors of the one-particle law without interaction.

    Attributes
    ----------
    euler_maruyama : ndarray of shape (n_species,)
        ``W_2`` between the law of the Euler-Maruyama chain at ``T`` and the
        exact Gaussian law of the SDE.
    finite_volume : ndarray of shape (n_species,)
        ``W_2`` between the finite-volume solution at ``T`` and the same
        Gaussian.
    combined : ndarray of shape (n_species,)
        ``W_2`` between the law of the chain and the finite-volume solution:
        the distance that an infinite sample of the chain keeps from the
        computed density.
    """

    euler_maruyama: np.ndarray
    finite_volume: np.ndarray
    combined: np.ndarray


def free_motion_bias(setting, diffusion, *, potential=-1.0, quantile_points=20000):
    """Measure the bias of both discretisations for ``dX = -c X dt + sqrt(2 sigma) dW``.

    Without interaction the SDE, its Euler-Maruyama chain and the PDE all
    have Gaussian laws or solutions with known moments. With ``q = 1 - c h``
    after ``m`` steps the chain has mean ``q^m mu_0`` and variance
    ``q^(2m) v_0 + 2 sigma h sum_(k<m) q^(2k)``, against ``e^(-cT) mu_0`` and
    ``e^(-2cT) v_0 + sigma (1 - e^(-2cT)) / c`` for the SDE. The same
    steps and grid as :func:`simulate_coupled` are used, so the two numbers
    show how far a sample of the particle systems can get from the PDE
    density through discretisation alone.

    Parameters
    ----------
    setting : CoupledSetting
    diffusion : array_like of shape (n_species,)
        ``sigma_i``.
    potential : float
        ``c`` of ``U(x) = c x^2 / 2``.
    quantile_points : int
        Midpoint nodes of the quantile integral of ``W_2``.

    Returns
    -------
    FreeMotionBias
    """
    from scipy.stats import norm

    from skt_lib.particles import build_time_grid

    if not isinstance(setting, CoupledSetting):
        msg = f"setting must be a CoupledSetting, got {setting!r}"
        raise TypeError(msg)
    diffusion = as_finite_array("diffusion", diffusion, ndim=1)
    if diffusion.size != setting.n_species or np.any(diffusion <= 0):
        msg = (f"diffusion must contain {setting.n_species} values > 0, one per species, "
               f"got {diffusion.tolist()}")
        raise ValueError(msg)
    quantile_points = check_positive_int("quantile_points", quantile_points)
    c = check_real("potential", potential)
    steps, _ = build_time_grid(setting.final_time, setting.time_step, [setting.final_time])
    means = np.array(setting.means)
    variances = np.array(setting.variances)
    chain_mean, chain_variance = means.copy(), variances.copy()
    for h in steps:
        q = 1.0 - c * h
        chain_mean = q * chain_mean
        chain_variance = q**2 * chain_variance + 2.0 * diffusion * h
    decay = math.exp(-c * setting.final_time)
    exact_mean = decay * means
    if c != 0.0:
        spread = diffusion * (1.0 - decay**2) / c
    else:
        spread = 2.0 * diffusion * setting.final_time
    exact_variance = decay**2 * variances + spread
    euler_maruyama = np.hypot(chain_mean - exact_mean,
                              np.sqrt(chain_variance) - np.sqrt(exact_variance))

    parameters = ModelParameters(diffusion=diffusion, interaction=np.zeros((diffusion.size,) * 2),
                                 radius=1.0, potential=c)
    x = cell_centers(setting.domain, setting.cells)
    initial = np.array([gaussian_density(x, mean, variance)
                        for mean, variance in zip(setting.means, setting.variances)])
    solution = solve_cross_diffusion(initial, parameters, system="skt", equation="local",
                                     domain=setting.domain, final_time=setting.final_time,
                                     tolerance=setting.pde_tolerance)
    levels = (np.arange(quantile_points) + 0.5) / quantile_points
    standard = norm.ppf(levels)
    finite_volume = np.empty(diffusion.size)
    combined = np.empty(diffusion.size)
    for i in range(diffusion.size):
        computed = piecewise_linear_quantiles(x, np.maximum(solution.density[-1, i], 0.0), levels)
        exact = exact_mean[i] + math.sqrt(exact_variance[i]) * standard
        chain = chain_mean[i] + math.sqrt(chain_variance[i]) * standard
        finite_volume[i] = math.sqrt(np.mean((computed - exact) ** 2))
        combined[i] = math.sqrt(np.mean((computed - chain) ** 2))
    return FreeMotionBias(euler_maruyama, finite_volume, combined)


@dataclass(frozen=True)
class TwoVariablePowerLawFit:
    """Least-squares fit of ``log y = log c + rate_1 log x_1 + rate_2 log x_2``.

    Attributes
    ----------
    rates, rate_std_errors : tuple of float
        Fitted exponents of ``x_1`` and ``x_2`` and their standard errors
        (``nan`` with three points).
    prefactor : float
        ``c``.
    """

    rates: tuple
    rate_std_errors: tuple
    prefactor: float


def fit_power_law_two_variables(first, second, values):
    """Fit ``values ~ c first^rate_1 second^rate_2`` by least squares in log coordinates.

    Used to separate the dependence of the Lemma 9 error on ``N`` and on
    ``eta`` when both vary along a study.

    Parameters
    ----------
    first, second, values : array_like of shape (k,)
        Positive values, at least three points, with ``log first`` and
        ``log second`` not collinear.
    """
    arrays = [as_finite_array(name, value, ndim=1)
              for name, value in (("first", first), ("second", second), ("values", values))]
    if len({array.shape for array in arrays}) != 1 or arrays[0].size < 3:
        shapes = [array.shape for array in arrays]
        msg = f"first, second and values must have equal shapes of at least 3 points, got {shapes}"
        raise ValueError(msg)
    if any(np.any(array <= 0) for array in arrays):
        msg = "first, second and values must be > 0 for a log-log fit"
        raise ValueError(msg)
    logs = [np.log(array) for array in arrays]
    design = np.column_stack([np.ones_like(logs[0]), logs[0], logs[1]])
    if np.linalg.matrix_rank(design) < 3:
        msg = "log first and log second are collinear, so the two rates cannot be separated"
        raise ValueError(msg)
    coefficients, _, _, _ = np.linalg.lstsq(design, logs[2], rcond=None)
    if arrays[0].size > 3:
        residuals = logs[2] - design @ coefficients
        variance = residuals @ residuals / (arrays[0].size - 3)
        covariance = variance * np.linalg.inv(design.T @ design)
        errors = (float(np.sqrt(covariance[1, 1])), float(np.sqrt(covariance[2, 2])))
    else:
        errors = (float("nan"), float("nan"))
    return TwoVariablePowerLawFit((float(coefficients[1]), float(coefficients[2])), errors,
                                  float(np.exp(coefficients[0])))


@dataclass(frozen=True)
class TimeStepComparison:
    """An error estimated at two time steps.

    Attributes
    ----------
    coarse, fine : float
        Estimates at the step ``h`` and at ``h / 2``.
    difference : float
        ``coarse - fine``.
    std_error : float
        Standard error of the difference (independent runs at the two steps).
    relative_difference : float
        ``difference / fine``.
    """

    coarse: float
    fine: float
    difference: float
    std_error: float
    relative_difference: float


def compare_time_steps(coarse_study, fine_study, distance, *, coarse_index=0, fine_index=0):
    """Compare the species-sum error of one point computed at two time steps.

    The two studies draw their noise from the same seed but with different
    numbers of steps, so their Brownian paths differ and the two estimates
    are independent.
    """
    coarse, coarse_error = (values[coarse_index] for values in coarse_study.error(distance))
    fine, fine_error = (values[fine_index] for values in fine_study.error(distance))
    difference = float(coarse - fine)
    return TimeStepComparison(float(coarse), float(fine), difference,
                              float(math.hypot(coarse_error, fine_error)),
                              difference / float(fine))


def plot_power_law(axis, x, values, std_errors, fit, *, label, color=None, marker="o",
                   fit_line=True, fit_label="fit", tick_values=True):
    """Plot estimates with one-standard-error bars and the fitted line in log-log axes.

    The legend entry of the line, ``fit_label`` followed by the fitted rate
    and its standard error, names the fit. With ``tick_values`` the x axis is labelled at the values of
    ``x`` (at most 8 of them) instead of at powers of ten. Returns the error
    bar container.
    """
    x = np.asarray(x, dtype=float)
    values = np.asarray(values, dtype=float)
    lower = np.minimum(np.asarray(std_errors, dtype=float), values * (1 - 1e-9))
    container = axis.errorbar(x, values, yerr=[lower, std_errors], fmt=marker, color=color,
                              capsize=3, label=label, markersize=5)
    if fit_line and fit is not None:
        grid = np.geomspace(x.min(), x.max(), 50)
        axis.plot(grid, fit.prefactor * grid**fit.rate, "-", color=container[0].get_color(),
                  alpha=0.7, label=f"{fit_label}: slope {fit.rate:.2f} ± {_format_error(fit)}")
    axis.set_xscale("log")
    axis.set_yscale("log")
    ticks = np.unique(x)
    if tick_values and ticks.size <= 8:
        from matplotlib.ticker import NullFormatter

        axis.set_xticks(ticks, [f"{tick:g}" for tick in ticks])
        axis.xaxis.set_minor_formatter(NullFormatter())
    return container


def _format_error(fit):
    return "n/a" if not math.isfinite(fit.rate_std_error) else f"{fit.rate_std_error:.2g}"


def plot_reference_slope(axis, x, anchor_x, anchor_y, rate, *, label, color="0.4"):
    """Draw ``anchor_y (x / anchor_x)^rate`` over the range of ``x`` as a dashed line."""
    x = np.asarray(x, dtype=float)
    grid = np.geomspace(x.min(), x.max(), 50)
    axis.plot(grid, anchor_y * (grid / anchor_x) ** rate, "--", color=color, label=label)


def rate_clause(fit, predicted, *, tolerance_std_errors=2.0):
    """Return a clause such as ``"agrees with -1.00 (0.2 standard errors apart)"``.

    The rates agree when they differ by at most ``tolerance_std_errors``
    standard errors of the fit. A fit through two points has no standard
    error, and the clause states that instead of a verdict.
    """
    if not isinstance(fit, PowerLawFit):
        msg = f"fit must be a PowerLawFit, got {fit!r}"
        raise TypeError(msg)
    if not math.isfinite(fit.rate_std_error) or fit.rate_std_error == 0:
        return f"cannot be compared with {predicted:.2f} without a standard error"
    distance = abs(fit.rate - predicted) / fit.rate_std_error
    verdict = "agrees with" if distance <= tolerance_std_errors else "differs from"
    return f"{verdict} {predicted:.2f} ({distance:.1f} standard errors apart)"


def rate_sentence(fit, predicted, *, quantity, tolerance_std_errors=2.0):
    """Return a sentence comparing a fitted rate with a predicted one (see :func:`rate_clause`)."""
    clause = rate_clause(fit, predicted, tolerance_std_errors=tolerance_std_errors)
    error = "n/a" if not math.isfinite(fit.rate_std_error) else f"{fit.rate_std_error:.2f}"
    return f"The fitted slope of {quantity} is {fit.rate:.2f} ± {error}, which {clause}."
