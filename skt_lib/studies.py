r"""Numerical studies of the existence and nonlocal-to-local theorems.

The source is L. Chen, E. S. Daus, A. Holzinger and A. Jüngel, *Rigorous
derivation of population cross-diffusion systems from moderately interacting
particle systems* (2020). Its Theorem 2 gives global solutions ``u_eta`` of
the nonlocal SKT system whose ``H^s`` norm never exceeds its initial value
(for ``s > d/2 + 1``, uniformly in the radius ``eta``) when ``f`` and its
derivatives, or the initial data, are small. Its Theorem 3 does the same for
the local system and bounds the distance of the two solutions:

.. math::

    \|u - u_\eta\|_{L^\infty(0,T;L^2)} + \|\partial_x(u - u_\eta)\|_{L^2(0,T;L^2)}
    \le C(T)\,\eta .

This module measures both statements on the finite-volume solutions of
:mod:`skt_lib.pde`:

* :func:`sobolev_energy` and :func:`energy_history`: a discrete ``H^k`` norm
  of the densities (``k = 2`` by default) along a solution;
* :func:`energy_scale_sweep`: the largest growth of that norm when the
  initial data are scaled;
* :func:`nonlocal_to_local_study`: both error terms of Theorem 3 for a list
  of radii, with fitted rates;
* :func:`kernel_consistency_error` and :func:`discrete_second_moment_error`:
  the size of ``K^eta * u - u`` and the accuracy of the sampled kernel, which
  explain the rates measured;
* :func:`plateau_start`: the radius from which a measured distance stops
  falling, for example at the floor that a time-stepping scheme puts under it;
* ``plot_*``: the figures of the two chapters.
"""

import math
from dataclasses import dataclass, replace

import numpy as np

from skt_lib._validation import (
    as_finite_array,
    check_bool,
    check_choice,
    check_positive,
    check_positive_int,
    check_real,
)
from skt_lib.convergence import PowerLawFit, fit_power_law
from skt_lib.parameters import check_species_density
from skt_lib.pde import PDESolution, check_domain, solve_cross_diffusion

#: Second moment ``int s^2 B(s) ds / int B(s) ds`` of the bump
#: ``B(s) = exp(-1 / (1 - s^2))`` on ``[-1, 1]``. For a smooth ``u`` and the
#: unit-mass kernel ``K^eta``, ``K^eta * u - u = (eta^2 / 2) mu_2 u'' + O(eta^4)``.
BUMP_SECOND_MOMENT_1D = 0.158113636263798

#: Smallest radius, in cells, accepted by :func:`nonlocal_to_local_study`.
#: From 4 cells per radius on, the second moment of the sampled and
#: renormalised kernel is within 2.4 % of the exact one
#: (:func:`discrete_second_moment_error`), and that moment sets the leading
#: term of ``u - u_eta``.
MIN_CELLS_PER_RADIUS = 4

STUDY_METHODS = ("euler", "bdf2")

#: Default of :func:`plateau_start`. A distance of order ``eta^p`` has the
#: slope ``p`` in log-log coordinates. Theorem 3 proves ``p = 1``, and the even
#: kernel gives ``p = 2`` in the measurements, so a slope below 0.5 at every
#: step means the distance follows neither power.
PLATEAU_MAX_RATE = 0.5


# --- Sobolev energy ------------------------------------------------------------------


