"""The two-species experiment of Figure 1 in two dimensions: runs, densities, figure.

Chen, Daus, Holzinger and Jüngel (2020) state their theory in ``R^d`` but
simulate only on the line. This module reruns their first experiment
(``sigma = (1, 2)``, ``a = ((0, 355), (25, 0))``, no potential,
``f(s) = s``, ``t = 2``) in the plane, with isotropic Gaussian initial data of
variance 2 per coordinate centred at ``(-1, 0)`` and ``(1, 0)``.

Densities are 2D histograms on a square window, normalised like the 1D
estimates of :mod:`skt_lib.density`. Counts are divided by the total number
of particles of a species (runs times ``N``) and the cell area. So each
estimate integrates to the fraction of mass inside the window, and the
fraction outside is reported next to it.
"""

import logging
import math
import numbers
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from skt_lib._validation import (
    as_finite_array,
    check_choice,
    check_positive,
    check_positive_int,
)
from skt_lib.density import DensityEstimate, check_window, overlap_matrix
from skt_lib.experiments import config_key, load_result, save_result
from skt_lib.kernels import NORMALIZATIONS
from skt_lib.nonlinearity import Nonlinearity
from skt_lib.parameters import ModelParameters
from skt_lib.particles import MODELS, sample_gaussian_initial, simulate_particles
from skt_lib.plotting import MODEL_TITLES, SPECIES_STYLES

logger = logging.getLogger(__name__)

#: Coefficients of Figure 1 of Chen, Daus, Holzinger and Jüngel (2020), initial data in the plane.
TWO_SPECIES_2D = {
    "diffusion": [1.0, 2.0],
    "interaction": [[0.0, 355.0], [25.0, 0.0]],
    "initial": [
        {"mean": [-1.0, 0.0], "variance": 2.0},
        {"mean": [1.0, 0.0], "variance": 2.0},
    ],
    "final_time": 2.0,
}

#: Colour maps of the density images, matching the line colours of the 1D figures.
SPECIES_COLORMAPS = ("Blues", "Reds", "Greens", "Purples")


# ---------------------------------------------------------------------------
# Density estimates and summaries
# ---------------------------------------------------------------------------


class DensityEstimate2D(DensityEstimate):
    """Histogram densities of each species on a uniform square grid.

    The fields are those of :class:`skt_lib.density.DensityEstimate`, with
    ``density`` and ``counts`` of shape (n_species, bins, bins): index
    ``[i, ix, iy]`` is species ``i`` in cell ``ix`` along the first
    coordinate and cell ``iy`` along the second.
    """

    @property
    def cell_area(self):
        """Cell area, ``width ** 2``."""
        return self.cell_volume


def check_positions_2d(positions):
    """Return ``positions`` as a float array of shape (runs, n_species, N, 2), or raise."""
    positions = as_finite_array("positions", positions, ndim=4)
    if positions.shape[-1] != 2:
        msg = (f"positions must have shape (runs, n_species, N, 2) with a last axis of "
               f"length 2, got shape {positions.shape}")
        raise ValueError(msg)
    if 0 in positions.shape:
        msg = f"positions must have at least one run, species and particle, got shape {positions.shape}"
        raise ValueError(msg)
    return positions


def histogram_density_2d(positions, *, lower, upper, bins):
    """Estimate each species' density in the plane from positions of many runs.

    Parameters
    ----------
    positions : array_like of shape (runs, n_species, N, 2)
        Particle positions. The last axis contains the coordinates.
    lower, upper : float
        Square window ``[lower, upper]^2`` (length units). Points on the edge
        ``upper`` count in the last cell.
    bins : int
        Number of equal cells along each axis.

    Returns
    -------
    DensityEstimate2D
    """
    positions = check_positions_2d(positions)
    lower, upper, bins = check_window(lower, upper, bins)
    runs, n_species, n_particles, _ = positions.shape
    total = runs * n_particles
    edges = np.linspace(lower, upper, bins + 1)
    width = edges[1] - edges[0]
    counts = np.empty((n_species, bins, bins), dtype=np.int64)
    outside = np.empty(n_species)
    for species in range(n_species):
        points = positions[:, species].reshape(-1, 2)
        inside = np.all((points >= lower) & (points <= upper), axis=1)
        # Clamping puts points on the upper edge, and points that rounding
        # moves to index ``bins``, into the last cell.
        cell = np.minimum(((points[inside] - lower) / width).astype(np.int64), bins - 1)
        flat = cell[:, 0] * bins + cell[:, 1]
        counts[species] = np.bincount(flat, minlength=bins * bins).reshape(bins, bins)
        outside[species] = (total - counts[species].sum()) / total
    density = counts / (total * width**2)
    return DensityEstimate2D(edges, density, counts, outside, total)


