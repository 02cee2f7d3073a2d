r"""Finite-volume solvers of the cross-diffusion systems in one space dimension.

Four systems for densities ``u_i(x, t)``, ``i = 1..n``, are solved on an
interval ``[a, b]`` with the potential ``U(x) = c x^2 / 2`` of
:class:`~skt_lib.parameters.ModelParameters`:

* ``system="skt", equation="local"`` (the SKT system):
  ``d_t u_i = d_x(u_i d_x U) + d_xx(u_i p_i)``,
  ``p_i = sigma_i + sum_j f(a_ij u_j)``;
* ``system="skt", equation="nonlocal"``: the same with
  ``p_i = sigma_i + sum_j f_eta(B_ij^eta * u_j)``;
* ``system="drift", equation="local"`` (the mean-field limit of the drift
  particles): ``d_t u_i = d_x(u_i d_x U) + d_x(sigma_i d_x u_i + u_i d_x V_i)``,
  ``V_i = sum_j a_ij u_j``;
* ``system="drift", equation="nonlocal"``: the same with
  ``V_i = sum_j B_ij^eta * u_j``.

The local systems use ``f`` without its cut-off, the nonlocal ones ``f_eta``
(see :mod:`skt_lib.nonlinearity`), and the kernel ``B_ij^eta`` is the one of
the particle simulators (:func:`skt_lib.kernels.kernel_weights`, with the
same normalisation).

Space discretisation
--------------------
``M`` cells of width ``dx = (b - a) / M`` with centres ``x_j``, and unknowns
``u_{i,j}`` that approximate the densities at the centres (equivalently the
cell averages, to second order). The semi-discrete system is

.. math::

    \frac{d u_{i,j}}{dt} = -\frac{J_{i,j+1/2} - J_{i,j-1/2}}{\Delta x},

    J^{\mathrm{skt}}_{i,j+1/2} = -\frac{u_{i,j+1} p_{i,j+1} - u_{i,j} p_{i,j}}{\Delta x}
        + v_{j+1/2}^+ u_{i,j} + v_{j+1/2}^- u_{i,j+1},

    J^{\mathrm{drift}}_{i,j+1/2} = -\sigma_i \frac{u_{i,j+1} - u_{i,j}}{\Delta x}
        + w_{i,j+1/2}^+ u_{i,j} + w_{i,j+1/2}^- u_{i,j+1},
    \qquad w_{i,j+1/2} = v_{j+1/2} - \frac{V_{i,j+1} - V_{i,j}}{\Delta x},

with ``v = -c x`` evaluated at the interface, ``s^+ = max(s, 0)``,
``s^- = min(s, 0)`` (upwinding), zero flux through the two ends of a no-flux
interval and the grid closed into a ring for periodic boundaries. The
diffusion part is second order in ``dx``, and the upwind transport is first
order. Every flux leaves one cell and enters its neighbour, so the discrete
mass ``dx sum_j u_{i,j}`` is conserved up to round-off.

The convolution ``B_ij^eta * u_j`` is the sum over the cells within the
radius, ``sum_l B_ij^eta(x_j - x_l) u_l dx``, computed by FFT. A no-flux
interval is treated as a piece of the whole line: the density is extended by
zero outside it. On a periodic grid the kernel is wrapped around the ring.
With ``renormalize_kernel=True`` (the default) the sampled kernel is scaled
so that its discrete integral equals the exact one. The bump is smooth, so
the scale differs from 1 by a tiny amount once a few cells lie within the
radius. On coarse grids it keeps ``B^eta * 1 = a`` exactly, and for
``eta < dx`` (only the centre sample left) it makes the nonlocal scheme
equal to the local one.

Time discretisation
-------------------
``method="bdf2"`` (the default) uses the two-step backward differentiation
formula with variable steps ``h_n = t_{n+1} - t_n``, ``omega = h_n / h_{n-1}``:

.. math::

    \frac{1 + 2\omega}{1 + \omega} u^{n+1} - (1 + \omega) u^n
    + \frac{\omega^2}{1 + \omega} u^{n-1} = h_n F(u^{n+1}),

started by one backward Euler step. BDF2 is A-stable, so the stiffness of
the cross-diffusion (pressures ``p_i`` near 100 for the coefficients of
Figure 1, on cells of width 0.01) does not limit the step.

* Local systems: ``F`` is the full finite-volume right-hand side, and the
  nonlinear equations are solved by Newton's method. The unknowns of a cell
  couple only to the neighbouring cells, so the Newton matrix is block
  tridiagonal with ``n x n`` blocks and the block Thomas algorithm solves it
  in ``O(M n^3)`` operations. The first Newton iterate is the predictor
  below, and Newton stops when the next update, estimated from the
  contraction rate of the last two, is below ``tolerance / 100``.
* Nonlocal systems: the convolution couples all cells within the radius, so
  the Jacobian is banded with bandwidth ``2 eta / dx`` (327 cells for
  Figure 1 on 4096 cells). Instead of Newton, the nonlocal coefficient
  (``p_i`` or ``V_i``) is evaluated at the extrapolated state
  ``u^* = u^n + omega (u^n - u^{n-1})``, clipped at 0. That leaves one
  linear tridiagonal system per species and step, and the extrapolation
  error, ``O(h^2)``, keeps the scheme second order. The explicit treatment
  of the coupling limits the step where the interaction is strong (to about
  ``h < 0.02`` for the drift system with Figure 3's coefficients).

BDF2 does not preserve positivity. When Newton's method fails, or the new
densities have negative values carrying more than a fraction ``1e-12`` of a
species' mass, the step is redone with the linearly implicit Euler scheme,
with the coefficients ``p_i`` or ``V_i`` frozen at ``u^n``:

.. math::

    u_i^{n+1} - h_n F_i\big(u^{n+1}; p(u^n)\big) = u_i^n.

This is a linear system per species whose matrix is a column diagonally
dominant M-matrix, so its solution is non-negative and conserves mass for
every step size, at first order in time. ``method="euler"`` uses only this
scheme, with fixed steps. Smaller negative values (round-off in the far
tails) are set to zero, and the species is rescaled to its previous mass.

Adaptive steps keep a relative local error ``tolerance`` in ``L^1`` (the
largest over the species). The estimate compares the result with a
predictor, the Hermite interpolant of ``u^{n-1}``, ``u^n`` and the BDF
derivative at ``t_n``. For a smooth solution the predictor error is
``u''' h_n^2 (h_n + h_{n-1}) / 6`` and the BDF2 error
``-u''' h_n^2 (h_n + h_{n-1})^2 / (6 (2 h_n + h_{n-1}))``, so the local
error is the difference times ``(h_n + h_{n-1}) / (3 h_n + 2 h_{n-1})``
(2/5 for constant steps). A proportional-integral controller picks the next
step, and step ratios are limited to 2, below the bound ``1 + sqrt(2)``
for zero stability of variable-step BDF2.

Local error control is conservative for these dissipative problems, because
errors made early are damped later. On Figure 1's data (4096 cells, up to
``t = 2``) fixed steps of ``2 / 30`` gave an L1 error of ``1.1e-3`` in 30
steps, and adaptive steps needed 100 steps (tolerance ``1e-3``) for
``7.9e-4``. ``benchmarks/bench_pde.py`` prints these numbers.

Well-posedness
--------------
A local system is a parabolic system ``d_t u = d_x(A(u) d_x u) + ...`` only
while every eigenvalue of ``A(u)`` has a positive real part. The solver
checks this in every cell before the first step and after every step, and
raises :class:`ParabolicityError` where it fails. For two species without
self-interaction the mean-field matrix has determinant
``sigma_1 sigma_2 - a_12 a_21 u_1 u_2``, negative where the densities
overlap strongly: the problem is then ill-posed (backward diffusion), and the
nonlocal form is the equation to solve.

Relation to the literature
--------------------------
Jüngel and Zurek (arXiv:2011.08731) analyse an implicit Euler finite-volume
scheme for the ``n``-species SKT system with no-flux boundaries that keeps
the densities non-negative and satisfies a discrete entropy inequality,
through suitable means of the mobilities. Jüngel and Vetter
(arXiv:2301.03200) combine finite volumes with BDF2 for a population
cross-diffusion system and prove an entropy inequality from the G-stability
of BDF2. Herda and Zurek (arXiv:2207.01928) analyse a fully implicit
finite-volume scheme for the nonlocal SKT system on a periodic domain. The
schemes here use the plain three-point discretisation of ``d_xx(u_i p_i)``
without those structure-preserving means, so they inherit none of those
guarantees: positivity comes from the Euler fallback and is checked after
every step. The Newton stopping rule and the step-size controller follow
E. Hairer and G. Wanner, Solving Ordinary Differential Equations II
(Springer).
"""

