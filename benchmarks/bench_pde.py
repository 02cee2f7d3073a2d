"""Benchmark the local SKT solver on the Figure 1 setting against scipy's BDF.

The setting is Figure 1 of Chen, Daus, Holzinger, Jüngel (2020),
arXiv:2010.12389, as listed in book/model.md: two species, sigma = (1, 2),
a = ((0, 355), (25, 0)), linear f, no potential, initial Gaussians with means
-1 and 1 and variance 2. The local SKT system is solved on [-25, 25] with
no-flux boundaries up to t = 2.

All solvers integrate the same semi-discretisation (the finite-volume
right-hand side of ``skt_lib.pde``), so the printed L1 errors are time
discretisation errors. The reference is ``solve_cross_diffusion`` with a
tight tolerance. The script prints, for each run, the wall time (the
fastest of ``--repeat`` repetitions for skt_lib, one run for scipy), the
number of steps and the L1 error of each species at t = 2.

scipy's ``solve_ivp(method="BDF")`` gets the right-hand side and the
block-tridiagonal sparsity pattern of its Jacobian, which it then
approximates by grouped finite differences. Its absolute tolerance is
``rtol * ATOL_FACTOR``, because densities are below 0.3 and most cells hold
values near 0.

Run from the repository root::

    python benchmarks/bench_pde.py
"""

import argparse
import datetime
import os
import platform
import time
from pathlib import Path

import numba
import numpy as np
import scipy
import scipy.sparse
from scipy.integrate import solve_ivp

import skt_lib
from skt_lib.pde import _Discretization, cell_centers, gaussian_density, solve_cross_diffusion

DIFFUSION = [1.0, 2.0]
INTERACTION = [[0.0, 355.0], [25.0, 0.0]]
RADIUS = 2.0
MEANS = [-1.0, 1.0]
VARIANCE = 2.0
DOMAIN = (-25.0, 25.0)
ATOL_FACTOR = 1e-3


def number_list(text):
    """Parse a comma-separated list of positive numbers."""
    try:
        values = [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        msg = f"invalid list of numbers {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if not values or any(value <= 0 for value in values):
        msg = f"expected positive numbers, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return values


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=4096,
                        help="number of cells on [-25, 25] (default: %(default)s)")
    parser.add_argument("--final-time", type=float, default=2.0,
                        help="end time (default: %(default)s)")
    parser.add_argument("--tolerances", type=number_list, default=[2e-3, 1e-3, 3e-4, 1e-4],
                        help="tolerances of the adaptive BDF2 runs (default: 2e-3,1e-3,3e-4,1e-4)")
    parser.add_argument("--fixed-steps", type=number_list, default=[30, 60],
                        help="step counts of fixed-step BDF2 runs (default: 30,60)")
    parser.add_argument("--scipy-rtols", type=number_list, default=[1e-2, 1e-3, 1e-4],
                        help="relative tolerances of scipy's BDF (default: 1e-2,1e-3,1e-4)")
    parser.add_argument("--reference-tolerance", type=float, default=1e-9,
                        help="tolerance of the reference run (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="repetitions of each skt_lib timing; the fastest is reported "
                             "(default: %(default)s)")
    return parser.parse_args()


def figure_one(cells):
    x = cell_centers(DOMAIN, cells)
    initial = np.array([gaussian_density(x, mean, VARIANCE) for mean in MEANS])
    parameters = skt_lib.ModelParameters(diffusion=DIFFUSION, interaction=INTERACTION,
                                         radius=RADIUS)
    return x, initial, parameters


def l1_errors(density, reference, dx):
    return np.abs(density - reference).sum(axis=1) * dx


def run_library(initial, parameters, final_time, repeat, **options):
    """Return (fastest wall time in s, solution) of ``repeat`` identical solves."""
    walls = []
    for _ in range(repeat):
        started = time.perf_counter()
        solution = solve_cross_diffusion(initial, parameters, domain=DOMAIN,
                                         final_time=final_time, progress=False, **options)
        walls.append(time.perf_counter() - started)
    return min(walls), solution


def jacobian_sparsity(species, cells):
    """Return the pattern of the block-tridiagonal Jacobian in species-major order."""
    coupling = scipy.sparse.diags([1.0, 1.0, 1.0], [-1, 0, 1], shape=(cells, cells), dtype=float)
    return scipy.sparse.kron(np.ones((species, species)), coupling, format="csr")