def sobolev_energy(density, dx, *, order=2, periodic=False):
    r"""Return the discrete squared ``H^k`` norm of densities on a uniform grid.

    .. math::

        E_k(u) = \sum_i \sum_{m=0}^{k} \|\partial_x^m u_i\|_{L^2}^2
        \approx \sum_i \sum_{m=0}^{k} \Delta x \sum_j
        \Big(\frac{(\delta^m u_i)_j}{\Delta x^m}\Big)^2,

    with ``delta^m`` the ``m``-fold forward difference (``numpy.diff`` with
    ``n=m``). That quotient is the centred approximation of ``u^(m)`` at the
    middle of its ``m + 1`` point stencil, and the sum is a midpoint rule, so
    for smooth densities each term has an error of order ``dx^2``.

    ``k = 2`` is the default because Theorem 2 of Chen, Daus, Holzinger and
    Jüngel (2020) bounds the ``H^s`` norm for ``s > d/2 + 1``, which is
    ``s > 3/2`` in one dimension. Its Moser-type estimates are stated for
    integer ``s``, so ``s = 2`` is the smallest admissible order. The ``H^2``
    norm bounds ``u`` and ``u'`` uniformly (``H^2`` embeds into
    ``W^{1, inf}``), and these bounds are what keep the coefficients of the
    equation under control in the proof.

    Parameters
    ----------
    density : array_like of shape (n_species, cells) or (n_times, n_species, cells)
        Densities at the cell centres.
    dx : float
        Cell width.
    order : int
        Highest derivative ``k >= 0`` in the norm.
    periodic : bool
        Close the grid into a ring. Otherwise only differences inside the
        grid enter, which assumes that the densities and their derivatives
        are negligible at both ends (the whole-line setting of the solvers).

    Returns
    -------
    float or ndarray of shape (n_times,)
        ``E_k``, summed over the species.
    """
    return _seminorms(density, dx, order=order, periodic=periodic).sum(axis=-1)


def _seminorms(density, dx, *, order, periodic):
    """Return ``||d^m u||^2`` summed over species, shape ``(..., order + 1)``."""
    density = as_finite_array("density", density)
    if density.ndim not in (2, 3):
        msg = ("density must have shape (n_species, cells) or (n_times, n_species, cells), "
               f"got shape {density.shape}")
        raise ValueError(msg)
    dx = check_positive("dx", dx)
    order = _check_order(order)
    check_bool("periodic", periodic)
    cells = density.shape[-1]
    if cells <= order:
        msg = f"density needs more than order = {order} cells (last axis), got {cells}"
        raise ValueError(msg)
    terms = []
    for m in range(order + 1):
        if periodic and m > 0:
            extended = np.concatenate([density, density[..., :m]], axis=-1)
        else:
            extended = density
        quotient = np.diff(extended, n=m, axis=-1) / dx**m
        terms.append((quotient**2).sum(axis=(-1, -2)) * dx)
    return np.stack(terms, axis=-1)


def _check_order(order):
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 0:
        msg = f"order must be an integer >= 0, got {order!r}"
        raise ValueError(msg)
    return int(order)


@dataclass(frozen=True)
class EnergyHistory:
    """The discrete ``H^k`` norm of a solution at its output times.

    Attributes
    ----------
    times : ndarray of shape (n_times,)
        Output times of the solution.
    seminorms : ndarray of shape (n_times, order + 1)
        ``sum_i ||d^m u_i||^2`` for ``m = 0 .. order``.
    order : int
        ``k``.
    """

    times: np.ndarray
    seminorms: np.ndarray
    order: int

    @property
    def energy(self):
        """Squared ``H^k`` norm ``E_k(t)``, shape (n_times,)."""
        return self.seminorms.sum(axis=1)

    @property
    def ratio(self):
        """``E_k(t) / E_k(0)``, with ``0`` the first output time."""
        energy = self.energy
        return energy / energy[0]

    @property
    def max_ratio(self):
        """Largest ``E_k(t) / E_k(0)`` over the output times (1 if it never grows)."""
        return float(self.ratio.max())

    @property
    def max_increase(self):
        """Largest ``E_k(t) / min_{s <= t} E_k(s)``: 1 exactly when ``E_k`` never increases.

        Theorem 2 bounds ``E_k(t)`` by ``E_k(0)``. Its hypotheses hold again
        at any later time once the norm has not grown, so under them the
        norm cannot increase between any two output times either.
        """
        energy = self.energy
        return float(np.max(energy / np.minimum.accumulate(energy)))

    @property
    def time_of_max(self):
        """First output time at which ``E_k`` is largest."""
        return float(self.times[int(np.argmax(self.energy))])

    @property
    def top_seminorm_max_ratio(self):
        """Largest growth factor of the highest term ``sum_i ||d^k u_i||^2``."""
        top = self.seminorms[:, -1]
        return float(top.max() / top[0])