import logging
import math
import sys
import time as clock
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.fft
from tqdm import tqdm

from skt_lib import _pde_kernels as kernels
from skt_lib._validation import (
    as_finite_array,
    check_bool,
    check_choice,
    check_positive,
    check_positive_int,
    check_real,
)
from skt_lib.kernels import BUMP_INTEGRAL_1D, kernel_weights
from skt_lib.parameters import ModelParameters, check_parameters, check_species_density
from skt_lib.particles import build_time_grid, check_output_times

logger = logging.getLogger(__name__)

SYSTEMS = ("skt", "drift")
EQUATIONS = ("local", "nonlocal")
BOUNDARIES = ("no-flux", "periodic")
METHODS = ("bdf2", "euler")

#: Default relative L1 error per adaptive step.
DEFAULT_TOLERANCE = 1e-4
#: Smallest accepted tolerance. The round-off of the linear solves changed the
#: mass by about 1e-14 per step on 4096 cells, so a smaller tolerance would
#: mostly measure round-off (an estimate).
MIN_TOLERANCE = 1e-12
#: An adaptive step below this fraction of the final time stops the run,
#: because the time would no longer advance visibly in double precision.
MIN_RELATIVE_STEP = 1e-12
#: Largest number of cells, and of fixed steps, of one solve.
MAX_CELLS = 2**21
MAX_FIXED_STEPS = 10**7
#: Largest number of stored values (output times x species x cells): 2 GiB of float64.
MAX_STORED_VALUES = 2**28
#: Fraction of the cells, at each end, that counts as the boundary layer.
BOUNDARY_LAYER = 0.02
#: Fraction of a species' mass in the boundary layer above which a no-flux
#: run is no longer a good approximation of the whole-line problem.
BOUNDARY_MASS_FRACTION = 1e-6
#: Relative mass of negative values that is set to zero instead of redoing
#: the step. Larger undershoots trigger the linearly implicit Euler step.
NEGATIVE_MASS_FRACTION = 1e-12
#: Largest ratio of consecutive adaptive steps (variable-step BDF2 is
#: zero-stable for ratios below 1 + sqrt(2)).
MAX_STEP_RATIO = 2.0
MIN_STEP_FACTOR = 0.2
SAFETY_FACTOR = 0.9
MAX_NEWTON_ITERATIONS = 8
#: Newton stops when its update is below this fraction of the tolerance.
NEWTON_FRACTION = 1e-2
#: Newton tolerance of fixed-step runs (relative L1 norm of the update).
FIXED_STEP_NEWTON_TOLERANCE = 1e-11
MAX_REJECTED_STEPS = 200

_SYSTEM_CODES = {"skt": kernels.SKT, "drift": kernels.DRIFT}


class ParabolicityError(ValueError):
    """A local system lost parabolicity, so its initial-value problem is ill-posed.

    Attributes
    ----------
    time : float
        Time at which the diffusion matrix was found not parabolic.
    position : float
        Cell centre where the smallest real part of an eigenvalue was found.
    interval : tuple of float
        Centres of the first and the last cell that are not parabolic.
    smallest_real_part : float
        Smallest real part of an eigenvalue of the diffusion matrix there.
    partial : PDESolution or None
        The outputs stored before the failure (``None`` when the initial
        density already fails).
    """

    def __init__(self, message, *, time, position, interval, smallest_real_part, partial=None):
        super().__init__(message)
        self.time = time
        self.position = position
        self.interval = interval
        self.smallest_real_part = smallest_real_part
        self.partial = partial


class StepSizeError(RuntimeError):
    """Adaptive steps became too small for the run to advance.

    Attributes
    ----------
    time : float
        Time reached when the step size fell below the limit.
    step_size : float
        The last step size tried.
    partial : PDESolution
        The outputs stored before the failure.
    """

    def __init__(self, message, *, time, step_size, partial):
        super().__init__(message)
        self.time = time
        self.step_size = step_size
        self.partial = partial


class NonFiniteDensityError(FloatingPointError):
    """A PDE solve produced an infinite or NaN density.

    Attributes
    ----------
    step : int
        Index (1-based) of the step whose result was not finite.
    time : float
        Time that step would have reached.
    species : int
        Index (0-based) of the first species with a non-finite value.
    partial : PDESolution
        The outputs stored before the failure.
    """

    def __init__(self, message, *, step, time, species, partial):
        super().__init__(message)
        self.step = step
        self.time = time
        self.species = species
        self.partial = partial


