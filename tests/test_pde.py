"""Tests of skt_lib.pde: finite-volume solvers of the cross-diffusion systems in 1D."""

import math
import warnings

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg
from scipy import integrate

from skt_lib import ModelParameters, Nonlinearity
from skt_lib import _pde_kernels as kernels
from skt_lib import pde
from skt_lib.kernels import BUMP_INTEGRAL_1D, evaluate_kernel
from skt_lib.pde import (
    NonFiniteDensityError,
    ParabolicityError,
    StepSizeError,
    _Discretization,
    barenblatt_constant,
    barenblatt_density,
    barenblatt_front,
    cell_centers,
    gaussian_density,
    kernel_convolution,
    solve_cross_diffusion,
)

# The three settings of Section 7 of Chen, Daus, Holzinger and Juengel (2020),
# as listed in book/model.md: diffusion constants, interaction matrix and
# means of the initial Gaussians (variance 2), with kernel radius 2.
FIGURES = {
    1: ([1.0, 2.0], [[0.0, 355.0], [25.0, 0.0]], [-1.0, 1.0]),
    2: ([1.0, 2.0], [[0.0, 355.0], [355.0, 0.0]], [-1.0, 1.0]),
    3: ([1.0, 2.0, 3.0], [[0.0, 355.0, 355.0], [25.0, 0.0, 25.0], [355.0, 0.0, 0.0]],
        [-1.0, 2.0, -3.0]),
}
FIGURE_VARIANCE = 2.0
FIGURE_RADIUS = 2.0
FIGURE_DOMAIN = (-25.0, 25.0)
# The three systems that are well-posed for the figures' data.
WELL_POSED = [("skt", "local"), ("skt", "nonlocal"), ("drift", "nonlocal")]

#: Second moment of the unit-mass bump exp(-1/(1-s^2)) / Z on [-1, 1].
BUMP_SECOND_MOMENT = 0.158113636263798

QUAD_OPTIONS = {"epsabs": 1e-14, "epsrel": 1e-13, "limit": 200}


def solve(initial, parameters, **options):
    """Run solve_cross_diffusion without a progress bar."""
    return solve_cross_diffusion(initial, parameters, progress=False, **options)


def figure_setup(figure, cells, *, domain=FIGURE_DOMAIN):
    """Return (x, initial density, parameters) of a paper figure on a grid."""
    diffusion, interaction, means = FIGURES[figure]
    x = cell_centers(domain, cells)
    initial = np.array([gaussian_density(x, mean, FIGURE_VARIANCE) for mean in means])
    parameters = ModelParameters(diffusion=diffusion, interaction=interaction,
                                 radius=FIGURE_RADIUS)
    return x, initial, parameters


def l1_distance(first, second, dx):
    """Return the largest L1 distance over the species."""
    return float(np.max(np.abs(first - second).sum(axis=-1) * dx))


def observed_orders(errors):
    """Return log2 of the ratios of consecutive errors (halved step or cell width)."""
    errors = np.asarray(errors)
    return np.log2(errors[:-1] / errors[1:])


# --- Helpers: grid, Gaussian and Barenblatt profiles ------------------------------


def test_cell_centers_tile_domain():
    x = cell_centers((-1.0, 3.0), 8)

    assert x.shape == (8,)
    assert x[0] == pytest.approx(-0.75, abs=1e-15)
    assert x[-1] == pytest.approx(2.75, abs=1e-15)
    assert np.allclose(np.diff(x), 0.5, rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("domain", "cells", "error", "pattern"),
    [
        ((0.0, 1.0), 0, ValueError, "cells"),
        ((0.0, 1.0), -4, ValueError, "cells"),
        ((0.0, 1.0), 2.5, TypeError, "cells"),
        ((1.0, 1.0), 4, ValueError, "domain"),
        ((2.0, 1.0), 4, ValueError, "domain"),
        ((0.0,), 4, ValueError, "domain"),
        ((0.0, math.inf), 4, ValueError, "domain"),
    ],
)
def test_cell_centers_reject_invalid(domain, cells, error, pattern):
    with pytest.raises(error, match=pattern):
        cell_centers(domain, cells)


def test_gaussian_density_has_requested_mass():
    mass, quad_error = integrate.quad(lambda s: float(gaussian_density(s, 0.4, 0.3, mass=2.5)),
                                      -10.0, 10.0, **QUAD_OPTIONS)

    assert quad_error < 1e-12
    assert mass == pytest.approx(2.5, rel=1e-12)


def test_barenblatt_constant_for_unit_mass():
    assert barenblatt_constant(1.0) == pytest.approx(0.3605623926, abs=1e-10)


@pytest.mark.parametrize("mass", [0.5, 1.0, 3.0])
def test_barenblatt_has_requested_mass(mass):
    time, coefficient = 0.7, 2.0
    front = barenblatt_front(mass, time, coefficient)
    integral, quad_error = integrate.quad(
        lambda s: float(barenblatt_density(s, mass, time, coefficient)), -front, front,
        **QUAD_OPTIONS)

    assert quad_error < 1e-12
    assert integral == pytest.approx(mass, rel=1e-12)


def test_barenblatt_vanishes_beyond_front():
    mass, time, coefficient = 1.0, 0.5, 3.0
    front = barenblatt_front(mass, time, coefficient)
    inside = barenblatt_density([0.999 * front, -0.999 * front], mass, time, coefficient)
    outside = barenblatt_density([1.001 * front, -1.001 * front], mass, time, coefficient)

    assert front == pytest.approx(math.sqrt(12 * barenblatt_constant(mass))
                                  * (coefficient * time) ** (1 / 3), rel=1e-15)
    assert np.all(inside > 0)
    assert np.all(outside == 0)