def energy_history(solution, *, order=2):
    """Return the discrete ``H^k`` norm of a PDE solution at its output times.

    See :func:`sobolev_energy` for the norm. The solution's first output
    time is taken as the reference, so pass output times starting at 0.
    """
    if not isinstance(solution, PDESolution):
        msg = f"solution must be a PDESolution, got {type(solution).__name__}"
        raise TypeError(msg)
    seminorms = _seminorms(solution.density, solution.dx, order=order,
                           periodic=solution.boundary == "periodic")
    return EnergyHistory(times=np.asarray(solution.times, dtype=float).copy(),
                         seminorms=seminorms, order=_check_order(order))


def interaction_to_diffusion_ratio(density, parameters):
    """Return ``max_{i, x} sum_j f(a_ij u_j(x)) / sigma_i`` for the local system.

    The ratio compares the cross-diffusion pressure with the linear
    diffusion. Theorem 2 requires a small ``f`` on the range of the data.
    For ``f(s) = s`` scaling the data by ``lambda`` scales this ratio by
    ``lambda`` and changes the equation exactly as scaling ``f`` by
    ``lambda`` would, so the ratio is a computable measure of "small data".

    Parameters
    ----------
    density : array_like of shape (n_species, cells)
    parameters : ModelParameters
    """
    density = check_species_density("density", density, parameters, nonnegative=True)
    arguments = parameters.interaction[:, :, None] * density[None, :, :]
    # The local system uses f without its cut-off.
    local_f = replace(parameters.nonlinearity, threshold=None)
    pressures = local_f(arguments).sum(axis=1)
    return float(np.max(pressures / parameters.diffusion[:, None]))


@dataclass(frozen=True)
class EnergyScaleSweep:
    """Growth of the ``H^k`` norm for scaled initial data.

    Attributes
    ----------
    scales : ndarray of shape (k,)
        Factors ``lambda`` applied to the initial densities.
    interaction_ratio : ndarray of shape (k,)
        :func:`interaction_to_diffusion_ratio` of the scaled initial data.
    max_ratio : ndarray of shape (k,)
        ``max_t E(t) / E(0)``.
    max_increase : ndarray of shape (k,)
        :attr:`EnergyHistory.max_increase`, 1 where ``E`` never increases.
    time_of_max : ndarray of shape (k,)
        First output time where ``E`` is largest.
    top_seminorm_max_ratio : ndarray of shape (k,)
        Growth factor of the highest-derivative term alone.
    histories : tuple of EnergyHistory
        One per scale.
    """

    scales: np.ndarray
    interaction_ratio: np.ndarray
    max_ratio: np.ndarray
    max_increase: np.ndarray
    time_of_max: np.ndarray
    top_seminorm_max_ratio: np.ndarray
    histories: tuple


def energy_scale_sweep(initial_density, parameters, scales, *, equation="local", domain,
                       final_time, output_times, order=2, tolerance=1e-5, progress=False):
    """Solve the SKT system with the initial data scaled by each factor and track ``E_k``.

    Parameters
    ----------
    initial_density : array_like of shape (n_species, cells)
        Densities at the cell centres of ``domain``, before scaling.
    parameters : ModelParameters
    scales : array_like of float
        Positive factors ``lambda``.
    equation : {"local", "nonlocal"}
    domain : pair of float
    final_time : float
    output_times : array_like of float
        Increasing times starting at 0. Growth of the norm can be brief (for
        Figure 1's coefficients it peaks near ``t = 0.01``), so sample the
        start densely.
    order : int
        ``k`` of the norm.
    tolerance : float
        Local error tolerance of the adaptive solver.
    progress : bool
        Show the solver's progress bars.

    Returns
    -------
    EnergyScaleSweep
    """
    scales = as_finite_array("scales", scales, ndim=1)
    if scales.size == 0 or np.any(scales <= 0):
        msg = f"scales must be a non-empty list of numbers > 0, got {scales.tolist()}"
        raise ValueError(msg)
    output_times = as_finite_array("output_times", output_times, ndim=1)
    if output_times.size < 2 or output_times[0] != 0.0:
        msg = ("output_times must start at 0 and have at least 2 entries, because the norm "
               f"is compared with its initial value; got {output_times.tolist()}")
        raise ValueError(msg)
    initial_density = as_finite_array("initial_density", initial_density, ndim=2)
    histories, interaction_ratio = [], []
    for scale in scales:
        scaled = scale * initial_density
        interaction_ratio.append(interaction_to_diffusion_ratio(scaled, parameters))
        solution = solve_cross_diffusion(
            scaled, parameters, system="skt", equation=equation, domain=domain,
            final_time=final_time, output_times=output_times, tolerance=tolerance,
            progress=progress,
        )
        histories.append(energy_history(solution, order=order))
    return EnergyScaleSweep(
        scales=scales,
        interaction_ratio=np.array(interaction_ratio),
        max_ratio=np.array([history.max_ratio for history in histories]),
        max_increase=np.array([history.max_increase for history in histories]),
        time_of_max=np.array([history.time_of_max for history in histories]),
        top_seminorm_max_ratio=np.array([h.top_seminorm_max_ratio for h in histories]),
        histories=tuple(histories),
    )