@dataclass
class PDESolution:
    """Densities of a PDE solve at its output times.

    Attributes
    ----------
    x : ndarray of shape (cells,)
        Cell centres.
    times : ndarray of shape (n_times,)
        Output times.
    density : ndarray of shape (n_times, n_species, cells)
        Densities at the cell centres.
    system, equation, boundary : str
        What was solved.
    domain : tuple of float
        The interval ``(a, b)``.
    parameters : ModelParameters
        Coefficients used.
    record : dict
        Steps, rejected steps, linearly implicit Euler fallbacks, steps whose
        round-off negatives were set to zero, Newton iterations, the smallest
        density over all steps, smallest and largest step, wall time.
    """

    x: np.ndarray
    times: np.ndarray
    density: np.ndarray
    system: str
    equation: str
    boundary: str
    domain: tuple
    parameters: ModelParameters
    record: dict = field(default_factory=dict)

    @property
    def dx(self):
        """Cell width."""
        return (self.domain[1] - self.domain[0]) / self.x.size

    def mass(self):
        """Return the discrete mass ``dx sum_j u_ij``, shape (n_times, n_species)."""
        return self.density.sum(axis=2) * self.dx

    def at(self, time_value):
        """Return the densities at output time ``time_value``, shape (n_species, cells)."""
        matches = np.flatnonzero(np.isclose(self.times, time_value, rtol=0, atol=1e-12))
        if matches.size == 0:
            msg = f"time {time_value!r} is not an output time; available: {self.times.tolist()}"
            raise ValueError(msg)
        return self.density[matches[0]]


def cell_centers(domain, cells):
    """Return the centres of ``cells`` equal cells that tile ``domain = (a, b)``."""
    a, b = check_domain(domain)
    cells = check_positive_int("cells", cells)
    dx = (b - a) / cells
    return a + dx * (np.arange(cells) + 0.5)


def gaussian_density(x, mean, variance, mass=1.0):
    """Evaluate ``mass`` times the normal density with ``mean`` and ``variance`` at ``x``."""
    mean = check_real("mean", mean)
    variance = check_positive("variance", variance)
    mass = check_positive("mass", mass)
    x = as_finite_array("x", x)
    return mass * np.exp(-((x - mean) ** 2) / (2.0 * variance)) / math.sqrt(
        2.0 * math.pi * variance
    )


def barenblatt_density(x, mass, time, coefficient):
    r"""Evaluate the Barenblatt solution of ``d_t u = a d_xx(u^2)`` centred at 0.

    .. math::

        u(x, t) = (a t)^{-1/3} \Big(C - \frac{x^2}{12 (a t)^{2/3}}\Big)_+,
        \qquad C = \Big(\frac{\sqrt{3} M}{8}\Big)^{2/3},

    with mass ``M``. Substituting ``u = (a t)^{-1/3} g(x (a t)^{-1/3})`` turns
    the equation into ``-(y g)' / 3 = (g^2)''``, whose compactly supported
    solution is ``g = (C - y^2 / 12)_+``. The support is
    ``|x| <= R(t) = sqrt(12 C) (a t)^{1/3}``, and integrating ``g`` gives
    ``M = 8 C^{3/2} / sqrt(3)``. For ``M = 1``, ``C = 0.3605623926``.

    Parameters
    ----------
    x : array_like
        Positions.
    mass : float
        Total mass ``M > 0``.
    time : float
        Time ``t > 0`` since the solution was a point mass.
    coefficient : float
        ``a > 0``.
    """
    x = as_finite_array("x", x)
    mass = check_positive("mass", mass)
    time = check_positive("time", time)
    coefficient = check_positive("coefficient", coefficient)
    scaled_time = coefficient * time
    constant = barenblatt_constant(mass)
    profile = constant - x**2 / (12.0 * scaled_time ** (2.0 / 3.0))
    return scaled_time ** (-1.0 / 3.0) * np.maximum(profile, 0.0)


def barenblatt_constant(mass):
    """Return ``C = (sqrt(3) M / 8)^(2/3)`` of :func:`barenblatt_density`."""
    return (math.sqrt(3.0) * mass / 8.0) ** (2.0 / 3.0)


def barenblatt_front(mass, time, coefficient):
    """Return the edge ``R(t) = sqrt(12 C) (a t)^(1/3)`` of the Barenblatt support."""
    return math.sqrt(12.0 * barenblatt_constant(mass)) * (coefficient * time) ** (1.0 / 3.0)


def check_domain(domain):
    """Return ``domain`` as a pair of floats ``a < b``, or raise naming it."""
    try:
        a, b = domain
    except (TypeError, ValueError):
        msg = f"domain must be a pair (a, b) of numbers with a < b, got {domain!r}"
        raise ValueError(msg) from None
    a = check_real("domain[0]", a)
    b = check_real("domain[1]", b)
    if not a < b:
        msg = f"domain must satisfy a < b, got {domain!r}"
        raise ValueError(msg)
    return a, b


def kernel_convolution(density, parameters, *, domain, boundary="no-flux",
                       renormalize_kernel=True):
    """Compute ``B_ij^eta * u_j`` on the grid, as the nonlocal solvers do.

    Parameters
    ----------
    density : array_like of shape (n_species, cells)
        Densities ``u_j`` at the cell centres of ``domain``.
    parameters : ModelParameters
        Interaction strengths, radius and kernel normalisation.
    domain : pair of float
        The interval ``(a, b)``.
    boundary : {"no-flux", "periodic"}
        Zero extension outside the interval, or a periodic density.
    renormalize_kernel : bool
        Scale the sampled kernel so that its discrete integral is exact.

    Returns
    -------
    ndarray of shape (n_species, n_species, cells)
        Entry ``[i, j]`` is ``B_ij^eta * u_j`` at the cell centres.
    """
    _check_parameters(parameters)
    density = check_species_density("density", density, parameters, nonnegative=True)
    if density.shape[1] < 3:
        msg = f"density must have at least 3 cells (axis 1), got shape {density.shape}"
        raise ValueError(msg)
    a, b = check_domain(domain)
    check_choice("boundary", boundary, BOUNDARIES)
    check_bool("renormalize_kernel", renormalize_kernel)
    convolution = _KernelConvolution(parameters, density.shape[1], (b - a) / density.shape[1],
                                     periodic=boundary == "periodic",
                                     renormalize=renormalize_kernel)
    smoothed = convolution.apply(density)
    with np.errstate(over="ignore", invalid="ignore"):
        result = parameters.interaction[:, :, None] * smoothed[None, :, :]
    if not np.isfinite(result).all():
        msg = (f"B^eta * u overflows double precision for densities up to {density.max():.3g} "
               f"and interaction up to {parameters.interaction.max():.3g}; rescale the problem")
        raise ValueError(msg)
    return result