def test_barenblatt_solves_porous_medium_equation():
    mass, time, coefficient = 1.0, 0.8, 1.7
    front = barenblatt_front(mass, time, coefficient)
    x = np.linspace(-0.8 * front, 0.8 * front, 9)
    step = 1e-4

    def u(s, t):
        return barenblatt_density(s, mass, t, coefficient)

    time_derivative = (u(x, time + step) - u(x, time - step)) / (2 * step)
    square = lambda s: u(s, time) ** 2  # noqa: E731
    second_derivative = (square(x + step) - 2 * square(x) + square(x - step)) / step**2

    # Central differences are second order: errors of about step^2 times
    # third and fourth derivatives of order 10, plus round-off eps / step^2
    # of about 2e-8 in the second difference.
    assert np.allclose(time_derivative, coefficient * second_derivative, rtol=0, atol=1e-5)


# --- Conservation and positivity ---------------------------------------------------


@pytest.mark.parametrize("boundary", ["no-flux", "periodic"])
@pytest.mark.parametrize(("system", "equation"), WELL_POSED + [("drift", "local")])
def test_mass_conserved_to_round_off(system, equation, boundary):
    _, initial, parameters = figure_setup(1, 256)
    if system == "drift" and equation == "local":
        # Small interactions keep the local mean-field system parabolic.
        parameters = ModelParameters(diffusion=[1.0, 2.0], interaction=[[0.5, 1.0], [2.0, 0.0]],
                                     radius=FIGURE_RADIUS)
    solution = solve(initial, parameters, system=system, equation=equation,
                     domain=FIGURE_DOMAIN, boundary=boundary, final_time=1.0,
                     output_times=np.linspace(0, 1, 11))
    masses = solution.mass()

    # Fluxes cancel pairwise, Newton updates have zero mass and the linear
    # solves are rescaled to the mass, so only round-off of about 1e-16 per
    # step and cell sum remains.
    assert solution.record["steps"] > 20
    assert np.all(np.abs(masses / masses[0] - 1) <= 1e-12)


@pytest.mark.parametrize("figure", [1, 2, 3])
@pytest.mark.parametrize(("system", "equation"), WELL_POSED)
def test_figure_runs_stay_nonnegative(figure, system, equation):
    _, initial, parameters = figure_setup(figure, 256)
    solution = solve(initial, parameters, system=system, equation=equation,
                     domain=FIGURE_DOMAIN, final_time=0.3,
                     output_times=np.linspace(0.01, 0.3, 30))

    # min_density is the smallest value over all accepted steps, not only
    # over the outputs.
    assert solution.record["min_density"] >= 0
    assert np.all(solution.density >= 0)


@pytest.mark.parametrize(("system", "equation"), WELL_POSED)
def test_figure_one_full_run_is_conservative(system, equation):
    _, initial, parameters = figure_setup(1, 1024)
    solution = solve(initial, parameters, system=system, equation=equation,
                     domain=FIGURE_DOMAIN, final_time=2.0)
    masses = solution.mass()

    assert solution.record["min_density"] >= 0
    assert np.all(np.abs(masses / masses[0] - 1) <= 1e-12)


def test_skt_local_figure_one_splits_first_species():
    # The local SKT solution at t = 2 puts species 1 in two clusters on
    # either side of species 2, as the particles of Figure 1 do.
    x, initial, parameters = figure_setup(1, 1024)
    density = solve(initial, parameters, domain=FIGURE_DOMAIN, final_time=2.0).density[-1]
    first, second = density
    peaks = [x[j] for j in range(1, x.size - 1)
             if first[j] > first[j - 1] and first[j] >= first[j + 1] and first[j] > 0.01]

    assert len(peaks) == 2
    assert peaks[0] < x[np.argmax(second)] < peaks[1]


# --- Linear problems: exact solutions and observed order in space -------------------


def cosine_errors(boundary, cells_list):
    sigma, length, final_time = 0.7, 2.0, 0.5
    domain = (0.0, length)
    parameters = ModelParameters(diffusion=[sigma], interaction=[[0.0]], radius=1.0)
    # The lowest non-constant mode: cos(pi x / L) with no-flux ends, cos(2 pi x / L)
    # on a ring of length L.
    wave_number = math.pi / length if boundary == "no-flux" else 2 * math.pi / length
    errors = []
    for cells in cells_list:
        x = cell_centers(domain, cells)
        initial = (1 + 0.5 * np.cos(wave_number * x))[None]
        solution = solve(initial, parameters, domain=domain, boundary=boundary,
                         final_time=final_time, tolerance=1e-10, whole_line=False)
        decay = math.exp(-sigma * wave_number**2 * final_time)
        exact = 1 + 0.5 * decay * np.cos(wave_number * x)
        errors.append(np.max(np.abs(solution.density[-1, 0] - exact)))
    return errors


@pytest.mark.parametrize("boundary", ["no-flux", "periodic"])
def test_cosine_mode_decays_at_second_order(boundary):
    cells_list = [16, 32, 64]
    errors = cosine_errors(boundary, cells_list)
    orders = observed_orders(errors)

    # The cell-centred three-point Laplacian has the cosine as an exact
    # eigenvector with eigenvalue -(2 / dx)^2 sin^2(k dx / 2) = -k^2 (1 - k^2
    # dx^2 / 12 + ...), so the error is second order in dx. The time error
    # (tolerance 1e-10) is far below the space error.
    assert np.all(orders > 1.9)
    assert np.all(orders < 2.1)
    assert errors[-1] < 1e-4