# --- Nonlocal to local ---------------------------------------------------------------


def discrete_second_moment_error(radius, dx):
    """Return the relative error of the second moment of the kernel sampled on the grid.

    The nonlocal solvers sample the bump at the offsets ``k dx`` within the
    radius and rescale the samples to the exact mass (``renormalize_kernel``
    in :mod:`skt_lib.pde`). This returns ``mu_2^h / mu_2 - 1`` for those
    samples, where ``mu_2^h = sum_k w_k (k dx / eta)^2`` with weights ``w_k``
    summing to 1. Since ``K^eta * u - u = (eta^2 / 2) mu_2 u'' + O(eta^4)``,
    this is also the relative error of the leading term of ``u - u_eta``
    caused by sampling the kernel.
    """
    radius = check_positive("radius", radius)
    dx = check_positive("dx", dx)
    reach = int(math.floor(radius / dx))
    offsets = np.arange(-reach, reach + 1) * dx / radius
    inside = np.abs(offsets) < 1.0
    samples = np.zeros(offsets.size)
    samples[inside] = np.exp(-1.0 / (1.0 - offsets[inside] ** 2))
    weights = samples / samples.sum()
    return float((weights * offsets**2).sum() / BUMP_SECOND_MOMENT_1D - 1.0)


def kernel_consistency_error(function, x, radius, *, shift=0.0, nodes=401):
    r"""Return ``||K^eta(. - shift) * u - u||_{L^2}`` on the uniform grid ``x``.

    ``K^eta`` is the unit-mass bump of radius ``eta``, and the convolution
    ``int K^eta(z) u(x - shift - z) dz`` is computed with ``nodes`` equally
    spaced points on ``[-eta, eta]``. The bump and all its derivatives vanish
    at the ends, so this trapezoidal rule converges faster than any power of
    the spacing. For the even kernel (``shift = 0``) the first moment
    vanishes and the error is ``(eta^2 / 2) mu_2 ||u''||`` to leading order.
    A shift of ``s`` gives the kernel the first moment ``s`` and an error of
    about ``|s| ||u'||``. The proof of Theorem 3 bounds ``K^eta * u - u`` with
    a first-order Taylor expansion, valid for any kernel supported in the
    ball of radius ``eta``, which is why its rate is ``eta`` and not ``eta^2``.

    Parameters
    ----------
    function : callable
        Vectorised ``u``, evaluated at arbitrary points.
    x : array_like of shape (cells,)
        Equally spaced points at which the difference is evaluated.
    radius : float
    shift : float
        Offset of the kernel's centre.
    nodes : int
        Quadrature points across the support, at least 3.
    """
    if not callable(function):
        msg = f"function must be callable, got {type(function).__name__}"
        raise TypeError(msg)
    x = as_finite_array("x", x, ndim=1)
    if x.size < 2:
        msg = f"x must have at least 2 points, got {x.size}"
        raise ValueError(msg)
    radius = check_positive("radius", radius)
    shift = check_real("shift", shift)
    nodes = check_positive_int("nodes", nodes)
    if nodes < 3:
        msg = f"nodes must be >= 3, got {nodes}"
        raise ValueError(msg)
    offsets = np.linspace(-radius, radius, nodes)
    scaled = offsets / radius
    weights = np.zeros(nodes)
    inside = np.abs(scaled) < 1.0
    weights[inside] = np.exp(-1.0 / (1.0 - scaled[inside] ** 2))
    weights /= weights.sum()
    values = np.asarray(function(x[:, None] - shift - offsets[None, :]), dtype=float)
    difference = values @ weights - np.asarray(function(x), dtype=float)
    return float(math.sqrt(np.sum(difference**2) * (x[1] - x[0])))