def solve_cross_diffusion(
    initial_density,
    parameters,
    *,
    system="skt",
    equation="local",
    domain,
    boundary="no-flux",
    final_time,
    output_times=None,
    method="bdf2",
    time_step=None,
    tolerance=None,
    max_time_step=None,
    whole_line=True,
    renormalize_kernel=True,
    progress=None,
):
    """Solve a cross-diffusion system with finite volumes in space.

    See the module documentation for the equations, the discretisation and
    the choice of scheme.

    Parameters
    ----------
    initial_density : array_like of shape (n_species, cells)
        Non-negative densities at the cell centres (:func:`cell_centers`),
        each with positive mass.
    parameters : ModelParameters
        Coefficients, with ``dimension == 1``.
    system : {"skt", "drift"}
        Interaction through the diffusion (SKT) or through the drift
        (mean-field system of the drift particles).
    equation : {"local", "nonlocal"}
        ``a_ij u_j`` or the convolution ``B_ij^eta * u_j`` in the interaction.
    domain : pair of float
        The interval ``(a, b)``.
    boundary : {"no-flux", "periodic"}
        Boundary condition. Periodic boundaries need ``potential == 0``,
        because ``c x^2 / 2`` is not periodic.
    final_time : float
        End time ``T > 0``.
    output_times : array_like of float, optional
        Increasing times in ``[0, T]`` at which densities are stored; ``[T]``
        by default. Steps end exactly at these times.
    method : {"bdf2", "euler"}
        Adaptive (or fixed-step) BDF2, or fixed-step linearly implicit Euler.
    time_step : float, optional
        For fixed steps the largest step (each interval between output times
        is split into equal steps), for adaptive steps the first step.
        Passing ``time_step`` without ``tolerance`` selects fixed steps.
        ``method="euler"`` requires it.
    tolerance : float, optional
        Relative ``L^1`` local error per adaptive step (default ``1e-4`` when
        ``time_step`` is not given).
    max_time_step : float, optional
        Upper bound of adaptive steps (fixed steps do not use it).
    whole_line : bool
        With no-flux boundaries, treat the interval as a piece of the real
        line: reject initial data with more than a fraction ``1e-6`` of a
        species' mass in the outer 2 % of the cells at either end, and warn
        when the solution puts more than that there later. Pass ``False`` for problems
        posed on the interval itself.
    renormalize_kernel : bool
        Scale the sampled kernel so that its discrete integral is exact.
    progress : bool or None
        Show a progress bar; ``None`` shows it only when stderr is a terminal.

    Returns
    -------
    PDESolution

    Raises
    ------
    ValueError
        For invalid input, naming the argument and the value.
    ParabolicityError
        When a local system has a diffusion matrix with an eigenvalue of
        non-positive real part, at the start or after a step.
    NonFiniteDensityError
        When a density becomes infinite or NaN.
    """
    request = _validate_request(
        initial_density, parameters, system=system, equation=equation, domain=domain,
        boundary=boundary, final_time=final_time, output_times=output_times, method=method,
        time_step=time_step, tolerance=tolerance, max_time_step=max_time_step,
        whole_line=whole_line, renormalize_kernel=renormalize_kernel,
    )
    if progress is not None:
        check_bool("progress", progress)
    discretization = _Discretization(
        parameters, system, equation, request["domain"], request["cells"],
        periodic=boundary == "periodic", renormalize_kernel=renormalize_kernel,
    )
    u0 = request["density"]
    x = discretization.x
    monitor = _BoundaryMonitor(u0) if request["watch_boundary"] else None
    if monitor is not None:
        fraction, species = monitor.fractions(u0)
        if fraction > BOUNDARY_MASS_FRACTION:
            msg = (
                f"domain {tuple(request['domain'])} does not contain the initial mass: species "
                f"{species} (0-based) has a fraction {fraction:.3g} of its mass in the outer "
                f"{BOUNDARY_LAYER:.0%} of the interval (more than {BOUNDARY_MASS_FRACTION:g}); "
                "widen the domain, or set whole_line to false for a problem posed on the interval "
                "itself"
            )
            raise ValueError(msg)
    discretization.check_parabolicity(u0, 0.0)
    derivative = discretization.rhs(u0)
    if not np.isfinite(derivative).all():
        msg = (
            "the time derivative of initial_density is not finite: the coefficients "
            f"(largest diffusion {parameters.diffusion.max():.3g}, largest interaction "
            f"{parameters.interaction.max():.3g}), the nonlinearity f or the densities "
            f"(largest {u0.max():.3g}) overflow double precision; rescale the problem"
        )
        raise ValueError(msg)

    started = clock.perf_counter()
    show = sys.stderr.isatty() if progress is None else progress
    integrator = _Integrator(discretization, request, monitor)
    with tqdm(total=request["final_time"], disable=not show,
              desc=f"{equation} {system} PDE") as bar:
        times, density = integrator.run(u0, derivative, bar)
    record = integrator.record
    record["wall_time_seconds"] = clock.perf_counter() - started
    logger.info("%s %s PDE: %d steps (%d rejected, %d fallbacks) in %.3f s", equation, system,
                record["steps"], record["rejected_steps"], record["fallback_steps"],
                record["wall_time_seconds"])

    if monitor is not None and monitor.largest_fraction > BOUNDARY_MASS_FRACTION:
        warnings.warn(
            f"a fraction {monitor.largest_fraction:.3g} of the mass of species "
            f"{monitor.largest_species} (0-based) reached the outer {BOUNDARY_LAYER:.0%} of "
            f"the domain {tuple(request['domain'])} (first above {BOUNDARY_MASS_FRACTION:g} at "
            f"t = {monitor.first_time:.4g}); the no-flux boundary now changes the solution of "
            "the whole-line problem, so widen the domain",
            RuntimeWarning,
            stacklevel=2,
        )
    return PDESolution(x=x, times=times, density=density, system=system, equation=equation,
                       boundary=boundary, domain=tuple(request["domain"]),
                       parameters=parameters, record=record)


# --- Input validation ----------------------------------------------------------


def _check_parameters(parameters):
    check_parameters(parameters)
    if parameters.dimension != 1:
        msg = f"the PDE solvers support dimension 1 only, got {parameters.dimension}"
        raise ValueError(msg)