def test_gaussian_under_potential_moments_first_order():
    # d_t u = d_x(u d_x U) + sigma d_xx u with U = -x^2 / 2 is the law of
    # dX = X dt + sqrt(2 sigma) dW: mean m0 e^t, and the variance v solves
    # v' = 2 v + 2 sigma, so v(t) = (v0 + sigma) e^{2t} - sigma.
    sigma, mean0, variance0, final_time = 0.5, 0.3, 0.5, 0.5
    parameters = ModelParameters(diffusion=[sigma], interaction=[[0.0]], radius=1.0,
                                 potential=-1.0)
    domain = (-12.0, 12.0)
    exact_mean = mean0 * math.exp(final_time)
    exact_variance = (variance0 + sigma) * math.exp(2 * final_time) - sigma
    mean_errors = []
    variance_errors = []
    for cells in [200, 400, 800]:
        x = cell_centers(domain, cells)
        dx = x[1] - x[0]
        initial = gaussian_density(x, mean0, variance0)[None]
        density = solve(initial, parameters, domain=domain, final_time=final_time,
                        tolerance=1e-8).density[-1, 0]
        mass = density.sum() * dx
        mean = (x * density).sum() * dx / mass
        variance = ((x - mean) ** 2 * density).sum() * dx / mass
        mean_errors.append(abs(mean - exact_mean))
        variance_errors.append(abs(variance - exact_variance))

    # Upwinding the drift adds a numerical diffusion of about |v| dx / 2,
    # so both moments converge at first order.
    assert np.all(np.abs(observed_orders(mean_errors) - 1) < 0.1)
    assert np.all(np.abs(observed_orders(variance_errors) - 1) < 0.1)
    # Measured constants: mean error 0.093 dx and variance error 1.41 dx.
    assert mean_errors[-1] < 0.2 * 24 / 800
    assert variance_errors[-1] < 3.0 * 24 / 800


def test_porous_medium_barenblatt_convergence():
    # One species with f(s) = s and a vanishing sigma: d_t u = a d_xx(u^2).
    # The solver needs sigma > 0, and 1e-12 changes the solution by far
    # less than the errors measured here.
    coefficient, start, final_time = 1.0, 1.0, 1.0
    parameters = ModelParameters(diffusion=[1e-12], interaction=[[coefficient]], radius=1.0)
    domain = (-4.0, 4.0)
    errors = []
    for cells in [400, 800, 1600]:
        x = cell_centers(domain, cells)
        dx = x[1] - x[0]
        initial = barenblatt_density(x, 1.0, start, coefficient)[None]
        initial /= initial.sum() * dx
        density = solve(initial, parameters, domain=domain, final_time=final_time,
                        tolerance=1e-7).density[-1, 0]
        exact = barenblatt_density(x, 1.0, start + final_time, coefficient)
        errors.append(np.abs(density - exact).sum() * dx)

        # The front is the last cell above 1e-6 of the maximum. The implicit
        # scheme puts tiny positive values ahead of the front, so the
        # threshold is relative.
        front = x[np.flatnonzero(density > 1e-6 * density.max())[-1]]
        assert abs(front - barenblatt_front(1.0, start + final_time, coefficient)) <= 2 * dx

    # The scheme is second order for smooth solutions. The Barenblatt profile
    # is only Lipschitz at its front, where the error concentrates in a few
    # cells. Measured orders are 1.87 and 1.74 on these grids.
    orders = observed_orders(errors)
    assert np.all(np.diff(errors) < 0)
    assert np.all(orders > 1.5)


# --- Symmetries ---------------------------------------------------------------------


@pytest.mark.parametrize(("system", "equation"), WELL_POSED)
def test_species_swap_swaps_solution(system, equation):
    _, initial, parameters = figure_setup(1, 128)
    original = solve(initial, parameters, system=system, equation=equation,
                     domain=FIGURE_DOMAIN, final_time=0.3)
    swapped = solve(initial[::-1].copy(), parameters.swapped([1, 0]), system=system,
                    equation=equation, domain=FIGURE_DOMAIN, final_time=0.3)

    # Adaptive steps are chosen from the same error norm (a max over the
    # species), so both runs take the same steps and differ by round-off.
    assert swapped.record["steps"] == original.record["steps"]
    assert np.allclose(swapped.density[:, ::-1], original.density, rtol=0, atol=1e-13)


@pytest.mark.parametrize(("system", "equation"), WELL_POSED)
def test_reflection_mirrors_solution(system, equation):
    diffusion, interaction, _ = FIGURES[1]
    parameters = ModelParameters(diffusion=diffusion, interaction=interaction,
                                 radius=FIGURE_RADIUS, potential=0.5)
    x = cell_centers(FIGURE_DOMAIN, 128)
    initial = np.array([gaussian_density(x, -1.5, 2.0), gaussian_density(x, 0.5, 1.0)])
    mirrored_initial = initial[:, ::-1].copy()
    original = solve(initial, parameters, system=system, equation=equation,
                     domain=FIGURE_DOMAIN, final_time=0.3)
    mirrored = solve(mirrored_initial, parameters, system=system, equation=equation,
                     domain=FIGURE_DOMAIN, final_time=0.3)

    # The grid, the potential and the kernel are symmetric, so the runs differ
    # only by the order of floating-point operations (the block Thomas sweep
    # runs from the other end).
    assert np.allclose(mirrored_initial[:, ::-1], initial, rtol=0, atol=0)
    assert np.allclose(mirrored.density[:, :, ::-1], original.density, rtol=0, atol=1e-13)
    assert not np.allclose(original.density[-1], original.density[-1, :, ::-1], atol=1e-3)


# --- Nonlocal to local ----------------------------------------------------------------


def test_bump_second_moment_by_quadrature():
    def bump(s):
        return math.exp(-1.0 / (1.0 - s * s)) if abs(s) < 1 else 0.0

    moment, quad_error = integrate.quad(lambda s: s * s * bump(s), -1.0, 1.0, **QUAD_OPTIONS)

    assert quad_error < 1e-14
    assert moment / BUMP_INTEGRAL_1D == pytest.approx(BUMP_SECOND_MOMENT, abs=1e-14)