@dataclass(frozen=True)
class NonlocalToLocalStudy:
    """Distances between the local and the nonlocal SKT solutions for several radii.

    Attributes
    ----------
    radii : ndarray of shape (k,)
        Radii ``eta``, largest first.
    sup_l2_error : ndarray of shape (k,)
        ``max_t ||u(t) - u_eta(t)||_{L^2}`` over the output times, with the
        ``L^2`` norm summed over the species.
    gradient_error : ndarray of shape (k,)
        ``(int_0^T ||d_x(u - u_eta)||_{L^2}^2 dt)^{1/2}``, the integral by
        the trapezoidal rule over the output times.
    time_of_max : ndarray of shape (k,)
        Output time at which the ``L^2`` distance is largest.
    moment_error : ndarray of shape (k,)
        :func:`discrete_second_moment_error` of each radius on this grid.
    sup_l2_fit, gradient_fit : PowerLawFit
        Least-squares fits ``error ~ c eta^rate`` with standard errors.
    times : ndarray of shape (n_times,)
        Output times.
    dx, time_step : float
        Cell width and time step.
    method : str
        Time-stepping scheme of both solvers.
    local : PDESolution
        The solution of the local system.
    """

    radii: np.ndarray
    sup_l2_error: np.ndarray
    gradient_error: np.ndarray
    time_of_max: np.ndarray
    moment_error: np.ndarray
    sup_l2_fit: PowerLawFit
    gradient_fit: PowerLawFit
    times: np.ndarray
    dx: float
    time_step: float
    method: str
    local: PDESolution

    @property
    def cells(self):
        """Number of cells."""
        return self.local.x.size

    @property
    def local_rates(self):
        """Slopes between consecutive radii: ``{"sup_l2": ..., "gradient": ...}``.

        Each entry has shape (k - 1,). A slope that drifts as ``eta`` shrinks
        shows what the single fitted rate averages over.
        """
        log_radii = np.log(self.radii)
        return {
            "sup_l2": np.diff(np.log(self.sup_l2_error)) / np.diff(log_radii),
            "gradient": np.diff(np.log(self.gradient_error)) / np.diff(log_radii),
        }