def _validate_request(initial_density, parameters, *, system, equation, domain, boundary,
                      final_time, output_times, method, time_step, tolerance, max_time_step,
                      whole_line, renormalize_kernel):
    """Check every argument of :func:`solve_cross_diffusion` and return them resolved."""
    _check_parameters(parameters)
    check_choice("system", system, SYSTEMS)
    check_choice("equation", equation, EQUATIONS)
    check_choice("boundary", boundary, BOUNDARIES)
    check_choice("method", method, METHODS)
    a, b = check_domain(domain)
    density = check_species_density("initial_density", initial_density, parameters,
                                    nonnegative=True)
    n_species, cells = density.shape
    if not 3 <= cells <= MAX_CELLS:
        msg = (f"initial_density must have between 3 and {MAX_CELLS} cells (axis 1), got shape "
               f"{density.shape}")
        raise ValueError(msg)
    masses = density.sum(axis=1)
    if np.any(masses <= 0):
        msg = ("initial_density must have positive mass for every species, got sums "
               f"{masses.tolist()}")
        raise ValueError(msg)
    if boundary == "periodic" and parameters.potential != 0.0:
        msg = (f"boundary='periodic' needs potential == 0, because U = c x^2 / 2 is not "
               f"periodic; got potential {parameters.potential!r}")
        raise ValueError(msg)
    final_time = check_positive("final_time", final_time)
    if output_times is None:
        output_times = [final_time]
    output_times = check_output_times(output_times, final_time)
    stored = output_times.size * n_species * cells
    if stored > MAX_STORED_VALUES:
        msg = (f"{output_times.size} output times x {n_species} species x {cells} cells = "
               f"{stored} stored values, more than {MAX_STORED_VALUES} (2 GiB); request fewer "
               "output times or cells")
        raise ValueError(msg)
    if time_step is not None:
        time_step = check_positive("time_step", time_step)
    if tolerance is not None:
        tolerance = check_positive("tolerance", tolerance)
        if not MIN_TOLERANCE <= tolerance < 1.0:
            msg = (f"tolerance must lie in [{MIN_TOLERANCE:g}, 1) (a relative L1 error per "
                   f"step), got {tolerance!r}")
            raise ValueError(msg)
    if max_time_step is not None:
        max_time_step = check_positive("max_time_step", max_time_step)
    if method == "euler":
        if time_step is None:
            msg = "method='euler' takes fixed steps, so time_step is required"
            raise ValueError(msg)
        if tolerance is not None:
            msg = ("method='euler' takes fixed steps without error control; got tolerance "
                   f"{tolerance!r}")
            raise ValueError(msg)
    adaptive = method == "bdf2" and (tolerance is not None or time_step is None)
    if adaptive and tolerance is None:
        tolerance = DEFAULT_TOLERANCE
    if not adaptive and final_time / time_step + output_times.size > MAX_FIXED_STEPS:
        msg = (f"final_time / time_step = {final_time / time_step:.3g} fixed steps; at most "
               f"{MAX_FIXED_STEPS:.0e} are allowed, so raise time_step or use adaptive steps")
        raise ValueError(msg)
    check_bool("whole_line", whole_line)
    check_bool("renormalize_kernel", renormalize_kernel)
    return {
        "density": np.ascontiguousarray(density),
        "cells": cells,
        "domain": (a, b),
        "final_time": final_time,
        "output_times": output_times,
        "method": method,
        "time_step": time_step,
        "tolerance": tolerance,
        "adaptive": adaptive,
        "max_time_step": max_time_step,
        "watch_boundary": whole_line and boundary == "no-flux",
    }


# --- Space discretisation -----------------------------------------------------------


class _KernelConvolution:
    """FFT convolution with the unit kernel ``B^eta / a`` sampled at the cell centres."""

    def __init__(self, parameters, cells, dx, *, periodic, renormalize):
        radius = parameters.radius
        weight = kernel_weights([[1.0]], radius=radius, normalization=parameters.normalization,
                                dimension=1)[0, 0]
        reach = int(math.floor(radius / dx))
        offsets = np.arange(-reach, reach + 1)
        distances = np.abs(offsets * dx) / radius
        inside = distances < 1.0
        samples = np.zeros(offsets.size)
        samples[inside] = np.exp(-1.0 / (1.0 - distances[inside] ** 2))
        values = weight * samples * dx
        if renormalize:
            # The exact integral of weight * B(|x| / eta) over the line.
            exact = weight * radius * BUMP_INTEGRAL_1D
            values *= exact / values.sum()
        self.cells = cells
        self.periodic = periodic
        self.length = cells if periodic else scipy.fft.next_fast_len(cells + reach, real=True)
        ring = np.zeros(self.length)
        # Offsets wrap around the ring; on a periodic grid shorter than the
        # kernel several offsets land on the same cell and their weights add.
        np.add.at(ring, offsets % self.length, values)
        self.kernel_spectrum = scipy.fft.rfft(ring)

    def apply(self, density):
        """Return ``K * u_k`` for every species ``k``, shape (n_species, cells)."""
        spectrum = scipy.fft.rfft(density, n=self.length, axis=1)
        smoothed = scipy.fft.irfft(spectrum * self.kernel_spectrum, n=self.length, axis=1)
        return np.ascontiguousarray(smoothed[:, : self.cells])