def test_kernel_convolution_expansion():
    # For smooth u, B^eta * u = a u + (eta^2 / 2) mu_2 a u'' + O(eta^4), so
    # the relative deviation from the two-term expansion is O(eta^2).
    strength, domain = 2.5, (-10.0, 10.0)
    x = cell_centers(domain, 4000)
    density = gaussian_density(x, 0.3, 1.0)
    second_derivative = density * ((x - 0.3) ** 2 - 1.0)
    deviations = []
    for radius in [0.4, 0.2, 0.1]:
        parameters = ModelParameters(diffusion=[1.0], interaction=[[strength]], radius=radius)
        convolution = kernel_convolution(density[None], parameters, domain=domain)[0, 0]
        expansion = radius**2 / 2 * BUMP_SECOND_MOMENT * strength * second_derivative
        deviations.append(np.max(np.abs(convolution - strength * density - expansion))
                          / np.max(np.abs(expansion)))

    assert np.all(np.abs(observed_orders(deviations) - 2) < 0.1)
    assert deviations[-1] < 1e-3


@pytest.mark.parametrize("normalization", ["unit-mass", "literal"])
@pytest.mark.parametrize("boundary", ["no-flux", "periodic"])
@pytest.mark.parametrize("radius", [0.35, 1.3, 3.0])
def test_kernel_convolution_matches_direct_sum(normalization, boundary, radius):
    domain, cells = (-2.0, 2.0), 40
    x = cell_centers(domain, cells)
    dx = x[1] - x[0]
    density = np.array([np.exp(-x**2) + 0.1 * (x > 0), 1.0 + 0.5 * np.sin(x)])
    interaction = np.array([[0.0, 3.0], [1.5, 2.0]])
    parameters = ModelParameters(diffusion=[1.0, 1.0], interaction=interaction, radius=radius,
                                 normalization=normalization)
    result = kernel_convolution(density, parameters, domain=domain, boundary=boundary,
                                renormalize_kernel=False)

    length = domain[1] - domain[0]
    expected = np.zeros((2, 2, cells))
    for j in range(cells):
        separation = x[j] - x
        if boundary == "periodic":
            # Sum over all periodic images within the kernel's reach.
            images = [separation + shift * length for shift in range(-3, 4)]
        else:
            images = [separation]
        for offsets in images:
            for i in range(2):
                for k in range(2):
                    values = evaluate_kernel(offsets, strength=interaction[i, k], radius=radius,
                                             normalization=normalization)
                    expected[i, k, j] += np.sum(values * density[k]) * dx

    # The FFT has a round-off of a few eps times the largest value.
    assert np.allclose(result, expected, rtol=1e-13, atol=1e-13)


def test_renormalized_kernel_preserves_constants():
    domain = (0.0, 5.0)
    parameters = ModelParameters(diffusion=[1.0], interaction=[[4.0]], radius=0.3)
    constant = np.full((1, 20), 2.0)
    result = kernel_convolution(constant, parameters, domain=domain, boundary="periodic")[0, 0]

    # With eta / dx = 1.2 the sampled kernel misses its integral by a few
    # percent, and the renormalisation restores B * c = a c exactly.
    assert np.allclose(result, 8.0, rtol=1e-14)


@pytest.mark.parametrize("system", ["skt", "drift"])
def test_nonlocal_below_cell_width_equals_local(system):
    domain = (-6.0, 6.0)
    x = cell_centers(domain, 64)
    dx = x[1] - x[0]
    initial = np.array([gaussian_density(x, -0.5, 1.0), gaussian_density(x, 0.5, 1.0)])
    interaction = [[0.5, 2.0], [1.0, 0.0]] if system == "drift" else [[1.0, 30.0], [5.0, 0.0]]
    # A radius below one cell width leaves only the centre sample of the kernel,
    # which the renormalisation scales to a_ij: B^eta * u = a u on the grid.
    parameters = ModelParameters(diffusion=[1.0, 2.0], interaction=interaction, radius=0.05)

    def final_density(equation, method, time_step):
        return solve(initial, parameters, system=system, equation=equation, domain=domain,
                     final_time=0.2, time_step=time_step, method=method,
                     whole_line=False).density[-1]

    # The linearly implicit Euler scheme is the same for both equations, so
    # only the round-off of the FFT convolution separates them.
    local = final_density("local", "euler", 0.01)
    nonlocal_density = final_density("nonlocal", "euler", 0.01)
    assert np.allclose(local, nonlocal_density, rtol=0, atol=1e-13)

    # BDF2 is fully implicit for the local equation and extrapolates the
    # coefficient for the nonlocal one. Both are second order, so their
    # distance shrinks by about 4 per halved step (measured 3.9 and 4.0).
    distances = [l1_distance(final_density("local", "bdf2", step),
                             final_density("nonlocal", "bdf2", step), dx)
                 for step in [0.01, 0.005, 0.0025]]
    assert np.all(np.abs(observed_orders(distances) - 2) < 0.2)


def test_nonlocal_solution_converges_to_local():
    x, initial, _ = figure_setup(1, 512, domain=(-12.0, 12.0))
    dx = x[1] - x[0]
    base = dict(diffusion=[1.0, 2.0], interaction=[[0.0, 30.0], [5.0, 0.0]])
    local = solve(initial, ModelParameters(radius=1.0, **base), domain=(-12.0, 12.0),
                  final_time=0.5, tolerance=1e-7).density[-1]
    distances = []
    for radius in [0.8, 0.4, 0.2]:
        nonlocal_density = solve(initial, ModelParameters(radius=radius, **base),
                                 equation="nonlocal", domain=(-12.0, 12.0), final_time=0.5,
                                 tolerance=1e-7).density[-1]
        distances.append(l1_distance(nonlocal_density, local, dx))

    # The symmetric kernel perturbs the pressure by O(eta^2) (the expansion
    # above), so the solutions are O(eta^2) apart. The measured orders are
    # close to 2 down to radius 0.2 (12 cells).
    assert np.all(np.diff(distances) < 0)
    assert np.all(observed_orders(distances) > 1.7)