def nonlocal_to_local_study(initial_density, parameters, *, domain, radii, final_time,
                            time_step, output_count=51, method="euler", progress=False):
    r"""Measure both error terms of Theorem 3 for a list of radii.

    The local SKT system and, for each radius ``eta``, the nonlocal one are
    solved on the same grid from the same initial data, with no-flux
    boundaries far enough out to stand for the whole line. The radius of
    ``parameters`` is replaced by each ``eta``. The theory takes the
    potential ``U = -x^2 / 2`` (``parameters.potential == -1``), and for
    ``f(s) = s`` the cut-off is not needed.

    Choice of scheme. ``method="euler"`` (the default) solves both systems
    with the linearly implicit Euler scheme and the same fixed steps. The
    two discrete problems then differ only in the frozen coefficient
    (``B^eta * u`` against ``a u``), so the discretisation error of the
    difference ``u - u_eta`` is proportional to the difference itself and
    puts no floor under small differences. ``method="bdf2"`` uses fixed-step
    BDF2, which solves the local system by Newton's method and the nonlocal
    one with an extrapolated coefficient. Their time errors do not cancel
    and set a floor under the measured differences.

    Resolution. The radii must span at least ``MIN_CELLS_PER_RADIUS`` cells,
    so that the sampled kernel has a second moment within a few per cent of
    the exact one (``moment_error`` reports it). To check a grid, run the
    study again with twice the cells and half the step and compare with
    :func:`grid_refinement_change`.

    Measurements on the data of the book's nonlocal-to-local chapter: two
    species, ``sigma = (1, 2)``, ``a = [[0.5, 2], [1, 0.5]]``, Gaussians of
    variance 1 at -1 and 1, ``U = -x^2 / 2``, ``T = 1``, the interval
    ``[-30, 30]`` and radii from 1 to 0.05. With the Euler scheme, going
    from 8192 cells and step 0.005 to 16384 cells and step 0.0025 changed
    both distances by 1.3 % to 1.8 % at every radius. With BDF2 on 8192
    cells and step 0.005 the ``L^2`` distance stopped falling from
    ``eta = 0.18`` down: the slopes between neighbouring radii were at most
    0.15, and the distance stayed between ``2.9e-5`` and ``3.3e-5``.

    Parameters
    ----------
    initial_density : array_like of shape (n_species, cells)
        Densities at the cell centres of ``domain``.
    parameters : ModelParameters
        Coefficients; ``radius`` is ignored.
    domain : pair of float
    radii : array_like of float
        At least two distinct radii (three for a standard error of the rate).
    final_time : float
    time_step : float
        Fixed time step of both solvers.
    output_count : int
        Equally spaced output times on ``[0, final_time]``, at least 2.
    method : {"euler", "bdf2"}
    progress : bool
        Show the solver's progress bars.

    Returns
    -------
    NonlocalToLocalStudy
    """
    initial_density = check_species_density("initial_density", initial_density, parameters)
    if initial_density.shape[1] < 3:
        msg = ("initial_density must have at least 3 cells (axis 1), got shape "
               f"{initial_density.shape}")
        raise ValueError(msg)
    a, b = check_domain(domain)
    dx = (b - a) / initial_density.shape[1]
    radii = _check_radii(radii, b - a, initial_density.shape[1])
    final_time = check_positive("final_time", final_time)
    time_step = check_positive("time_step", time_step)
    output_count = check_positive_int("output_count", output_count)
    if output_count < 2:
        msg = f"output_count must be >= 2 (the start and the end), got {output_count}"
        raise ValueError(msg)
    check_choice("method", method, STUDY_METHODS)
    times = np.linspace(0.0, final_time, output_count)

    def solve(equation, radius):
        return solve_cross_diffusion(
            initial_density, replace(parameters, radius=float(radius)), system="skt",
            equation=equation, domain=(a, b), final_time=final_time, output_times=times,
            method=method, time_step=time_step, progress=progress,
        )

    local = solve("local", radii[0])
    sup_l2, gradient, time_of_max = [], [], []
    for radius in radii:
        difference = local.density - solve("nonlocal", radius).density
        l2 = np.sqrt((difference**2).sum(axis=(1, 2)) * dx)
        slope_squared = (np.diff(difference, axis=2) ** 2).sum(axis=(1, 2)) / dx
        sup_l2.append(float(l2.max()))
        time_of_max.append(float(times[int(np.argmax(l2))]))
        gradient.append(float(math.sqrt(np.trapezoid(slope_squared, times))))
    sup_l2 = np.array(sup_l2)
    gradient = np.array(gradient)
    return NonlocalToLocalStudy(
        radii=radii,
        sup_l2_error=sup_l2,
        gradient_error=gradient,
        time_of_max=np.array(time_of_max),
        moment_error=np.array([discrete_second_moment_error(r, dx) for r in radii]),
        sup_l2_fit=fit_power_law(radii, sup_l2),
        gradient_fit=fit_power_law(radii, gradient),
        times=times,
        dx=dx,
        time_step=time_step,
        method=method,
        local=local,
    )


def _check_radii(radii, length, cells):
    """Return the radii sorted from largest to smallest, or raise."""
    dx = length / cells
    radii = as_finite_array("radii", radii, ndim=1)
    if radii.size < 2:
        msg = f"radii must list at least 2 values to fit a rate, got {radii.tolist()}"
        raise ValueError(msg)
    if np.any(radii <= 0):
        msg = f"radii must be > 0, got {radii.tolist()}"
        raise ValueError(msg)
    if np.unique(radii).size != radii.size:
        msg = f"radii must be distinct, got {radii.tolist()}"
        raise ValueError(msg)
    smallest = float(radii.min())
    if smallest < MIN_CELLS_PER_RADIUS * dx:
        needed = math.ceil(MIN_CELLS_PER_RADIUS * length / smallest)
        msg = (f"radius {smallest!r} spans fewer than {MIN_CELLS_PER_RADIUS} cells of width "
               f"{dx:.4g}, so the sampled kernel misrepresents the nonlocal term; use at least "
               f"{needed} cells on this domain or radii >= {MIN_CELLS_PER_RADIUS * dx:.4g}")
        raise ValueError(msg)
    return np.sort(radii)[::-1]