def overlap_matrix_2d(estimate):
    """Return ``O_ij``, the integral of ``min(u_i, u_j)`` over the window.

    For densities of mass 1, ``O_ij`` is 1 for identical densities and 0 for
    disjoint supports, so a smaller value means stronger segregation. The
    diagonal contains each species' mass inside the window. Histogram noise
    biases the off-diagonal values downwards, more so for fine cells and few
    samples, so compare overlaps only at equal run sizes and cells.
    """
    if not isinstance(estimate, DensityEstimate2D):
        msg = f"estimate must be a DensityEstimate2D, got {type(estimate).__name__}"
        raise TypeError(msg)
    return overlap_matrix(estimate)


def gaussian_overlap_2d(means, variances, *, points=1201):
    """Return the integral of ``min(g_1, g_2)`` for two isotropic Gaussian densities in the plane.

    ``g_i`` has mean ``means[i]`` and variance ``variances[i]`` per
    coordinate. The integral is a midpoint sum on a square grid of
    ``points`` x ``points`` cells that extends 10 standard deviations beyond
    both means. With the default grid the sum is within 1e-4 of the closed
    form for equal variances (checked in the tests), far below the sampling
    noise of :func:`overlap_matrix_2d`, for which it is the reference.
    """
    means = as_finite_array("means", means, ndim=2)
    variances = as_finite_array("variances", variances, ndim=1)
    if means.shape != (2, 2) or variances.shape != (2,):
        msg = (f"means must have shape (2, 2) and variances shape (2,), got "
               f"{means.shape} and {variances.shape}")
        raise ValueError(msg)
    if np.any(variances <= 0):
        msg = f"variances must be > 0, got {variances.tolist()}"
        raise ValueError(msg)
    points = check_positive_int("points", points)
    reach = 10.0 * math.sqrt(variances.max())
    lower = means.min(axis=0) - reach
    upper = means.max(axis=0) + reach
    side = float(np.max(upper - lower))
    width = side / points
    x = lower[0] + width * (np.arange(points) + 0.5)
    y = lower[1] + width * (np.arange(points) + 0.5)
    grid_x, grid_y = np.meshgrid(x, y, indexing="ij")
    densities = [
        np.exp(-((grid_x - mean[0]) ** 2 + (grid_y - mean[1]) ** 2) / (2.0 * variance))
        / (2.0 * math.pi * variance)
        for mean, variance in zip(means, variances)
    ]
    return float(np.minimum(*densities).sum() * width**2)


def species_means(positions):
    """Return the mean position of each species over all runs, shape (n_species, 2)."""
    positions = check_positions_2d(positions)
    return positions.mean(axis=(0, 2))