# --- Observed order in time -------------------------------------------------------------


@pytest.mark.parametrize(
    ("system", "equation", "method", "steps_list", "expected_order"),
    [
        ("skt", "local", "bdf2", [20, 40, 80], 2),
        ("skt", "local", "euler", [40, 80, 160], 1),
        ("skt", "nonlocal", "bdf2", [160, 320, 640], 2),
        ("drift", "nonlocal", "bdf2", [80, 160, 320], 2),
        ("drift", "nonlocal", "euler", [40, 80, 160], 1),
    ],
)
def test_observed_order_in_time(system, equation, method, steps_list, expected_order):
    x, initial, parameters = figure_setup(1, 128)
    dx = x[1] - x[0]
    final_time = 0.5
    options = dict(system=system, equation=equation, domain=FIGURE_DOMAIN, final_time=final_time)
    reference = solve(initial, parameters, time_step=final_time / 8192, **options).density[-1]
    errors = []
    for steps in steps_list:
        solution = solve(initial, parameters, method=method, time_step=final_time / steps,
                         **options)
        assert solution.record["fallback_steps"] == 0
        errors.append(l1_distance(solution.density[-1], reference, dx))

    # BDF2 with a backward Euler start is second order, the linearly implicit
    # Euler scheme first order. For the nonlocal SKT system the extrapolated
    # pressure reaches its asymptotic order only for small steps (measured on
    # 256 cells: 1.66, 1.56, 1.67, 1.78, 1.87, 1.93 from 10 to 640 steps),
    # hence the finer steps. The band of 0.25 admits these pre-asymptotic
    # orders (measured 1.87 to 1.98 for the BDF2 cases here).
    orders = observed_orders(errors)
    assert np.all(np.abs(orders - expected_order) < 0.25)


def test_adaptive_error_shrinks_with_tolerance():
    x, initial, parameters = figure_setup(1, 256)
    dx = x[1] - x[0]
    options = dict(domain=FIGURE_DOMAIN, final_time=2.0)
    reference = solve(initial, parameters, tolerance=1e-8, **options).density[-1]
    errors = []
    steps = []
    for tolerance in [1e-2, 1e-3, 1e-4]:
        solution = solve(initial, parameters, tolerance=tolerance, **options)
        errors.append(l1_distance(solution.density[-1], reference, dx))
        steps.append(solution.record["steps"])

    # The local error of BDF2 is O(h^3), so a tenth of the tolerance takes
    # about 10^(1/3) = 2.2 times as many steps (measured 1.9 and 2.0), and
    # the measured errors shrink by factors 3.4 and 3.7.
    assert np.all(np.diff(errors) < 0)
    assert np.all(np.diff(steps) > 0)
    assert errors[-1] < 1e-3


# --- Parabolicity -----------------------------------------------------------------------


def test_drift_local_figure_one_is_not_parabolic():
    # det A = sigma_1 sigma_2 - a_12 a_21 u_1 u_2 = 2 - 8875 u_1 u_2 is negative
    # where u_1 u_2 = exp(-1/2 - x^2/2) / (4 pi) > 2 / 8875, i.e. |x| < 3.276.
    x, initial, parameters = figure_setup(1, 512)
    dx = x[1] - x[0]
    edge = math.sqrt(2 * math.log(8875 / (2 * 4 * math.pi)) - 1)
    with pytest.raises(ParabolicityError) as caught:
        solve(initial, parameters, system="drift", domain=FIGURE_DOMAIN, final_time=1.0)
    error = caught.value

    assert edge == pytest.approx(3.276, abs=1e-3)
    assert error.time == 0.0
    assert abs(error.position) < 3.27
    assert error.interval[0] == pytest.approx(-edge, abs=dx)
    assert error.interval[1] == pytest.approx(edge, abs=dx)
    assert error.smallest_real_part < 0
    assert isinstance(error, ValueError)
    assert "t = 0" in str(error)
    assert "nonlocal" in str(error)


def test_parabolicity_checked_during_run():
    # Two species start apart, so u_1 u_2 is small, and the confining
    # potential drives them together until det A = 2 - 200 u_1 u_2 < 0.
    parameters = ModelParameters(diffusion=[1.0, 2.0], interaction=[[0.0, 20.0], [10.0, 0.0]],
                                 radius=1.0, potential=4.0)
    x = cell_centers((-8.0, 8.0), 256)
    initial = np.array([gaussian_density(x, -3.0, 0.2), gaussian_density(x, 3.0, 0.2)])
    product = initial[0] * initial[1]
    with pytest.raises(ParabolicityError) as caught:
        solve(initial, parameters, system="drift", domain=(-8.0, 8.0), final_time=2.0,
              output_times=[0.0, 0.01, 2.0])

    assert np.max(product) < 2 / 200
    assert 0.01 < caught.value.time < 2.0
    assert abs(caught.value.position) < 2.0
    # The outputs before the failure are kept.
    assert np.array_equal(caught.value.partial.times, [0.0, 0.01])
    assert np.array_equal(caught.value.partial.density[0], initial)
    assert "2 outputs were stored before the failure" in str(caught.value)