def grid_refinement_change(coarse, fine):
    """Return the relative change of both distances between two grids, per radius.

    Parameters
    ----------
    coarse, fine : NonlocalToLocalStudy
        Studies with the same radii; ``fine`` on the finer grid.

    Returns
    -------
    dict
        ``"sup_l2"`` and ``"gradient"``: ``|fine - coarse| / fine``, shape (k,).
        For a scheme of order ``p`` in the refinement factor 2, the error of
        the coarse result is about ``2^p / (2^p - 1)`` times this change, and
        the error of the fine result ``1 / (2^p - 1)`` times it.
    """
    for name, study in (("coarse", coarse), ("fine", fine)):
        if not isinstance(study, NonlocalToLocalStudy):
            msg = f"{name} must be a NonlocalToLocalStudy, got {type(study).__name__}"
            raise TypeError(msg)
    if coarse.radii.shape != fine.radii.shape or not np.allclose(coarse.radii, fine.radii,
                                                                 rtol=1e-12, atol=0):
        msg = (f"coarse and fine studies must use the same radii, got {coarse.radii.tolist()} "
               f"and {fine.radii.tolist()}")
        raise ValueError(msg)
    return {
        "sup_l2": np.abs(fine.sup_l2_error - coarse.sup_l2_error) / fine.sup_l2_error,
        "gradient": np.abs(fine.gradient_error - coarse.gradient_error) / fine.gradient_error,
    }


def plateau_start(radii, distances, *, max_rate=PLATEAU_MAX_RATE):
    """Return the index of the radius from which ``distances`` stop falling, or None.

    The slope between neighbouring radii ``j`` and ``j + 1`` is
    ``log(d[j + 1] / d[j]) / log(r[j + 1] / r[j])``, the local rate of
    :attr:`NonlocalToLocalStudy.local_rates`. The plateau starts at the
    smallest index ``i`` such that every slope from radius ``i`` on is below
    ``max_rate``. The distances on the plateau may still fall slowly, stay
    flat or rise. None means that the slope between the two smallest radii
    is at least ``max_rate``.

    Parameters
    ----------
    radii : array_like of shape (k,)
        At least two radii, strictly decreasing (largest first, as in
        :class:`NonlocalToLocalStudy`).
    distances : array_like of shape (k,)
        Positive distances measured at ``radii``.
    max_rate : float
        Largest slope, > 0, that counts as no longer falling.

    Returns
    -------
    int or None
    """
    radii = as_finite_array("radii", radii, ndim=1)
    distances = as_finite_array("distances", distances, ndim=1)
    if radii.shape != distances.shape or radii.size < 2:
        msg = (f"radii and distances must have the same shape with at least 2 values, got "
               f"{radii.shape} and {distances.shape}")
        raise ValueError(msg)
    if np.any(radii <= 0) or np.any(np.diff(radii) >= 0):
        msg = f"radii must be > 0 and strictly decreasing, got {radii.tolist()}"
        raise ValueError(msg)
    if np.any(distances <= 0):
        msg = f"distances must be > 0 for log-log slopes, got {distances.tolist()}"
        raise ValueError(msg)
    max_rate = check_positive("max_rate", max_rate)
    slopes = np.diff(np.log(distances)) / np.diff(np.log(radii))
    falling = np.flatnonzero(slopes >= max_rate)
    if falling.size == 0:
        return 0
    if falling[-1] == slopes.size - 1:
        return None
    return int(falling[-1]) + 1


# --- Figures ---------------------------------------------------------------------------