class _Discretization:
    """The finite-volume operator of one system on one grid."""

    def __init__(self, parameters, system, equation, domain, cells, *, periodic,
                 renormalize_kernel):
        a, b = domain
        self.parameters = parameters
        self.system = system
        self.system_code = _SYSTEM_CODES[system]
        self.equation = equation
        self.local = equation == "local"
        self.periodic = periodic
        self.cells = cells
        self.n_species = parameters.n_species
        self.dx = (b - a) / cells
        self.x = a + self.dx * (np.arange(cells) + 0.5)
        interfaces = a + self.dx * np.arange(1, cells + 1)
        # Velocity -U'(x) = -c x at interface j. The last interface exists only
        # on a periodic grid, where the potential is 0.
        self.velocity = np.ascontiguousarray(-parameters.potential * interfaces)
        if periodic:
            self.velocity[-1] = 0.0
        self.diffusion = np.ascontiguousarray(parameters.diffusion, dtype=float)
        self.interaction = np.ascontiguousarray(parameters.interaction, dtype=float)
        if self.local:
            kind, power, _, _ = parameters.nonlinearity.compiled_parameters(parameters.radius)
            self.nonlinearity = (kind, power, math.inf, 0.0)
            self.convolution = None
        else:
            self.nonlinearity = parameters.nonlinearity.compiled_parameters(parameters.radius)
            self.convolution = _KernelConvolution(parameters, cells, self.dx, periodic=periodic,
                                                  renormalize=renormalize_kernel)
        shape = (self.n_species, self.n_species, cells)
        self.lower = np.zeros(shape)
        self.diag = np.zeros(shape)
        self.upper = np.zeros(shape)
        self.residual = np.zeros((self.n_species, cells))
        self.left = np.zeros((self.n_species, cells))
        self.right = np.zeros((self.n_species, cells))

    def coefficient(self, u):
        """Return the pressure ``p`` (SKT) or the interaction potential ``V`` (drift)."""
        fields = u if self.local else self.convolution.apply(u)
        if self.system == "skt":
            out = np.empty_like(fields)
            kernels.pressures(fields, self.diffusion, self.interaction, *self.nonlinearity, out)
            return out
        return self.interaction @ fields

    def rhs(self, u):
        """Return the semi-discrete time derivative ``F(u)``."""
        self._freeze(self.coefficient(u))
        out = np.empty_like(u)
        kernels.apply_fluxes(self.left, self.right, u, self.dx, self.periodic, out)
        return out

    def _freeze(self, coefficient):
        kernels.frozen_fluxes(self.system_code, coefficient, self.diffusion, self.velocity,
                              self.dx, self.periodic, self.left, self.right)

    def solve_frozen(self, frozen_state, alpha, h, target, masses):
        """Solve ``alpha u - h F(u; coefficients at frozen_state) = target`` (linear in ``u``).

        The matrix has column sums ``alpha``, so the solution has the mass
        ``sum(target) / alpha``, which equals ``masses`` (the sums over cells
        of the current state) in exact arithmetic. Round-off in the solve
        grows with the condition number, about ``h / dx^2`` times the
        pressure, and shifted the mass by about ``1e-14`` per step on 4096
        cells. Rescaling each species to ``masses`` removes that drift
        and keeps the signs.
        """
        self._freeze(self.coefficient(frozen_state))
        kernels.assemble_frozen(self.left, self.right, alpha, h, self.dx, self.lower,
                                self.diag, self.upper)
        solution = kernels.solve_block_tridiagonal(self.lower, self.diag, self.upper, target,
                                                   self.periodic)
        # A failed solve can sum to zero or NaN, which the caller detects as non-finite.
        with np.errstate(divide="ignore", invalid="ignore"):
            solution *= (masses / solution.sum(axis=1))[:, None]
        return solution

    def newton_update(self, u, alpha, h, target):
        """Return the Newton update of ``alpha u - h F(u) = target`` at the iterate ``u``."""
        kernels.assemble_newton(self.system_code, u, target, alpha, h, self.diffusion,
                                self.interaction, self.velocity, self.dx, self.periodic,
                                *self.nonlinearity, self.residual, self.lower, self.diag,
                                self.upper)
        return kernels.solve_block_tridiagonal(self.lower, self.diag, self.upper,
                                               -self.residual, self.periodic)

    def check_parabolicity(self, u, time_value):
        """Raise :class:`ParabolicityError` where a local system is not parabolic."""
        if not self.local:
            return
        margins = np.empty(self.cells)
        kernels.parabolicity_margins(self.system_code, u, self.diffusion, self.interaction,
                                     *self.nonlinearity, margins)
        if not np.isfinite(margins).all():
            cell = int(np.flatnonzero(~np.isfinite(margins))[0])
            msg = (
                f"the eigenvalues of the diffusion matrix at t = {time_value:.6g}, x = "
                f"{self.x[cell]:.4g} overflow double precision: the coefficients (largest "
                f"diffusion {self.diffusion.max():.3g}, largest interaction "
                f"{self.interaction.max():.3g}), the nonlinearity f or the densities (largest "
                f"{u.max():.3g}) are too large; rescale the problem"
            )
            raise ValueError(msg)
        bad = np.flatnonzero(margins <= 0.0)
        if bad.size == 0:
            return
        worst = bad[np.argmin(margins[bad])]
        interval = (float(self.x[bad[0]]), float(self.x[bad[-1]]))
        name = "SKT" if self.system == "skt" else "mean-field (drift)"
        if bad.size == 1:
            where = f"1 cell at x = {interval[0]:.4g} has"
        else:
            where = (f"{bad.size} cells between x = {interval[0]:.4g} and "
                     f"x = {interval[1]:.4g} have")
        if np.any(self.interaction != 0.0):
            remedy = ("This is backward diffusion, for which the problem is ill-posed. Solve "
                      "the nonlocal form instead (equation 'nonlocal', with a kernel radius "
                      "eta > 0), or reduce the interaction or the densities")
        else:
            remedy = ("Without interaction this means a diffusion coefficient too small for "
                      "double precision; raise it")
        msg = (
            f"the local {name} system is not parabolic at t = {time_value:.6g}: its diffusion "
            f"matrix has an eigenvalue with real part {margins[worst]:.4g} at x = "
            f"{self.x[worst]:.4g}, and {where} an eigenvalue with non-positive real part. "
            + remedy
        )
        raise ParabolicityError(msg, time=float(time_value), position=float(self.x[worst]),
                                interval=interval, smallest_real_part=float(margins[worst]))


class _BoundaryMonitor:
    """Track the fraction of each species' mass in the outer cells of the interval."""

    def __init__(self, u0):
        cells = u0.shape[1]
        self.layer = max(1, int(round(BOUNDARY_LAYER * cells)))
        self.masses = u0.sum(axis=1)
        self.largest_fraction = 0.0
        self.largest_species = 0
        self.first_time = None

    def fractions(self, u):
        """Return the largest fraction of mass in the boundary layer and its species."""
        outer = u[:, : self.layer].sum(axis=1) + u[:, -self.layer:].sum(axis=1)
        fractions = outer / self.masses
        species = int(np.argmax(fractions))
        return float(fractions[species]), species

    def observe(self, u, time_value):
        fraction, species = self.fractions(u)
        if fraction > self.largest_fraction:
            self.largest_fraction = fraction
            self.largest_species = species
        if fraction > BOUNDARY_MASS_FRACTION and self.first_time is None:
            self.first_time = time_value


# --- Time stepping ------------------------------------------------------------------


def _relative_l1(difference, reference):
    """Return ``max_i ||difference_i||_1 / ||reference_i||_1`` over the species."""
    numerator = np.abs(difference).sum(axis=1)
    denominator = np.abs(reference).sum(axis=1)
    return float(np.max(numerator / np.maximum(denominator, np.finfo(float).tiny)))


def _bdf_formula(u, u_previous, h, h_previous, derivative):
    """Return ``(alpha, target, predictor)`` of a BDF step: ``alpha u_new - h F = target``.

    The first step (``u_previous is None``) is backward Euler with the
    explicit Euler predictor. Later steps are variable-step BDF2 with the
    Hermite predictor through ``u_previous``, ``u`` and ``derivative``.
    """
    if u_previous is None:
        return 1.0, u, u + h * derivative
    omega = h / h_previous
    alpha = (1.0 + 2.0 * omega) / (1.0 + omega)
    target = (1.0 + omega) * u - (omega * omega / (1.0 + omega)) * u_previous
    curvature = (u_previous - u + derivative * h_previous) / (h_previous * h_previous)
    predictor = u + h * derivative + (h * h) * curvature
    return alpha, target, predictor


