r"""Particle histograms beside the PDE solutions of the Section 7 experiments.

The Section 7 experiments of Chen, Daus, Holzinger and Jüngel (2020)
(:data:`skt_lib.experiments.PAPER_EXPERIMENTS`) simulate two particle
systems. This module solves the continuum equations that belong beside each:

* the SKT particles: the nonlocal SKT system (7) at the particles' radius
  ``eta`` and kernel normalisation, which is their ``N -> infinity`` limit at
  fixed ``eta``, and the local SKT system (1), the limit ``eta -> 0``;
* the drift particles: the nonlocal mean-field system
  ``d_t u_i = d_x(sigma_i d_x u_i + u_i sum_j d_x(B_ij^eta * u_j))`` at the
  same ``eta``. Its local form (2) is not solved here, because with the
  coefficients of these experiments it is ill-posed
  (:func:`meanfield_determinant` shows where).

:func:`histogram_l1_distance` compares a histogram with a PDE density in
``L^1`` after projecting both onto the histogram's bins, and
:func:`histogram_noise_floor` estimates the Monte Carlo part of that
distance. :func:`pde_density_maxima` finds the clusters of a PDE density, and
:func:`plot_pde_overlay` draws the histograms with the PDE curves on top.
"""

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import scipy.stats
from matplotlib.lines import Line2D

from skt_lib._validation import as_finite_array, check_choice, check_positive_int
from skt_lib.density import (
    CLUSTER_MIN_RELATIVE_HEIGHT,
    DensityEstimate,
    density_modes,
    histogram_density,
)
from skt_lib.experiments import PAPER_EXPERIMENTS
from skt_lib.parameters import ModelParameters, check_species_density
from skt_lib.particles import ParticleSimulation
from skt_lib.pde import (
    PDESolution,
    cell_centers,
    check_domain,
    gaussian_density,
    solve_cross_diffusion,
)
from skt_lib.plotting import MODEL_TITLES, SPECIES_STYLES

#: The PDEs solved beside each particle model: legend label, system, equation.
COMPANION_PDES = {
    "skt": (("nonlocal (7)", "skt", "nonlocal"), ("local (1)", "skt", "local")),
    "drift": (("nonlocal mean-field", "drift", "nonlocal"),),
}
#: Line style of each PDE curve in :func:`plot_pde_overlay`.
PDE_STYLES = {
    "nonlocal (7)": {"linestyle": "-", "linewidth": 1.4},
    "local (1)": {"linestyle": "--", "linewidth": 1.4},
    "nonlocal mean-field": {"linestyle": "-", "linewidth": 1.4},
}
#: Interval on which the experiments are solved. At eta = 2 every species of
#: the three experiments keeps less than 1e-6 of its mass in the outer 2 % of
#: the cells up to t = 2, so the no-flux boundary does not change the
#: whole-line solution (checked by the solver's boundary warning in the tests).
DEFAULT_DOMAIN = (-40.0, 40.0)


def experiment_parameters(name, *, radius=2.0, normalization="unit-mass"):
    """Return the :class:`ModelParameters` of a Section 7 experiment (no potential, f(s) = s)."""
    setting = _experiment_setting(name)
    return ModelParameters(diffusion=setting["diffusion"], interaction=setting["interaction"],
                           radius=radius, normalization=normalization)


def experiment_initial_density(name, x):
    """Evaluate the Gaussian initial densities of a Section 7 experiment at ``x``.

    Returns an array of shape (n_species, len(x)), each species of mass 1.
    """
    setting = _experiment_setting(name)
    return np.array([gaussian_density(x, entry["mean"], entry["variance"])
                     for entry in setting["initial"]])