def run_scipy(initial, parameters, final_time, rtol):
    """Return (wall time in s, density at final_time, statistics) of solve_ivp's BDF."""
    grid = _Discretization(parameters, "skt", "local", DOMAIN, initial.shape[1],
                           periodic=False, renormalize_kernel=True)
    shape = initial.shape

    def rhs(_, y):
        return grid.rhs(y.reshape(shape)).reshape(-1)

    sparsity = jacobian_sparsity(*shape)
    started = time.perf_counter()
    result = solve_ivp(rhs, (0.0, final_time), initial.reshape(-1), method="BDF",
                       rtol=rtol, atol=rtol * ATOL_FACTOR, jac_sparsity=sparsity)
    wall = time.perf_counter() - started
    if not result.success:
        msg = f"solve_ivp failed at rtol {rtol}: {result.message}"
        raise RuntimeError(msg)
    statistics = {"steps": result.t.size - 1, "nfev": result.nfev, "njev": result.njev,
                  "nlu": result.nlu}
    return wall, result.y[:, -1].reshape(shape), statistics


def print_row(solver, setting, wall, steps, errors, note=""):
    print(f"{solver:<32}{setting:<14}{1e3 * wall:>10.1f}{steps:>8}"
          f"{errors[0]:>12.2e}{errors[1]:>12.2e}  {note}")


def main():
    arguments = parse_arguments()
    x, initial, parameters = figure_one(arguments.cells)
    dx = x[1] - x[0]
    final_time = arguments.final_time

    print("Machine")
    print(f"  CPU:    {platform.processor() or cpu_model()} ({os.cpu_count()} logical CPUs)")
    print(f"  numba {numba.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"Python {platform.python_version()}, {datetime.date.today().isoformat()}")
    print()

    started = time.perf_counter()
    _, small_initial, _ = figure_one(64)
    solve_cross_diffusion(small_initial, parameters, domain=DOMAIN, final_time=0.1,
                          progress=False)
    solve_cross_diffusion(small_initial, parameters, domain=DOMAIN, final_time=0.1,
                          time_step=0.01, progress=False)
    print(f"Compilation (not timed below): {time.perf_counter() - started:.1f} s")

    reference_wall, reference = run_library(initial, parameters, final_time, 1,
                                            tolerance=arguments.reference_tolerance)
    reference_density = reference.density[-1]
    print(f"Reference: skt_lib BDF2, tolerance {arguments.reference_tolerance:g}, "
          f"{reference.record['steps']} steps, {reference_wall:.1f} s")
    print()
    print(f"Figure 1, local SKT system, {arguments.cells} cells on {DOMAIN}, t = {final_time:g}")
    print(f"{'solver':<32}{'setting':<14}{'wall ms':>10}{'steps':>8}"
          f"{'L1 err u1':>12}{'L1 err u2':>12}")
    print("-" * 88)

    for tolerance in arguments.tolerances:
        wall, solution = run_library(initial, parameters, final_time, arguments.repeat,
                                     tolerance=tolerance)
        record = solution.record
        note = (f"{record['newton_iterations']} Newton, {record['rejected_steps']} rejected, "
                f"{record['fallback_steps']} fallbacks")
        print_row("skt_lib BDF2 adaptive", f"tol {tolerance:g}", wall, record["steps"],
                  l1_errors(solution.density[-1], reference_density, dx), note)

    for steps in arguments.fixed_steps:
        steps = int(steps)
        wall, solution = run_library(initial, parameters, final_time, arguments.repeat,
                                     time_step=final_time / steps)
        record = solution.record
        print_row("skt_lib BDF2 fixed steps", f"h = T/{steps}", wall, record["steps"],
                  l1_errors(solution.density[-1], reference_density, dx),
                  f"{record['newton_iterations']} Newton")

    for steps in arguments.fixed_steps:
        steps = 4 * int(steps)
        wall, solution = run_library(initial, parameters, final_time, arguments.repeat,
                                     method="euler", time_step=final_time / steps)
        print_row("skt_lib linearly implicit Euler", f"h = T/{steps}", wall,
                  solution.record["steps"],
                  l1_errors(solution.density[-1], reference_density, dx))

    for rtol in arguments.scipy_rtols:
        wall, density, statistics = run_scipy(initial, parameters, final_time, rtol)
        note = f"{statistics['nfev']} rhs, {statistics['njev']} jac, {statistics['nlu']} LU"
        print_row("scipy solve_ivp BDF", f"rtol {rtol:g}", wall, statistics["steps"],
                  l1_errors(density, reference_density, dx), note)

    print()
    print("Errors are L1 distances at t = {:g} to the reference on the same grid, so they "
          "measure the time discretisation only.".format(final_time))


def cpu_model():
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    main()
