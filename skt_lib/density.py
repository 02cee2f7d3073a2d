"""Density estimates from particle positions and a segregation measure.

Histograms are averaged over runs and normalised by the total number of
particles of a species (runs times ``N``) and the bin width, not by the count
inside the window. So each estimate integrates to the fraction of mass inside
the window, and the fraction outside is reported next to it.
"""

from dataclasses import dataclass

import numpy as np
from numba import prange

from skt_lib._jit import jit
from skt_lib._validation import as_finite_array, check_positive_int, check_real


#: Smallest height of a local maximum, as a fraction of the highest maximum
#: of the same density, that counts as a cluster (the default of
#: :func:`density_modes` and of the PDE maxima in :mod:`skt_lib.comparison`).
#: At t = 2 the nonlocal mean-field solution of Figure 1 (eta = 2, unit-mass
#: kernel, 2048 cells) has a second maximum of species 1 near x = 9 at 6 % of
#: its highest value, which a cut-off of 20 % would drop although the figure
#: shows that peak.
CLUSTER_MIN_RELATIVE_HEIGHT = 0.05


@dataclass(frozen=True)
class DensityEstimate:
    """Histogram densities of each species on a uniform grid.

    Attributes
    ----------
    edges : ndarray of shape (bins + 1,)
        Bin edges (along every axis in more than one dimension).
    density : ndarray of shape (n_species, bins) or (n_species, bins, ..., bins)
        Counts divided by (runs * N * cell volume); one axis of length
        ``bins`` per space dimension.
    counts : ndarray of the shape of ``density``
        Particle counts per cell, summed over runs.
    outside_fraction : ndarray of shape (n_species,)
        Fraction of the particles outside the window.
    total : int
        Particles per species over all runs (runs * N).
    """

    edges: np.ndarray
    density: np.ndarray
    counts: np.ndarray
    outside_fraction: np.ndarray
    total: int

    @property
    def centers(self):
        """Bin centres, shape (bins,)."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])

    @property
    def width(self):
        """Bin width."""
        return self.edges[1] - self.edges[0]

    @property
    def dimension(self):
        """Space dimension of the grid."""
        return self.density.ndim - 1

    @property
    def cell_volume(self):
        """Length, area or volume of one cell, ``width ** dimension``."""
        return self.width**self.dimension


def check_window(lower, upper, bins):
    """Return ``lower``, ``upper`` and ``bins`` of a histogram window, or raise ``ValueError``."""
    lower = check_real("lower", lower)
    upper = check_real("upper", upper)
    if upper <= lower:
        msg = f"upper must be > lower, got lower={lower!r}, upper={upper!r}"
        raise ValueError(msg)
    return lower, upper, check_positive_int("bins", bins)


@jit(parallel=True)
def _count_per_run(positions, lower, upper, bins):
    """Return counts of shape (runs, n_species, bins + 1); the last slot counts outside points."""
    runs, n_species, n_particles = positions.shape
    counts = np.zeros((runs, n_species, bins + 1), dtype=np.int64)
    width = (upper - lower) / bins
    for r in prange(runs):
        for i in range(n_species):
            for k in range(n_particles):
                x = positions[r, i, k]
                if x < lower or x > upper:
                    counts[r, i, bins] += 1
                else:
                    index = min(int((x - lower) / width), bins - 1)
                    counts[r, i, index] += 1
    return counts


def histogram_density(positions, *, lower, upper, bins):
    """Estimate each species' density from positions of many runs.

    Parameters
    ----------
    positions : ndarray of shape (runs, n_species, n_particles)
        Particle positions (1D).
    lower, upper : float
        Window ``[lower, upper]`` (length units); points on ``upper`` count in
        the last bin.
    bins : int
        Number of equal bins.

    Returns
    -------
    DensityEstimate

    Notes
    -----
    Each run is counted by one thread into its own row, and the rows are
    summed afterwards, so no count is lost or depends on the thread count.
    """
    positions = as_finite_array("positions", positions, ndim=3)
    lower, upper, bins = check_window(lower, upper, bins)
    runs, n_species, n_particles = positions.shape
    per_run = _count_per_run(np.ascontiguousarray(positions), lower, upper, bins)
    totals = per_run.sum(axis=0)
    counts = totals[:, :bins]
    total = runs * n_particles
    edges = np.linspace(lower, upper, bins + 1)
    density = counts / (total * (edges[1] - edges[0]))
    outside = totals[:, bins] / total
    return DensityEstimate(edges, density, counts, outside, total)


def overlap_matrix(estimate):
    """Return ``O_ij = integral of min(u_i, u_j)`` for the species densities.

    For densities of mass 1, ``O_ij`` is 1 for identical densities and 0 for
    disjoint supports, so a smaller value means stronger segregation. The
    diagonal contains each species' mass inside the window. The estimate may
    be of any dimension.
    """
    if not isinstance(estimate, DensityEstimate):
        msg = f"estimate must be a DensityEstimate, got {type(estimate).__name__}"
        raise TypeError(msg)
    density = estimate.density
    n_species = density.shape[0]
    overlap = np.empty((n_species, n_species))
    for i in range(n_species):
        for j in range(n_species):
            overlap[i, j] = np.minimum(density[i], density[j]).sum() * estimate.cell_volume
    return overlap


def density_modes(estimate, species, *, smoothing=1.0,
                  min_relative_height=CLUSTER_MIN_RELATIVE_HEIGHT):
    """Return the positions of the clusters (local maxima) of one species' density.

    The histogram is first smoothed with a Gaussian of standard deviation
    ``smoothing`` (length units), which removes Monte Carlo noise on the scale
    of a few bins. Local maxima lower than ``min_relative_height`` times the
    highest one are dropped.

    Returns
    -------
    ndarray
        Positions of the maxima, increasing.
    """
    if not isinstance(estimate, DensityEstimate) or estimate.dimension != 1:
        msg = f"estimate must be a 1D DensityEstimate, got {type(estimate).__name__}"
        raise TypeError(msg)
    smoothing = check_real("smoothing", smoothing)
    if smoothing <= 0:
        msg = f"smoothing must be > 0, got {smoothing!r}"
        raise ValueError(msg)
    if not 0 <= min_relative_height < 1:
        msg = f"min_relative_height must lie in [0, 1), got {min_relative_height!r}"
        raise ValueError(msg)
    density = estimate.density[species]
    offsets = np.arange(-4 * smoothing, 4 * smoothing + estimate.width, estimate.width)
    weights = np.exp(-0.5 * (offsets / smoothing) ** 2)
    smooth = np.convolve(density, weights / weights.sum(), mode="same")
    interior = (smooth[1:-1] > smooth[:-2]) & (smooth[1:-1] >= smooth[2:])
    peaks = np.flatnonzero(interior) + 1
    peaks = peaks[smooth[peaks] >= min_relative_height * smooth.max()]
    return estimate.centers[peaks]