def plot_energy_histories(histories, *, title=None):
    """Plot ``E(t) / E(0)`` for labelled energy histories on a log time axis.

    Parameters
    ----------
    histories : dict
        ``{label: EnergyHistory}``; the first output time (0) is left out of
        the log axis.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(6.4, 3.8))
    for label, history in histories.items():
        axis.plot(history.times[1:], history.ratio[1:], label=label)
    axis.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    axis.set_xscale("log")
    axis.set_xlabel("t")
    axis.set_ylabel(r"$E_2(t) / E_2(0)$")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8)
    if title:
        axis.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_nonlocal_to_local(study, *, second_grid=None, floor=None):
    """Plot both error terms of Theorem 3 against the radius, with fits and reference rates.

    Parameters
    ----------
    study : NonlocalToLocalStudy
        The main measurement, drawn with its fitted lines.
    second_grid : NonlocalToLocalStudy, optional
        The same study on another grid, drawn as open markers.
    floor : NonlocalToLocalStudy, optional
        A study with a scheme whose errors do not cancel (BDF2), drawn dashed.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.0), sharex=True)
    panels = (
        ("sup_l2_error", "sup_l2_fit", r"$\max_t \|u - u_\eta\|_{L^2}$"),
        ("gradient_error", "gradient_fit",
         r"$\|\partial_x(u - u_\eta)\|_{L^2(0,T;L^2)}$"),
    )
    radii = study.radii
    for axis, (name, fit_name, ylabel) in zip(axes, panels, strict=True):
        values = getattr(study, name)
        fit = getattr(study, fit_name)
        axis.loglog(radii, values, "o", color="tab:blue",
                    label=f"{study.cells} cells, {study.method}")
        axis.loglog(radii, fit.prefactor * radii**fit.rate, "-", color="tab:blue",
                    label=f"fit: rate {fit.rate:.2f} ± {fit.rate_std_error:.2f}")
        if second_grid is not None:
            axis.loglog(second_grid.radii, getattr(second_grid, name), "s", mfc="none",
                        color="tab:orange",
                        label=f"{second_grid.cells} cells, {second_grid.method}")
        if floor is not None:
            axis.loglog(floor.radii, getattr(floor, name), "x--", color="tab:red",
                        label=f"{floor.cells} cells, {floor.method}")
        anchor_radius, anchor_value = radii[0], values[0]
        for rate, style in ((1, ":"), (2, "-.")):
            axis.loglog(radii, anchor_value * (radii / anchor_radius) ** rate, style,
                        color="gray", label=f"slope {rate}" + (" (proven)" if rate == 1 else ""))
        axis.set_xlabel(r"radius $\eta$")
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_energy_sweep(sweep):
    """Plot the growth of the ``H^k`` norm and of its top term against the data scale.

    Parameters
    ----------
    sweep : EnergyScaleSweep

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(6.4, 3.8))
    axis.semilogx(sweep.scales, sweep.max_increase, "o-",
                  label=r"$\max_t E_2(t) / \min_{s \leq t} E_2(s)$")
    axis.semilogx(sweep.scales, sweep.top_seminorm_max_ratio, "s--",
                  label=r"$\max_t \|\partial_x^2 u(t)\|^2 / \|\partial_x^2 u_0\|^2$")
    axis.axhline(1.0, color="black", linewidth=0.8, linestyle=":")
    axis.set_xlabel(r"scale $\lambda$ of the initial data")
    axis.set_ylabel("largest growth factor")
    secondary = axis.secondary_xaxis(
        "top", functions=(lambda s: s * sweep.interaction_ratio[0] / sweep.scales[0],
                          lambda r: r * sweep.scales[0] / sweep.interaction_ratio[0]))
    secondary.set_xlabel(r"$\max_{i,x} \sum_j a_{ij} u_{0,j}(x) / \sigma_i$")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_profiles(solution, times, *, xlim=None, title=None):
    """Plot the densities of a PDE solution at some of its output times, one panel each.

    Parameters
    ----------
    solution : PDESolution
    times : sequence of float
        Output times of ``solution``.
    xlim : pair of float, optional
        Range of the x axis.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    styles = ({"color": "tab:blue", "linestyle": "-"}, {"color": "tab:red", "linestyle": "--"},
              {"color": "tab:green", "linestyle": "-."}, {"color": "tab:purple", "linestyle": ":"})
    fig, axes = plt.subplots(1, len(times), figsize=(3.4 * len(times), 3.2), sharey=True,
                             squeeze=False)
    for axis, time_value in zip(axes[0], times, strict=True):
        for species, density in enumerate(solution.at(time_value)):
            axis.plot(solution.x, density, label=f"species {species + 1}",
                      **styles[species % len(styles)])
        axis.set_title(f"t = {time_value:g}", fontsize=9)
        axis.set_xlabel("x")
        if xlim is not None:
            axis.set_xlim(*xlim)
        axis.grid(alpha=0.3)
    axes[0, 0].set_ylabel("density")
    axes[0, 0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