@pytest.mark.parametrize("species", [1, 2, 3])
@pytest.mark.parametrize("system", [kernels.SKT, kernels.DRIFT])
def test_parabolicity_margins_match_eigenvalues(species, system):
    rng = np.random.default_rng(7)
    cells = 50
    density = rng.random((species, cells)) * 0.5
    # Without self-interaction the mean-field matrix loses parabolicity where
    # the cross terms a_ik a_ki u_i u_k outweigh the diffusion constants.
    interaction = rng.random((species, species)) * 40 * (1 - np.eye(species))
    diffusion = rng.random(species) + 0.2
    nonlinearity = (1, 1.5, math.inf, 0.0)
    margins = np.empty(cells)
    kernels.parabolicity_margins(system, density, diffusion, interaction, *nonlinearity,
                                 margins)
    matrices = np.empty((species, species, cells))
    kernels.diffusion_matrices(system, density, diffusion, interaction, *nonlinearity,
                               matrices)
    smallest = np.array([np.linalg.eigvals(matrices[:, :, j]).real.min()
                         for j in range(cells)])

    # Margins equal the smallest real part, or for three species a positive
    # Gershgorin bound below it: the signs always agree.
    assert np.all(np.sign(margins) == np.sign(smallest))
    assert np.all(margins <= smallest + 1e-12 * np.abs(smallest))
    if species < 3:
        assert np.allclose(margins, smallest, rtol=1e-12, atol=1e-12)
    if system == kernels.DRIFT and species > 1:
        assert np.any(smallest < 0)


def test_diffusion_matrix_of_skt_system():
    # A_ik = delta_ik p_i + u_i a_ik f'(a_ik u_k) with f(s) = s^2.
    density = np.array([[0.3], [0.5]])
    interaction = np.array([[1.0, 2.0], [3.0, 4.0]])
    diffusion = np.array([0.5, 0.7])
    matrices = np.empty((2, 2, 1))
    kernels.diffusion_matrices(kernels.SKT, density, diffusion, interaction, 1, 2.0, math.inf,
                               0.0, matrices)
    pressure = diffusion + ((interaction * density[:, 0][None, :]) ** 2).sum(axis=1)
    expected = (np.diag(pressure) + density[:, 0][:, None] * interaction * 2
                * interaction * density[:, 0][None, :])

    assert np.allclose(matrices[:, :, 0], expected, rtol=1e-15, atol=0)


# --- Boundary of the domain -----------------------------------------------------------------


def test_warns_when_mass_reaches_boundary():
    parameters = ModelParameters(diffusion=[4.0], interaction=[[0.0]], radius=1.0)
    x = cell_centers((-5.0, 5.0), 100)
    initial = gaussian_density(x, 0.0, 0.3)[None]
    with pytest.warns(RuntimeWarning, match=r"fraction .* of the mass of species 0"):
        solution = solve(initial, parameters, domain=(-5.0, 5.0), final_time=1.0)

    assert solution.density.shape == (1, 1, 100)