def solve_experiment_pdes(name, *, cells, radius=2.0, normalization="unit-mass",
                          domain=DEFAULT_DOMAIN, tolerance=None, progress=None):
    """Solve the PDEs that belong beside the particles of a Section 7 experiment.

    Parameters
    ----------
    name : {"nonsymmetric", "symmetric", "three-species"}
        Experiment of Figure 1, 2 or 3.
    cells : int
        Finite-volume cells on ``domain`` (at least 3).
    radius, normalization
        Interaction radius ``eta`` and kernel normalisation of the nonlocal
        systems. Use the values of the particle runs.
    domain : pair of float
        Interval with no-flux ends. It must be wide enough for the
        whole-line problem: the solver warns (``RuntimeWarning``) when mass
        reaches its outer 2 %.
    tolerance : float, optional
        Local error tolerance of the adaptive BDF2 steps; the solver's
        default when ``None``.
    progress : bool or None
        Progress bars of the solver.

    Returns
    -------
    dict
        ``{model: {label: PDESolution}}`` with the models and labels of
        :data:`COMPANION_PDES`, each stored at the experiment's output times.
    """
    setting = _experiment_setting(name)
    cells = check_positive_int("cells", cells)
    if cells < 3:
        msg = f"cells must be >= 3, got {cells!r}"
        raise ValueError(msg)
    domain = check_domain(domain)
    parameters = experiment_parameters(name, radius=radius, normalization=normalization)
    initial = experiment_initial_density(name, cell_centers(domain, cells))
    output_times = list(setting["output_times"])
    solutions = {}
    for model, companions in COMPANION_PDES.items():
        solutions[model] = {}
        for label, system, equation in companions:
            solutions[model][label] = solve_cross_diffusion(
                initial, parameters, system=system, equation=equation, domain=domain,
                final_time=max(output_times), output_times=output_times,
                tolerance=tolerance, progress=progress,
            )
    return solutions


def _experiment_setting(name):
    if name not in PAPER_EXPERIMENTS:
        msg = f"name must be one of {sorted(PAPER_EXPERIMENTS)}, got {name!r}"
        raise ValueError(msg)
    return PAPER_EXPERIMENTS[name]


# --- Histograms against PDE densities ------------------------------------------------


@dataclass(frozen=True)
class HistogramDistance:
    """``L^1`` distance per species between a histogram and a PDE density on the same bins.

    Attributes
    ----------
    window : ndarray of shape (n_species,)
        ``sum_b |h_b - p_b| w_b`` over the bins of the window, where ``h_b``
        is the histogram density and ``p_b`` the PDE density averaged over bin
        ``b`` of width ``w_b``.
    histogram_outside : ndarray of shape (n_species,)
        Fraction of the particles outside the window.
    pde_outside : ndarray of shape (n_species,)
        PDE mass outside the window.
    """

    window: np.ndarray
    histogram_outside: np.ndarray
    pde_outside: np.ndarray

    @property
    def total(self):
        """Window distance plus ``|histogram_outside - pde_outside|``, shape (n_species,).

        This is the ``L^1`` distance of the two densities once both are
        replaced by their averages over the bins and over the outside of the
        window, a distance between probability measures of at most 2.
        """
        return self.window + np.abs(self.histogram_outside - self.pde_outside)


def bin_averages(density, domain, edges):
    """Average cell-centred PDE densities over the bins of a histogram.

    The finite-volume value of a cell is taken as the density's average over
    that cell, so the density is piecewise constant on the cells. Its
    integral over a bin is then exact: the sum, over the cells that the bin
    meets, of the cell value times the length of the overlap. Bins need not
    line up with the cells.

    Parameters
    ----------
    density : array_like of shape (n_species, cells)
        Densities on ``cells`` equal cells of ``domain``.
    domain : pair of float
        The interval ``(a, b)`` tiled by the cells.
    edges : array_like of shape (bins + 1,)
        Increasing bin edges inside ``domain``.

    Returns
    -------
    averages : ndarray of shape (n_species, bins)
        Mass in each bin divided by its width.
    outside : ndarray of shape (n_species,)
        Mass outside ``[edges[0], edges[-1]]``.
    """
    density = as_finite_array("density", density, ndim=2)
    a, b = check_domain(domain)
    edges = _check_edges(edges)
    if edges[0] < a or edges[-1] > b:
        msg = (f"edges must lie inside the domain {(a, b)}, got the window "
               f"[{edges[0]!r}, {edges[-1]!r}]; widen the PDE domain or narrow the bins")
        raise ValueError(msg)
    n_species, cells = density.shape
    dx = (b - a) / cells
    # Cut [a, b] at every cell edge and bin edge. Each piece lies in one cell
    # and in one bin, or outside the window (slot 0 left of it, slot bins + 1
    # right of it).
    points = np.union1d(a + dx * np.arange(cells + 1), edges)
    points = points[(points >= a) & (points <= b)]
    middles = 0.5 * (points[:-1] + points[1:])
    lengths = np.diff(points)
    cell = np.clip(np.floor((middles - a) / dx).astype(np.int64), 0, cells - 1)
    slot = np.searchsorted(edges, middles, side="right")
    bins = edges.size - 1
    masses = np.array([np.bincount(slot, weights=row[cell] * lengths, minlength=bins + 2)
                       for row in density])
    averages = masses[:, 1:-1] / np.diff(edges)
    outside = masses[:, 0] + masses[:, -1]
    return averages, outside