@dataclass(frozen=True)
class RadialProfile:
    """Circular averages of each species' density around a centre.

    Attributes
    ----------
    centre : ndarray of shape (2,)
        Centre of the annuli.
    edges : ndarray of shape (bins + 1,)
        Annulus radii, from 0 to the maximum radius.
    density : ndarray of shape (n_species, bins)
        Particles per annulus divided by (runs * N * annulus area).
    outside_fraction : ndarray of shape (n_species,)
        Fraction of the particles farther than ``edges[-1]`` from the centre.
    """

    centre: np.ndarray
    edges: np.ndarray
    density: np.ndarray
    outside_fraction: np.ndarray

    @property
    def centers(self):
        """Mid-radii of the annuli, shape (bins,)."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    def peak_radius(self, species):
        """Return the mid-radius of the annulus where ``species`` is densest."""
        return float(self.centers[np.argmax(self.density[species])])

    def disc_density(self, species, radius):
        """Return the mean density of ``species`` in the disc of ``radius`` around the centre.

        ``radius`` must be one of the annulus edges ``edges[1:]``, because the
        profile does not resolve the density inside an annulus.
        """
        radius = check_positive("radius", radius)
        matches = np.flatnonzero(np.isclose(self.edges[1:], radius, rtol=1e-12, atol=0.0))
        if matches.size == 0:
            msg = (f"radius must be one of the annulus edges {self.edges[1:].tolist()}, "
                   f"got {radius!r}")
            raise ValueError(msg)
        last = matches[0] + 1
        areas = np.pi * np.diff(self.edges[: last + 1] ** 2)
        return float((self.density[species, :last] * areas).sum() / (np.pi * radius**2))


def radial_profile(positions, centre, *, max_radius, bins):
    """Average each species' density over annuli around ``centre``.

    A species that gathers on a ring or crescent around ``centre`` has its
    maximum at a radius > 0, while a species centred there peaks in the
    innermost annulus.

    Parameters
    ----------
    positions : array_like of shape (runs, n_species, N, 2)
        Particle positions.
    centre : array_like of shape (2,)
        Centre of the annuli.
    max_radius : float
        Outer radius of the last annulus (length units); the annuli have
        equal widths.
    bins : int
        Number of annuli.

    Returns
    -------
    RadialProfile
    """
    positions = check_positions_2d(positions)
    centre = as_finite_array("centre", centre, ndim=1)
    if centre.shape != (2,):
        msg = f"centre must have shape (2,), got {centre.shape}"
        raise ValueError(msg)
    max_radius = check_positive("max_radius", max_radius)
    bins = check_positive_int("bins", bins)
    runs, n_species, n_particles, _ = positions.shape
    total = runs * n_particles
    edges = np.linspace(0.0, max_radius, bins + 1)
    areas = np.pi * (edges[1:] ** 2 - edges[:-1] ** 2)
    density = np.empty((n_species, bins))
    outside = np.empty(n_species)
    for species in range(n_species):
        offsets = positions[:, species].reshape(-1, 2) - centre
        distance = np.hypot(offsets[:, 0], offsets[:, 1])
        counts, _ = np.histogram(distance, bins=edges)
        density[species] = counts / (total * areas)
        outside[species] = np.count_nonzero(distance > max_radius) / total
    return RadialProfile(centre, edges, density, outside)


# ---------------------------------------------------------------------------
# Cached runs
# ---------------------------------------------------------------------------


def experiment_config_2d(*, model, particles, runs, time_step, radius, seed,
                         normalization="unit-mass"):
    """Return the validated configuration of the two-species experiment in the plane.

    Parameters
    ----------
    model : {"skt", "drift"}
        Particle system.
    particles, runs : int
        Particles per species and independent Monte Carlo runs.
    time_step, radius : float
        Euler-Maruyama step (time) and interaction radius ``eta`` (length).
    seed : int
        Seed ``>= 0`` of the initial data and the noise. ``None`` is not
        allowed, because a cached result must be reproducible.
    normalization : {"unit-mass", "literal"}
        Kernel normalisation, see :mod:`skt_lib.kernels`.

    Returns
    -------
    dict
        Plain data, the same keys as a resolved 1D configuration of
        :mod:`skt_lib.config` plus ``"experiment"``.
    """
    check_choice("model", model, MODELS)
    particles = check_positive_int("particles", particles)
    runs = check_positive_int("runs", runs)
    time_step = check_positive("time_step", time_step)
    radius = check_positive("radius", radius)
    check_choice("normalization", normalization, NORMALIZATIONS)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        msg = f"seed must be an integer >= 0, got {seed!r} of type {type(seed).__name__}"
        raise TypeError(msg)
    if seed < 0:
        msg = f"seed must be an integer >= 0, got {seed!r}"
        raise ValueError(msg)
    final_time = TWO_SPECIES_2D["final_time"]
    return {
        "experiment": "two-species-2d",
        "model": model,
        "dimension": 2,
        "diffusion": list(TWO_SPECIES_2D["diffusion"]),
        "interaction": [list(row) for row in TWO_SPECIES_2D["interaction"]],
        "radius": radius,
        "kernel_normalization": normalization,
        "nonlinearity": Nonlinearity().to_config(),
        "potential": "none",
        "initial": [{"mean": list(entry["mean"]), "variance": entry["variance"]}
                    for entry in TWO_SPECIES_2D["initial"]],
        "particles": particles,
        "runs": runs,
        "time_step": time_step,
        "final_time": final_time,
        "output_times": [final_time],
        "seed": int(seed),
    }


def parameters_2d(config):
    """Return the :class:`ModelParameters` of a configuration from :func:`experiment_config_2d`."""
    return ModelParameters(
        diffusion=config["diffusion"],
        interaction=config["interaction"],
        radius=config["radius"],
        normalization=config["kernel_normalization"],
        dimension=2,
    )


def run_simulation_2d(config, *, cache_dir=None, progress=None):
    """Run the experiment of ``config``, or load it from ``cache_dir`` if it ran before.

    Parameters
    ----------
    config : dict
        A configuration returned by :func:`experiment_config_2d`.
    cache_dir : str or Path, optional
        Folder of cached results. The file name is
        :func:`skt_lib.experiments.config_key` of ``config``, which hashes the
        configuration with the library version.
    progress : bool or None
        Progress bar, see :func:`skt_lib.particles.simulate_particles`.

    Returns
    -------
    ParticleSimulation
        Positions of shape (1, runs, 2, N, 2). ``record["config"]`` contains
        ``config``, and ``record["cached"]`` is True when the result was
        loaded from the cache.
    """
    if not isinstance(config, dict) or config.get("experiment") != "two-species-2d":
        msg = ("config must be a mapping returned by experiment_config_2d, got "
               f"{type(config).__name__}")
        raise TypeError(msg)
    parameters = parameters_2d(config)
    cache_path = None
    if cache_dir is not None:
        cache_path = Path(cache_dir) / f"{config_key(config)}.npz"
        if cache_path.is_file():
            logger.info("loading cached result %s", cache_path)
            result = load_result(cache_path, parameters=parameters)
            result.record["cached"] = True
            return result
    initial = sample_gaussian_initial(
        [entry["mean"] for entry in config["initial"]],
        [entry["variance"] for entry in config["initial"]],
        runs=config["runs"], particles=config["particles"], seed=config["seed"],
    )
    result = simulate_particles(
        initial, parameters, model=config["model"], time_step=config["time_step"],
        final_time=config["final_time"], output_times=config["output_times"],
        seed=config["seed"], progress=progress,
    )
    result.record["config"] = config
    result.record["cached"] = False
    if cache_path is not None:
        save_result(result, cache_path)
    return result


def run_two_species_2d(*, particles, runs, time_step, radius, seed,
                       normalization="unit-mass", models=MODELS, cache_dir=None,
                       progress=None):
    """Simulate the two-species experiment in the plane for each particle model.

    Both models use the same seed, so they start from the same positions.

    Returns
    -------
    dict
        ``{model: ParticleSimulation}``.
    """
    results = {}
    for model in models:
        config = experiment_config_2d(
            model=model, particles=particles, runs=runs, time_step=time_step,
            radius=radius, seed=seed, normalization=normalization,
        )
        results[model] = run_simulation_2d(config, cache_dir=cache_dir, progress=progress)
    return results


def initial_peak_density(dimension, variance=2.0):
    """Return the maximum of a Gaussian density with ``variance`` per coordinate.

    It is ``(2 pi variance)^(-d/2)``: about 0.282 on the line and 0.0796 in
    the plane for variance 2. Multiplied by ``a_ij`` it is the largest value
    of the cross-diffusion term ``a_ij u_j`` at time 0.
    """
    check_choice("dimension", dimension, (1, 2))
    variance = check_positive("variance", variance)
    return (2.0 * math.pi * variance) ** (-dimension / 2)


# ---------------------------------------------------------------------------
# Figure
# ---------------------------------------------------------------------------


def plot_two_species_2d(estimates, *, profiles=None, models=MODELS, style="image",
                        time_value=None):
    """Plot each species' density as an image, one column per model.

    Row ``i`` shows species ``i + 1`` for every model on a common colour
    scale, so the columns compare directly. With ``profiles``, a last row
    shows the radial profiles of all species and each image marks their
    centre with a cross.

    Parameters
    ----------
    estimates : dict
        ``estimates[model]`` is a :class:`DensityEstimate2D`; all share one grid.
    profiles : dict, optional
        ``profiles[model]`` is a :class:`RadialProfile`.
    models : sequence of str
        Particle models, one column each, in this order.
    style : {"image", "contour"}
        Cell-wise image or filled contours with eight levels.
    time_value : float, optional
        Time shown in the column titles.

    Returns
    -------
    matplotlib.figure.Figure
    """
    check_choice("style", style, ("image", "contour"))
    models = list(models)
    if not models:
        msg = "models must list at least one model"
        raise ValueError(msg)
    missing = [model for model in models if model not in estimates]
    if missing:
        msg = f"estimates has no entry for models {missing}; it has {sorted(estimates)}"
        raise ValueError(msg)
    if profiles is not None:
        missing = [model for model in models if model not in profiles]
        if missing:
            msg = f"profiles has no entry for models {missing}; it has {sorted(profiles)}"
            raise ValueError(msg)
    first = estimates[models[0]]
    for model in models[1:]:
        other = estimates[model]
        if other.density.shape != first.density.shape or not np.array_equal(other.edges, first.edges):
            msg = (f"estimates must share one grid, but {model!r} has shape "
                   f"{other.density.shape} on [{other.edges[0]}, {other.edges[-1]}] and "
                   f"{models[0]!r} has {first.density.shape} on [{first.edges[0]}, {first.edges[-1]}]")
            raise ValueError(msg)

    n_species = first.density.shape[0]
    rows = n_species + (profiles is not None)
    fig, axes = plt.subplots(
        rows, len(models), figsize=(4.6 * len(models) + 1.2, 4.0 * rows),
        squeeze=False, layout="constrained",
    )
    for species in range(n_species):
        _plot_species_row(fig, axes[species], estimates, profiles, models, species, style)
    for column, model in enumerate(models):
        title = MODEL_TITLES.get(model, model)
        if time_value is not None:
            title = f"{title}, t = {time_value:g}"
        axes[0, column].set_title(title, fontsize=9)
    if profiles is not None:
        for column, model in enumerate(models):
            _plot_profiles(axes[-1, column], profiles[model])
    return fig


def _plot_species_row(fig, row_axes, estimates, profiles, models, species, style):
    colormap = SPECIES_COLORMAPS[species % len(SPECIES_COLORMAPS)]
    top = max(float(estimates[model].density[species].max()) for model in models)
    if top <= 0.0:
        # No particle of this species is inside the window, so any positive
        # scale shows the empty image.
        top = 1.0
    for axis, model in zip(row_axes, models):
        estimate = estimates[model]
        lower, upper = estimate.edges[0], estimate.edges[-1]
        values = estimate.density[species].T  # rows of an image run along the second coordinate
        if style == "image":
            artist = axis.imshow(values, origin="lower", extent=(lower, upper, lower, upper),
                                 cmap=colormap, vmin=0.0, vmax=top, interpolation="nearest")
        else:
            artist = axis.contourf(estimate.centers, estimate.centers, values,
                                   levels=np.linspace(0.0, top, 9), cmap=colormap)
        if profiles is not None:
            centre = profiles[model].centre
            axis.plot(centre[0], centre[1], marker="+", color="black", markersize=9)
        axis.set_aspect("equal")
        axis.set_xlabel("$x_1$")
        axis.set_ylabel("$x_2$")
        axis.text(0.03, 0.95, f"species {species + 1}", transform=axis.transAxes,
                  fontsize=9, va="top")
    fig.colorbar(artist, ax=list(row_axes), label=f"density of species {species + 1}",
                 shrink=0.9)


def _plot_profiles(axis, profile):
    for species, density in enumerate(profile.density):
        style = SPECIES_STYLES[species % len(SPECIES_STYLES)]
        axis.plot(profile.centers, density, label=f"species {species + 1}", **style)
    axis.set_xlabel("distance r from the cross")
    axis.set_ylabel("density averaged over the circle")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