def test_no_warning_for_problem_on_interval():
    parameters = ModelParameters(diffusion=[4.0], interaction=[[0.0]], radius=1.0)
    x = cell_centers((-5.0, 5.0), 100)
    initial = gaussian_density(x, 0.0, 0.3)[None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solve(initial, parameters, domain=(-5.0, 5.0), final_time=1.0, whole_line=False)


def test_rejects_initial_mass_at_boundary():
    parameters = ModelParameters(diffusion=[1.0], interaction=[[0.0]], radius=1.0)
    x = cell_centers((-5.0, 5.0), 100)
    initial = gaussian_density(x, 4.0, 1.0)[None]
    with pytest.raises(ValueError, match=r"domain \(-5.0, 5.0\) does not contain"):
        solve(initial, parameters, domain=(-5.0, 5.0), final_time=1.0)


# --- Compiled kernels: Newton matrix, block solver, frozen matrix --------------------------------


def dense_matrix(lower, diag, upper, periodic):
    """Assemble the dense matrix of block-tridiagonal arrays (species index fastest)."""
    species, _, cells = diag.shape
    matrix = np.zeros((species * cells, species * cells))
    for j in range(cells):
        rows = slice(j * species, (j + 1) * species)
        matrix[rows, rows] += diag[:, :, j]
        if j > 0 or periodic:
            left = (j - 1) % cells
            matrix[rows, left * species:(left + 1) * species] += lower[:, :, j]
        if j < cells - 1 or periodic:
            right = (j + 1) % cells
            matrix[rows, right * species:(right + 1) * species] += upper[:, :, j]
    return matrix


def flatten(density):
    """Order a (species, cells) array with the species index fastest."""
    return density.T.reshape(-1)


@pytest.mark.parametrize("power", [1.0, 2.0])
@pytest.mark.parametrize("periodic", [False, True])
@pytest.mark.parametrize("system", ["skt", "drift"])
@pytest.mark.parametrize("species", [1, 2, 3])
def test_newton_matrix_matches_finite_differences(species, system, periodic, power):
    rng = np.random.default_rng(species + 10 * periodic)
    cells = 7
    parameters = ModelParameters(
        diffusion=rng.random(species) + 0.5, interaction=rng.random((species, species)) * 3,
        radius=1.0, potential=0.0 if periodic else -0.7,
        nonlinearity=Nonlinearity(power=power))
    grid = _Discretization(parameters, system, "local", (-2.0, 3.0), cells, periodic=periodic,
                           renormalize_kernel=True)
    density = rng.random((species, cells)) + 0.1
    target = rng.random((species, cells))
    alpha, h = 1.3, 0.07

    def residual(u):
        return alpha * u - h * grid.rhs(u) - target

    kernels.assemble_newton(grid.system_code, density, target, alpha, h, grid.diffusion,
                            grid.interaction, grid.velocity, grid.dx, periodic,
                            *grid.nonlinearity, grid.residual, grid.lower, grid.diag,
                            grid.upper)
    matrix = dense_matrix(grid.lower, grid.diag, grid.upper, periodic)
    step = 1e-6
    finite_differences = np.zeros_like(matrix)
    for j in range(cells):
        for k in range(species):
            shift = np.zeros((species, cells))
            shift[k, j] = step
            column = (residual(density + shift) - residual(density - shift)) / (2 * step)
            finite_differences[:, j * species + k] = flatten(column)

    assert np.allclose(grid.residual, residual(density), rtol=0, atol=1e-14)
    # Central differences of a piecewise polynomial residual: truncation
    # error step^2 times third derivatives (zero for power <= 2 away from the
    # upwind switch), round-off about eps / step = 1e-10 times the entries.
    assert np.allclose(matrix, finite_differences, rtol=0, atol=1e-7)


@pytest.mark.parametrize("periodic", [False, True])
@pytest.mark.parametrize("species", [1, 2, 3, 4])
def test_block_solver_matches_sparse_solver(species, periodic):
    rng = np.random.default_rng(species)
    cells = 60
    lower = rng.standard_normal((species, species, cells))
    upper = rng.standard_normal((species, species, cells))
    # Diagonal blocks with a zero first entry force row interchanges in the
    # LU factors of the pivot blocks.
    diag = rng.standard_normal((species, species, cells)) + 6 * np.eye(species)[:, :, None]
    if species > 1:
        diag[0, 0, :] = 0.0
    rhs = rng.standard_normal((species, cells))
    solution = kernels.solve_block_tridiagonal(lower, diag, upper, rhs, periodic)
    matrix = scipy.sparse.csc_matrix(dense_matrix(lower, diag, upper, periodic))
    expected = scipy.sparse.linalg.spsolve(matrix, flatten(rhs))

    assert np.allclose(flatten(solution), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("periodic", [False, True])
@pytest.mark.parametrize("system", ["skt", "drift"])
def test_frozen_matrix_is_m_matrix(system, periodic):
    _, initial, _ = figure_setup(1, 64)
    diffusion, interaction, _ = FIGURES[1]
    # The upwinded potential drift adds to the M-matrix structure; periodic
    # grids need potential 0.
    parameters = ModelParameters(diffusion=diffusion, interaction=interaction,
                                 radius=FIGURE_RADIUS, potential=0.0 if periodic else -1.0)
    grid = _Discretization(parameters, system, "nonlocal", FIGURE_DOMAIN, 64,
                           periodic=periodic, renormalize_kernel=True)
    alpha, h = 1.5, 0.3
    grid._freeze(grid.coefficient(initial))
    kernels.assemble_frozen(grid.left, grid.right, alpha, h, grid.dx, grid.lower, grid.diag,
                            grid.upper)
    matrix = dense_matrix(grid.lower, grid.diag, grid.upper, periodic)
    off_diagonal = matrix - np.diag(np.diag(matrix))

    assert np.all(np.diag(matrix) > 0)
    assert np.all(off_diagonal <= 0)
    assert np.allclose(matrix.sum(axis=0), alpha, rtol=1e-12, atol=0)
    if not periodic:
        # Block Thomas keeps the signs of an M-matrix solve exactly.
        solution = kernels.solve_block_tridiagonal(grid.lower, grid.diag, grid.upper,
                                                   np.abs(np.sin(np.arange(128.0))).reshape(2, 64),
                                                   False)
        assert np.all(solution >= 0)


# --- Output, errors and invalid input ----------------------------------------------------------


def test_outputs_include_initial_and_requested_times():
    x, initial, parameters = figure_setup(1, 64)
    solution = solve(initial, parameters, domain=FIGURE_DOMAIN, final_time=0.5,
                     output_times=[0.0, 0.1, 0.5])

    assert solution.density.shape == (3, 2, 64)
    assert np.array_equal(solution.times, [0.0, 0.1, 0.5])
    assert np.array_equal(solution.at(0.0), initial)
    assert np.array_equal(solution.x, x)
    with pytest.raises(ValueError, match="not an output time"):
        solution.at(0.2)


@pytest.mark.parametrize("method", ["bdf2", "euler"])
def test_fixed_steps_land_on_output_times(method):
    _, initial, parameters = figure_setup(1, 64)
    solution = solve(initial, parameters, domain=FIGURE_DOMAIN, final_time=0.3,
                     output_times=[0.05, 0.3], time_step=0.02, method=method)

    # 0.05 takes 3 steps of 1/60 and 0.25 takes 13 steps of 1/52.
    assert solution.record["steps"] == 16
    assert solution.record["adaptive"] is False


def test_overflow_at_start_is_invalid_input():
    # f(s) = s^400 overflows for s > 6 and a u reaches 11, so the diffusion
    # matrix of the initial density is already infinite.
    parameters = ModelParameters(diffusion=[1.0], interaction=[[10.0]], radius=1.0,
                                 nonlinearity=Nonlinearity(power=400.0))
    x = cell_centers((-6.0, 6.0), 64)
    initial = gaussian_density(x, 0.0, 0.5, mass=2.0)[None]
    with pytest.raises(ValueError, match="overflow double precision"):
        solve(initial, parameters, domain=(-6.0, 6.0), final_time=0.1, time_step=0.01)


def test_huge_coefficients_are_invalid_input():
    initial, parameters, options = _valid_call()
    parameters = ModelParameters(diffusion=[1.0, 1.0], interaction=[[0.0, 1e300], [1e300, 0.0]],
                                 radius=1.0)
    with pytest.raises(ValueError, match="overflow double precision"):
        solve(initial, parameters, **options)


def _spoil_step(monkeypatch, number, species, cell):
    """Make step attempt ``number`` return a NaN in one cell."""
    original = pde._Integrator.attempt
    calls = []

    def attempt(self, *args):
        u_new, *rest = original(self, *args)
        calls.append(None)
        if len(calls) == number:
            u_new = u_new.copy()
            u_new[species, cell] = np.nan
        return (u_new, *rest)

    monkeypatch.setattr(pde._Integrator, "attempt", attempt)


def test_non_finite_density_raises_with_step(monkeypatch):
    _spoil_step(monkeypatch, number=3, species=1, cell=4)
    initial, parameters, options = _valid_call()
    with pytest.raises(NonFiniteDensityError) as caught:
        solve(initial, parameters, **dict(options, time_step=0.01,
                                          output_times=[0.0, 0.02, 0.1]))

    assert caught.value.step == 3
    assert caught.value.species == 1
    assert "step 3" in str(caught.value)
    assert np.array_equal(caught.value.partial.times, [0.0, 0.02])
    assert caught.value.partial.density.shape == (2, 2, 32)


def test_tiny_steps_raise_with_partial(monkeypatch):
    # Every attempt after the first is reported a thousand times the
    # tolerance, so the step size shrinks until the run stops.
    original = pde._Integrator.attempt
    calls = []

    def attempt(self, *args):
        u_new, order, error, derivative = original(self, *args)
        calls.append(None)
        return u_new, order, (error if len(calls) == 1 else 1e3), derivative

    monkeypatch.setattr(pde._Integrator, "attempt", attempt)
    initial, parameters, options = _valid_call()
    with pytest.raises(StepSizeError) as caught:
        solve(initial, parameters, **dict(options, output_times=[0.0, 0.1]))

    assert caught.value.step_size < 1e-12 * 0.1
    assert np.array_equal(caught.value.partial.times, [0.0])
    assert "1 output was stored before the failure" in str(caught.value)


def test_progress_must_be_boolean():
    initial, parameters, options = _valid_call()
    with pytest.raises(TypeError, match="progress must be True or False, got 'yes'"):
        solve_cross_diffusion(initial, parameters, progress="yes", **options)


def _valid_call():
    x = cell_centers((-8.0, 8.0), 32)
    initial = np.array([gaussian_density(x, -0.5, 1.0), gaussian_density(x, 0.5, 1.0)])
    parameters = ModelParameters(diffusion=[1.0, 2.0], interaction=[[0.0, 3.0], [1.0, 0.0]],
                                 radius=1.0)
    return initial, parameters, dict(domain=(-8.0, 8.0), final_time=0.1)


def _negative_density(initial):
    initial = initial.copy()
    initial[1, 5] = -1e-3
    return initial


@pytest.mark.parametrize(
    ("change", "error", "pattern"),
    [
        (lambda u, p, o: (_negative_density(u), p, o), ValueError,
         r"initial_density must be >= 0, got -0.001 for species 1 in cell 5"),
        (lambda u, p, o: (u[:1], p, o), ValueError, "1 species .* parameters describe 2"),
        (lambda u, p, o: (u[0], p, o), ValueError, "initial_density must be a 2-dimensional"),
        (lambda u, p, o: (u[:, :2], p, o), ValueError, "between 3 and 2097152 cells"),
        (lambda u, p, o: (0 * u, p, o), ValueError, "positive mass"),
        (lambda u, p, o: (np.where(u > 0.3, np.nan, u), p, o), ValueError, "finite"),
        (lambda u, p, o: (u, p, dict(o, domain=(8.0, -8.0))), ValueError, "domain"),
        (lambda u, p, o: (u, p, dict(o, final_time=0.0)), ValueError, "final_time"),
        (lambda u, p, o: (u, p, dict(o, time_step=-0.1)), ValueError, "time_step"),
        (lambda u, p, o: (u, p, dict(o, tolerance=0.0)), ValueError, "tolerance"),
        (lambda u, p, o: (u, p, dict(o, tolerance=2.0)), ValueError, r"tolerance must lie in \[1e-12, 1\)"),
        (lambda u, p, o: (u, p, dict(o, tolerance=1e-300)), ValueError, "tolerance must lie in"),
        (lambda u, p, o: (u, p, dict(o, time_step=1e-9, method="euler")), ValueError,
         "fixed steps; at most"),
        (lambda u, p, o: (u, p, dict(o, output_times=np.linspace(0, 0.1, 2**23))), ValueError,
         "stored values"),

        (lambda u, p, o: (u, p, dict(o, max_time_step=0.0)), ValueError, "max_time_step"),
        (lambda u, p, o: (u, p, dict(o, method="euler")), ValueError, "time_step is required"),
        (lambda u, p, o: (u, p, dict(o, method="euler", time_step=0.01, tolerance=1e-3)),
         ValueError, "without error control"),
        (lambda u, p, o: (u, p, dict(o, method="rk4")), ValueError, "method"),
        (lambda u, p, o: (u, p, dict(o, system="chemotaxis")), ValueError, "system"),
        (lambda u, p, o: (u, p, dict(o, equation="fractional")), ValueError, "equation"),
        (lambda u, p, o: (u, p, dict(o, boundary="dirichlet")), ValueError, "boundary"),
        (lambda u, p, o: (u, p, dict(o, output_times=[0.2])), ValueError, "output_times"),
        (lambda u, p, o: (u, p, dict(o, whole_line="yes")), TypeError, "whole_line"),
        (lambda u, p, o: (u, "parameters", o), TypeError, "ModelParameters"),
        (lambda u, p, o: (u, ModelParameters(diffusion=[1.0, 2.0], interaction=np.zeros((2, 2)),
                                             radius=1.0, potential=1.0),
                          dict(o, boundary="periodic")), ValueError, "potential == 0"),
    ],
)
def test_solver_rejects_invalid_input(change, error, pattern):
    initial, parameters, options = change(*_valid_call())
    with pytest.raises(error, match=pattern):
        solve(initial, parameters, **options)


def test_solver_accepts_valid_call():
    initial, parameters, options = _valid_call()
    solution = solve(initial, parameters, **options)

    assert solution.density.shape == (1, 2, 32)