def binned_l1_distance(first, first_outside, second, second_outside, edges):
    """Return the :class:`HistogramDistance` of two densities given on the same bins.

    ``first`` and ``second`` are densities (mass per length) of shape
    (n_species, bins) on the bins of ``edges``. ``first_outside`` and
    ``second_outside`` are their masses outside the window. The distance is
    symmetric in its two arguments.
    """
    edges = _check_edges(edges)
    first = as_finite_array("first", first, ndim=2)
    second = as_finite_array("second", second, ndim=2)
    if first.shape != second.shape or first.shape[1] != edges.size - 1:
        msg = (f"first and second must both have shape (n_species, {edges.size - 1}) for "
               f"{edges.size - 1} bins, got {first.shape} and {second.shape}")
        raise ValueError(msg)
    first_outside = as_finite_array("first_outside", first_outside, ndim=1)
    second_outside = as_finite_array("second_outside", second_outside, ndim=1)
    if first_outside.shape != (first.shape[0],) or second_outside.shape != (first.shape[0],):
        msg = (f"first_outside and second_outside must have one value per species "
               f"({first.shape[0]}), got shapes {first_outside.shape} and "
               f"{second_outside.shape}")
        raise ValueError(msg)
    window = np.abs(first - second) @ np.diff(edges)
    return HistogramDistance(window, first_outside, second_outside)


def histogram_l1_distance(estimate, solution, time_value):
    """Compare a particle histogram with a PDE density, species by species, in ``L^1``.

    The PDE density at ``time_value`` is averaged over each bin of the
    histogram (:func:`bin_averages`), so both densities are compared at the
    histogram's resolution and the binning error of the PDE does not count.

    Parameters
    ----------
    estimate : DensityEstimate
        Histogram densities, for example from
        :func:`skt_lib.density.histogram_density`.
    solution : PDESolution
        A PDE solution on an interval that contains the histogram window,
        with the same number of species.
    time_value : float
        An output time of ``solution``.

    Returns
    -------
    HistogramDistance
    """
    _check_pair(estimate, solution)
    averages, outside = bin_averages(solution.at(time_value), solution.domain, estimate.edges)
    return binned_l1_distance(estimate.density, estimate.outside_fraction, averages, outside,
                              estimate.edges)


def histogram_noise_floor(estimate, solution, time_value):
    """Estimate the ``L^1`` distance that sampling noise alone gives, per species.

    For ``M`` independent particles with bin probabilities ``q_b`` (the PDE
    masses of the bins and of the outside), the count of bin ``b`` is binomial
    and ``E|count_b / M - q_b|`` has the closed form of de Moivre,
    ``2 (k + 1) (1 - q_b) P(count_b = k + 1) / M`` with ``k = floor(M q_b)``.
    The sum over the bins and the outside is the expected
    :attr:`HistogramDistance.total` of a histogram drawn from the PDE density
    itself. ``M`` is ``estimate.total`` (runs times ``N``).

    NOTE: the particles of one run interact, so they are exchangeable but not
    independent. The estimate treats them as independent, which propagation
    of chaos justifies only for large ``N``.
    """
    _check_pair(estimate, solution)
    averages, outside = bin_averages(solution.at(time_value), solution.domain, estimate.edges)
    samples = int(estimate.total)
    probabilities = np.concatenate([averages * np.diff(estimate.edges), outside[:, None]],
                                   axis=1)
    probabilities = np.clip(probabilities, 0.0, 1.0)
    return binomial_mean_absolute_deviation(probabilities, samples).sum(axis=1) / samples