class _StepFailure(Exception):
    """Raised inside a step attempt when Newton's method does not converge."""


class _Integrator:
    """Adaptive or fixed-step time integration, with fallback and output bookkeeping."""

    def __init__(self, discretization, request, monitor):
        self.discretization = discretization
        self.request = request
        self.monitor = monitor
        self.adaptive = request["adaptive"]
        self.tolerance = request["tolerance"]
        self.method = request["method"]
        self.newton_tolerance = (NEWTON_FRACTION * self.tolerance if self.adaptive
                                 else FIXED_STEP_NEWTON_TOLERANCE)
        # Contraction rate of the last Newton iteration; 0.5 forces a second
        # update in the first step.
        self.newton_rate = 0.5
        self.record = {
            "method": self.method,
            "adaptive": self.adaptive,
            "tolerance": self.tolerance,
            "steps": 0,
            "rejected_steps": 0,
            "fallback_steps": 0,
            "newton_iterations": 0,
            "clipped_steps": 0,
            "min_density": math.inf,
            "min_time_step": math.inf,
            "max_time_step": 0.0,
        }

    # -- one step ----------------------------------------------------------------

    def attempt(self, u, u_previous, h, h_previous, derivative):
        """Try one step of size ``h`` from ``u``.

        ``u_previous`` is ``None`` for the first step, and ``derivative`` is
        the time derivative at ``u`` used by the predictor. Returns
        ``(u_new, order, error, new_derivative)``, where ``order`` is 1 for a
        backward or linearly implicit Euler step and 2 for a BDF2 step, and
        ``error`` is the estimated local error divided by the tolerance
        (``None`` for fixed steps).
        """
        if self.method == "bdf2":
            formula = _bdf_formula(u, u_previous, h, h_previous, derivative)
            candidate = self._bdf_solve(u, u_previous, h, h_previous, formula)
            if candidate is not None:
                alpha, target, predictor = formula
                new_derivative = (alpha * candidate - target) / h
                if not self.adaptive:
                    return candidate, 2, None, new_derivative
                difference = _relative_l1(candidate - predictor, candidate)
                if u_previous is None:
                    # Backward Euler against the explicit Euler predictor:
                    # errors -h^2 u''/2 and +h^2 u''/2.
                    return candidate, 1, 0.5 * difference / self.tolerance, new_derivative
                factor = (h + h_previous) / (3.0 * h + 2.0 * h_previous)
                return candidate, 2, factor * difference / self.tolerance, new_derivative
            self.record["fallback_steps"] += 1
            predictor = formula[2]
        else:
            predictor = None

        candidate = self._euler_solve(u, h)
        new_derivative = (candidate - u) / h
        if not self.adaptive or predictor is None:
            return candidate, 1, None, new_derivative
        # The predictor is second-order accurate, so the difference is
        # dominated by the Euler error h^2 u'' / 2.
        error = _relative_l1(candidate - predictor, candidate) / self.tolerance
        return candidate, 1, error, new_derivative

    def _bdf_solve(self, u, u_previous, h, h_previous, formula):
        """Return the BDF solution, or ``None`` when Newton fails or it undershoots."""
        disc = self.discretization
        alpha, target, predictor = formula
        if disc.local:
            try:
                candidate = self._newton(np.maximum(predictor, 0.0), alpha, h, target)
            except _StepFailure:
                return None
        else:
            if u_previous is None:
                frozen = u
            else:
                frozen = np.maximum(u + (h / h_previous) * (u - u_previous), 0.0)
            candidate = disc.solve_frozen(frozen, alpha, h, target, u.sum(axis=1))
            if not np.isfinite(candidate).all():
                return None
        return self._clean_negative(candidate)

    def _euler_solve(self, u, h):
        """Return the linearly implicit Euler step: solvable, non-negative and conservative."""
        candidate = self.discretization.solve_frozen(u, 1.0, h, u, u.sum(axis=1))
        if np.isfinite(candidate).all():
            # The block Thomas solve of this M-matrix cannot produce negative
            # values, but the Sherman-Morrison-Woodbury correction of a
            # periodic grid can leave round-off negatives, which are cleaned.
            cleaned = self._clean_negative(candidate)
            if cleaned is not None:
                return cleaned
        return candidate

    def _newton(self, guess, alpha, h, target):
        """Solve ``alpha u - h F(u) = target`` by Newton's method from ``guess``.

        Every iterate has the mass of ``target / alpha``, because the columns
        of the Newton matrix sum to ``alpha``. The iteration stops when the
        next update, estimated as ``rate / (1 - rate)`` times the last one,
        is below the Newton tolerance. ``rate`` is the observed contraction
        ``|update_k| / |update_{k-1}|``, or the last one of the previous step
        when only one update was made (as in Hairer and Wanner's RADAU5).
        """
        disc = self.discretization
        u = guess.copy()
        previous_norm = math.inf
        # A rate carried over from an earlier step grows a little each time it
        # is reused, so that a second update now and then checks it.
        rate = self.newton_rate = max(self.newton_rate, 1e-8) ** 0.8
        for iteration in range(1, MAX_NEWTON_ITERATIONS + 1):
            update = disc.newton_update(u, alpha, h, target)
            u += update
            self.record["newton_iterations"] += 1
            if not np.isfinite(u).all():
                raise _StepFailure
            norm = _relative_l1(update, u)
            if iteration > 1:
                rate = norm / previous_norm
                if rate >= 1.0:
                    raise _StepFailure
                self.newton_rate = rate
            if norm == 0.0 or rate / (1.0 - rate) * norm <= self.newton_tolerance:
                return u
            previous_norm = norm
        raise _StepFailure

    def _clean_negative(self, u):
        """Return ``u`` with round-off negatives removed, or ``None`` for real undershoots."""
        if (u >= 0.0).all():
            return u
        negative_mass = np.minimum(u, 0.0).sum(axis=1)
        total = u.sum(axis=1)
        if np.any(-negative_mass > NEGATIVE_MASS_FRACTION * np.abs(total)):
            return None
        cleaned = np.maximum(u, 0.0)
        cleaned *= (total / cleaned.sum(axis=1))[:, None]
        self.record["clipped_steps"] += 1
        return cleaned

    # -- the loop ------------------------------------------------------------------

    def run(self, u0, derivative, bar):
        """Integrate from ``u0`` (time derivative ``derivative``) and return the outputs."""
        request = self.request
        output_times = request["output_times"]
        final_time = request["final_time"]
        stored = np.empty((output_times.size, *u0.shape))
        self.stored = stored
        self.outputs_done = 0
        self.output_times = output_times
        self._store_outputs(u0, 0.0)
        if self.adaptive:
            self._run_adaptive(u0, derivative, final_time, bar)
        else:
            self._run_fixed(u0, derivative, final_time, bar)
        return output_times.copy(), stored

    def _store_outputs(self, u, time_value):
        times = self.output_times
        while self.outputs_done < times.size and abs(times[self.outputs_done] - time_value) <= (
            1e-12 * max(1.0, abs(time_value))
        ):
            self.stored[self.outputs_done] = u
            self.outputs_done += 1

    def _accept(self, u_new, time_value, h, step_index, bar):
        self._check_finite(u_new, step_index, time_value)
        try:
            self.discretization.check_parabolicity(u_new, time_value)
        except ParabolicityError as error:
            error.partial = self._partial(step_index)
            error.args = (f"{error.args[0]}. {self._kept_note()}",)
            raise
        if self.monitor is not None:
            self.monitor.observe(u_new, time_value)
        self.record["steps"] = step_index
        self.record["min_density"] = min(self.record["min_density"], float(u_new.min()))
        self.record["min_time_step"] = min(self.record["min_time_step"], h)
        self.record["max_time_step"] = max(self.record["max_time_step"], h)
        self._store_outputs(u_new, time_value)
        bar.update(h)

    def _check_finite(self, u, step_index, time_value):
        finite = np.isfinite(u).all(axis=1)
        if finite.all():
            return
        species = int(np.flatnonzero(~finite)[0])
        msg = (
            f"non-finite density at step {step_index} (t = {time_value:.6g}) in species "
            f"{species} (0-based); the coefficients may overflow for these data. "
            f"{self._kept_note()}"
        )
        raise NonFiniteDensityError(msg, step=step_index, time=time_value, species=species,
                                    partial=self._partial(step_index))

    def _kept_note(self):
        """Return the sentence that counts the outputs a failure keeps."""
        if self.outputs_done == 1:
            return "1 output was stored before the failure"
        return f"{self.outputs_done} outputs were stored before the failure"

    def _partial(self, failed_step):
        """Return the outputs stored so far as a :class:`PDESolution`."""
        disc = self.discretization
        return PDESolution(
            x=disc.x, times=self.output_times[: self.outputs_done].copy(),
            density=self.stored[: self.outputs_done].copy(), system=disc.system,
            equation=disc.equation, boundary="periodic" if disc.periodic else "no-flux",
            domain=self.request["domain"], parameters=disc.parameters,
            record=dict(self.record, failed_step=failed_step),
        )

    def _run_fixed(self, u0, derivative, final_time, bar):
        steps, _ = build_time_grid(final_time, self.request["time_step"],
                                   self.output_times.tolist())
        u, u_previous, h_previous = u0, None, None
        if self.method != "bdf2":
            derivative = None
        time_value = 0.0
        for index, h in enumerate(steps, start=1):
            u_new, _, _, derivative = self.attempt(u, u_previous, h, h_previous, derivative)
            time_value += h
            if index == steps.size:
                time_value = final_time
            u_previous, u, h_previous = u, u_new, h
            self._accept(u, self._snap(time_value), h, index, bar)

    def _snap(self, time_value):
        """Return the next output time if ``time_value`` equals it up to round-off."""
        times = self.output_times
        if self.outputs_done < times.size:
            target = times[self.outputs_done]
            if abs(target - time_value) <= 1e-9 * max(1.0, abs(target)):
                return float(target)
        return time_value

    def _run_adaptive(self, u0, derivative, final_time, bar):
        h = self._initial_step(u0, derivative, final_time)
        max_step = self.request["max_time_step"] or math.inf
        u, u_previous, h_previous = u0, None, None
        time_value = 0.0
        step_index = 0
        rejected_in_row = 0
        previous_error = 1.0
        stops = [t for t in self.output_times.tolist() if t > 0.0]
        if not stops or stops[-1] < final_time:
            stops.append(final_time)
        for stop in stops:
            while time_value < stop:
                remaining = stop - time_value
                step = min(h, max_step)
                if step >= remaining * (1.0 - 1e-12):
                    step = remaining
                elif 2.0 * step > remaining:
                    step = 0.5 * remaining
                if not step >= MIN_RELATIVE_STEP * final_time:
                    self._stop_small_step(step, time_value, step_index)
                u_new, order, error, new_derivative = self.attempt(
                    u, u_previous, step, h_previous, derivative)
                if error is None:
                    error = 0.0
                error = max(error, 1e-10)
                exponent = 1.0 / (order + 1)
                if error > 1.0:
                    factor = SAFETY_FACTOR * error ** (-exponent)
                    self.record["rejected_steps"] += 1
                    rejected_in_row += 1
                    if rejected_in_row > MAX_REJECTED_STEPS:
                        self._stop_small_step(step, time_value, step_index,
                                              rejected=rejected_in_row)
                    h = step * max(MIN_STEP_FACTOR, min(factor, 0.9))
                    continue
                step_index += 1
                time_value = stop if step == remaining else time_value + step
                u_previous, u, h_previous, derivative = u, u_new, step, new_derivative
                self._accept(u, time_value, step, step_index, bar)
                # Proportional-integral control of the step (Gustafsson's
                # gains 0.3 and 0.4 times the exponent): the memory of the
                # previous error damps the oscillation between accepted and
                # rejected steps where stability rather than accuracy limits h.
                factor = (SAFETY_FACTOR * error ** (-0.7 * exponent)
                          * previous_error ** (0.4 * exponent))
                previous_error = error
                limit = 1.0 if rejected_in_row else MAX_STEP_RATIO
                rejected_in_row = 0
                h = step * min(limit, max(MIN_STEP_FACTOR, factor))

    def _stop_small_step(self, step, time_value, step_index, rejected=0):
        """Raise :class:`StepSizeError` for a run whose adaptive steps cannot advance."""
        reason = (f"after {rejected} rejected steps in a row" if rejected
                  else f"below {MIN_RELATIVE_STEP:g} times the final time")
        msg = (f"the adaptive step size fell to {step:.3g} at t = {time_value:.6g} ({reason}), "
               f"so the tolerance {self.tolerance:g} cannot be met for these data; loosen it "
               f"or check the size of the coefficients. {self._kept_note()}")
        raise StepSizeError(msg, time=time_value, step_size=step,
                            partial=self._partial(step_index + 1))

    def _initial_step(self, u0, derivative, final_time):
        if self.request["time_step"] is not None:
            return self.request["time_step"]
        # Backward Euler makes a local error of about h^2 |u''| / 2, and
        # |u''| is estimated by rate^2 |u| with rate = |F(u0)| / |u0|.
        rate = _relative_l1(derivative, u0)
        if rate == 0.0 or not math.isfinite(rate):
            return final_time
        return min(final_time, 0.5 * math.sqrt(2.0 * self.tolerance) / rate)