def binomial_mean_absolute_deviation(probability, trials):
    """Return ``E|X - n p|`` for ``X`` binomial with ``n = trials`` and success ``probability``.

    Uses de Moivre's formula ``2 (k + 1) (1 - p) P(X = k + 1)`` with
    ``k = floor(n p)``. ``probability`` may be an array.
    """
    trials = check_positive_int("trials", trials)
    probability = as_finite_array("probability", probability)
    if np.any((probability < 0) | (probability > 1)):
        msg = (f"probability must lie in [0, 1], got values from {probability.min()!r} to "
               f"{probability.max()!r}")
        raise ValueError(msg)
    floor = np.floor(trials * probability)
    return (2.0 * (floor + 1.0) * (1.0 - probability)
            * scipy.stats.binom.pmf(floor + 1.0, trials, probability))


def _check_edges(edges):
    edges = as_finite_array("edges", edges, ndim=1)
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        msg = f"edges must be at least two increasing values, got {edges.tolist()!r}"
        raise ValueError(msg)
    return edges


def _check_pair(estimate, solution):
    if not isinstance(estimate, DensityEstimate):
        msg = f"estimate must be a DensityEstimate, got {type(estimate).__name__}"
        raise TypeError(msg)
    if not isinstance(solution, PDESolution):
        msg = f"solution must be a PDESolution, got {type(solution).__name__}"
        raise TypeError(msg)
    if estimate.density.shape[0] != solution.density.shape[1]:
        msg = (f"estimate has {estimate.density.shape[0]} species but solution has "
               f"{solution.density.shape[1]}")
        raise ValueError(msg)


def pde_l1_distance(first, second, time_value):
    """Return ``dx sum_j |u_ij - v_ij|`` per species for two solutions on the same grid."""
    for name, solution in (("first", first), ("second", second)):
        if not isinstance(solution, PDESolution):
            msg = f"{name} must be a PDESolution, got {type(solution).__name__}"
            raise TypeError(msg)
    if first.x.shape != second.x.shape or first.domain != second.domain:
        msg = (f"first and second must share their grid, got {first.x.size} cells on "
               f"{first.domain} and {second.x.size} cells on {second.domain}")
        raise ValueError(msg)
    if first.density.shape[1] != second.density.shape[1]:
        msg = (f"first and second must have the same number of species, got "
               f"{first.density.shape[1]} and {second.density.shape[1]}")
        raise ValueError(msg)
    difference = first.at(time_value) - second.at(time_value)
    return np.abs(difference).sum(axis=1) * first.dx


# --- Clusters of a PDE density -------------------------------------------------------


def density_maxima(x, density, *, min_relative_height=CLUSTER_MIN_RELATIVE_HEIGHT):
    """Return the positions of the local maxima of a density sampled on a uniform grid.

    A sample is a maximum when it is larger than its left neighbour and at
    least as large as its right one. Maxima below ``min_relative_height``
    times the largest sample are dropped, and each remaining position is
    refined by the vertex of the parabola through the sample and its two
    neighbours. Without the smoothing of
    :func:`skt_lib.density.density_modes`, this suits noise-free PDE
    densities, not histograms.

    Returns
    -------
    ndarray
        Positions of the maxima, increasing.
    """
    x = as_finite_array("x", x, ndim=1)
    density = as_finite_array("density", density, ndim=1)
    if x.shape != density.shape or x.size < 3:
        msg = (f"x and density must have the same shape with at least 3 samples, got "
               f"{x.shape} and {density.shape}")
        raise ValueError(msg)
    if not 0 <= min_relative_height < 1:
        msg = f"min_relative_height must lie in [0, 1), got {min_relative_height!r}"
        raise ValueError(msg)
    left, middle, right = density[:-2], density[1:-1], density[2:]
    peaks = np.flatnonzero((middle > left) & (middle >= right)) + 1
    peaks = peaks[density[peaks] >= min_relative_height * density.max()]
    curvature = density[peaks - 1] - 2.0 * density[peaks] + density[peaks + 1]
    slope = density[peaks + 1] - density[peaks - 1]
    shift = np.where(curvature < 0, -0.5 * slope / np.where(curvature < 0, curvature, 1.0), 0.0)
    spacing = x[1] - x[0]
    return x[peaks] + shift * spacing


def pde_density_maxima(solution, time_value, species, *,
                       min_relative_height=CLUSTER_MIN_RELATIVE_HEIGHT):
    """Return the cluster positions of one species of a PDE solution at ``time_value``.

    See :func:`density_maxima`; ``species`` is 0-based.
    """
    if not isinstance(solution, PDESolution):
        msg = f"solution must be a PDESolution, got {type(solution).__name__}"
        raise TypeError(msg)
    n_species = solution.density.shape[1]
    if isinstance(species, bool) or not isinstance(species, (int, np.integer)) or not (
            0 <= species < n_species):
        msg = f"species must be an integer in [0, {n_species - 1}], got {species!r}"
        raise ValueError(msg)
    return density_maxima(solution.x, solution.at(time_value)[species],
                          min_relative_height=min_relative_height)


# --- Mean-field system (2): where it is parabolic -------------------------------------


def meanfield_diffusion_matrices(density, parameters):
    """Return the diffusion matrices ``A(u)`` of the local mean-field system (2) in each cell.

    System (2) reads ``d_t u = d_x(A(u) d_x u)`` with
    ``A_ij(u) = sigma_i delta_ij + a_ij u_i``.

    Parameters
    ----------
    density : array_like of shape (n_species, cells)
        Non-negative densities.
    parameters : ModelParameters

    Returns
    -------
    ndarray of shape (cells, n_species, n_species)
    """
    density = check_species_density("density", density, parameters, nonnegative=True)
    matrices = density.T[:, :, None] * parameters.interaction[None, :, :]
    matrices += np.diag(parameters.diffusion)[None, :, :]
    return matrices


def meanfield_determinant(density, parameters):
    """Return ``det A(u)`` of the mean-field system (2) in each cell, shape (cells,).

    For two species without self-interaction this is
    ``sigma_1 sigma_2 - a_12 a_21 u_1 u_2``. The trace is positive, so one
    eigenvalue is negative (backward diffusion) wherever the determinant is.
    """
    return np.linalg.det(meanfield_diffusion_matrices(density, parameters))


def negative_intervals(x, values):
    """Return the intervals on which sampled ``values`` are negative, as ``(start, end)`` pairs.

    The ends are the zero crossings, found by linear interpolation between
    neighbouring samples. An interval that reaches the first or the last
    sample ends there.
    """
    x = as_finite_array("x", x, ndim=1)
    values = as_finite_array("values", values, ndim=1)
    if x.shape != values.shape or x.size < 2 or np.any(np.diff(x) <= 0):
        msg = (f"x must be increasing and values must have its shape (at least 2 samples), "
               f"got {x.shape} and {values.shape}")
        raise ValueError(msg)
    negative = values < 0
    changes = np.flatnonzero(np.diff(negative.astype(np.int8)))
    starts = list(changes[~negative[changes]] + 1)
    ends = list(changes[negative[changes]])
    if negative[0]:
        starts.insert(0, 0)
    if negative[-1]:
        ends.append(x.size - 1)
    intervals = []
    for start, end in zip(starts, ends, strict=True):
        intervals.append((_crossing(x, values, start - 1, start) if start > 0 else x[0],
                          _crossing(x, values, end, end + 1) if end < x.size - 1 else x[-1]))
    return [(float(a), float(b)) for a, b in intervals]


def _crossing(x, values, left, right):
    """Return the zero of the line through ``(x[left], values[left])`` and the right sample."""
    fraction = values[left] / (values[left] - values[right])
    return x[left] + fraction * (x[right] - x[left])


# --- Figure ----------------------------------------------------------------------------


def plot_pde_overlay(estimates, solutions, *, times, models=("skt", "drift"), xlim=None,
                     suptitle=None):
    """Plot particle histograms with the PDE densities on top.

    One row per output time and one column per particle model. Histograms are
    thin steps, one colour per species; the PDE densities are smooth lines in
    the same colour, with one line style per PDE (:data:`PDE_STYLES`).

    Parameters
    ----------
    estimates : dict
        ``estimates[model][time]`` is a :class:`DensityEstimate`.
    solutions : dict
        ``solutions[model][label]`` is a :class:`PDESolution` stored at every
        time of ``times``, as returned by :func:`solve_experiment_pdes`.
    times : sequence of float
        Output times, one row each.
    models : sequence of str
        Particle models, one column each.
    xlim : pair of float, optional
        Range of the x axis; the histogram window by default.
    suptitle : str, optional
        Title of the whole figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    times = [float(t) for t in times]
    models = list(models)
    if not times or not models:
        msg = f"times and models must be non-empty, got {times!r} and {models!r}"
        raise ValueError(msg)
    for model in models:
        if model not in estimates or model not in solutions:
            msg = (f"model {model!r} must be a key of estimates ({sorted(estimates)}) and of "
                   f"solutions ({sorted(solutions)})")
            raise ValueError(msg)
        for label in solutions[model]:
            check_choice("PDE label", label, tuple(PDE_STYLES))
    fig, axes = plt.subplots(
        len(times), len(models), figsize=(5.4 * len(models), 3.0 * len(times) + 0.8),
        squeeze=False, sharex=True,
    )
    for row, time_value in enumerate(times):
        for column, model in enumerate(models):
            _draw_overlay(axes[row, column], estimates[model][time_value], solutions[model],
                          time_value, xlim)
            axes[row, column].set_title(
                f"{MODEL_TITLES.get(model, model)}, t = {time_value:g}", fontsize=9)
        axes[row, 0].set_ylabel("density")
    for column, model in enumerate(models):
        axes[0, column].legend(handles=_legend_handles(estimates[model][times[0]],
                                                       solutions[model]),
                               fontsize=7, loc="upper right")
    for axis in axes[-1]:
        axis.set_xlabel("x")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def _draw_overlay(axis, estimate, solutions, time_value, xlim):
    lower, upper = estimate.edges[0], estimate.edges[-1]
    for species, histogram in enumerate(estimate.density):
        color = SPECIES_STYLES[species % len(SPECIES_STYLES)]["color"]
        axis.stairs(histogram, estimate.edges, color=color, alpha=0.6, linewidth=0.8)
        for label, solution in solutions.items():
            inside = (solution.x >= lower) & (solution.x <= upper)
            axis.plot(solution.x[inside], solution.at(time_value)[species][inside],
                      color=color, **PDE_STYLES[label])
    axis.set_xlim(xlim if xlim is not None else (lower, upper))
    axis.grid(alpha=0.3)


def _legend_handles(estimate, solutions):
    handles = []
    for species in range(estimate.density.shape[0]):
        color = SPECIES_STYLES[species % len(SPECIES_STYLES)]["color"]
        handles.append(Line2D([], [], color=color, alpha=0.6, linewidth=0.8,
                              drawstyle="steps-mid", label=f"species {species + 1}, particles"))
    for label in solutions:
        handles.append(Line2D([], [], color="black", label=label, **PDE_STYLES[label]))
    return handles


def distance_rows(estimates, solutions, *, times):
    """Return one table row per model, time and PDE with the ``L^1`` distances per species.

    Each row contains the particle model, the time, the PDE label, then for
    each species the total distance (:attr:`HistogramDistance.total`) and then
    for each species the noise floor (:func:`histogram_noise_floor`).
    """
    rows = []
    for model, by_label in solutions.items():
        for time_value in times:
            estimate = estimates[model][float(time_value)]
            for label, solution in by_label.items():
                row = {"particles": model, "t": float(time_value), "PDE": label}
                row.update(_distance_columns(estimate, solution, time_value))
                rows.append(row)
    return rows


def simulation_distance_rows(result, solution, *, lower, upper, bins):
    """Return one table row per output time of a particle run, compared with ``solution``.

    Each row contains the time and the columns of :func:`distance_rows`: the
    total distance and the noise floor of each species. The histograms use
    ``bins`` equal bins on ``[lower, upper]``, and ``solution`` must be
    stored at every output time of ``result``.
    """
    if not isinstance(result, ParticleSimulation):
        msg = f"result must be a ParticleSimulation, got {type(result).__name__}"
        raise TypeError(msg)
    rows = []
    for index, time_value in enumerate(result.times):
        estimate = histogram_density(result.positions[index], lower=lower, upper=upper,
                                     bins=bins)
        row = {"t": float(time_value)}
        row.update(_distance_columns(estimate, solution, float(time_value)))
        rows.append(row)
    return rows


def _distance_columns(estimate, solution, time_value):
    distance = histogram_l1_distance(estimate, solution, time_value)
    floor = histogram_noise_floor(estimate, solution, time_value)
    columns = {}
    for species, value in enumerate(distance.total):
        columns[f"L1 (species {species + 1})"] = float(value)
    for species, value in enumerate(floor):
        columns[f"noise floor (species {species + 1})"] = float(value)
    return columns


def largest_floor_ratio(rows):
    """Return the largest ratio of ``L^1`` distance to noise floor over the rows and species."""
    ratios = [row[key] / row[f"noise floor {key[3:]}"]
              for row in rows for key in row if key.startswith("L1 (species ")]
    if not ratios:
        msg = "rows must contain columns 'L1 (species i)' and 'noise floor (species i)'"
        raise ValueError(msg)
    return max(ratios)


def summarize_distances(rows):
    """Summarise the rows of :func:`distance_rows`.

    Returns
    -------
    dict
        ``"comparisons"`` is the number of (time, species) pairs of the SKT
        particles. ``"closer_to_nonlocal"`` counts the pairs whose histogram
        is closer to "nonlocal (7)" than to "local (1)". ``"ratio"`` maps each
        PDE label to the largest ratio of distance to noise floor over times
        and species.
    """
    by_key = {}
    ratio = {}
    for row in rows:
        species = [key[len("L1 (species "):-1] for key in row if key.startswith("L1 (species ")]
        for name in species:
            distance = row[f"L1 (species {name})"]
            floor = row[f"noise floor (species {name})"]
            by_key[(row["particles"], row["t"], name, row["PDE"])] = distance
            ratio[row["PDE"]] = max(ratio.get(row["PDE"], 0.0), distance / floor)
    pairs = {(t, name) for (model, t, name, label) in by_key
             if model == "skt" and label == "nonlocal (7)"}
    closer = sum(by_key[("skt", t, name, "nonlocal (7)")] < by_key[("skt", t, name, "local (1)")]
                 for t, name in pairs if ("skt", t, name, "local (1)") in by_key)
    return {"comparisons": len(pairs), "closer_to_nonlocal": int(closer), "ratio": ratio}


def cluster_rows(estimates, solutions, time_value, *,
                 min_relative_height=CLUSTER_MIN_RELATIVE_HEIGHT):
    """Return one table row per particle model and PDE with the cluster positions per species.

    Histogram clusters come from :func:`skt_lib.density.density_modes` (with
    its Gaussian smoothing of width 1), PDE clusters from
    :func:`pde_density_maxima`. Both drop maxima lower than
    ``min_relative_height`` times the highest one.
    """
    rows = []
    for model, by_label in solutions.items():
        estimate = estimates[model][float(time_value)]
        n_species = estimate.density.shape[0]
        sources = [(f"{model} particles", lambda species, e=estimate: density_modes(
            e, species, min_relative_height=min_relative_height))]
        for label, solution in by_label.items():
            sources.append((label, lambda species, s=solution: pde_density_maxima(
                s, time_value, species, min_relative_height=min_relative_height)))
        for name, maxima in sources:
            row = {"density": name, "t": float(time_value)}
            for species in range(n_species):
                positions = maxima(species)
                row[f"species {species + 1}"] = ", ".join(f"{x:.2f}" for x in positions)
            rows.append(row)
    return rows
