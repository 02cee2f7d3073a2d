"""Compiled Euler-Maruyama steps for the two particle systems in 2D.

Kernel sums are exact. Each step bins every species into a uniform cell
list whose cells are at least ``eta`` wide, so a particle only visits the
3 x 3 block of cells around its own. The bins are filled by a stable counting
sort, so the summation order depends on the data alone and the results are
bitwise identical for any number of threads.
"""

import math

import numpy as np
from numba import prange

from skt_lib._jit import jit
from skt_lib._particle_kernels import SKT
from skt_lib.nonlinearity import apply_nonlinearity


@jit
def cell_grid(x, radius, max_cells):
    """Return ``(x_min, y_min, cell_size, nx, ny)`` of a grid covering all points.

    Cells are ``radius`` wide unless that would need more than ``max_cells``
    cells; then they are widened, which keeps the sums exact.
    """
    x_min = np.inf
    y_min = np.inf
    x_max = -np.inf
    y_max = -np.inf
    n_species, n_particles, _ = x.shape
    for i in range(n_species):
        for k in range(n_particles):
            x_min = min(x_min, x[i, k, 0])
            x_max = max(x_max, x[i, k, 0])
            y_min = min(y_min, x[i, k, 1])
            y_max = max(y_max, x[i, k, 1])
    cell_size = radius
    while True:
        nx = int((x_max - x_min) / cell_size) + 1
        ny = int((y_max - y_min) / cell_size) + 1
        if nx * ny <= max_cells:
            return x_min, y_min, cell_size, nx, ny
        cell_size *= 2.0


@jit
def bin_species(points, x_min, y_min, cell_size, nx, ny):
    """Return ``(starts, order)``: particles of cell ``c`` are ``order[starts[c]:starts[c + 1]]``."""
    n_particles = points.shape[0]
    cells = np.empty(n_particles, dtype=np.int64)
    starts = np.zeros(nx * ny + 1, dtype=np.int64)
    for k in range(n_particles):
        ix = min(int((points[k, 0] - x_min) / cell_size), nx - 1)
        iy = min(int((points[k, 1] - y_min) / cell_size), ny - 1)
        cells[k] = ix * ny + iy
        starts[cells[k] + 1] += 1
    for c in range(nx * ny):
        starts[c + 1] += starts[c]
    order = np.empty(n_particles, dtype=np.int64)
    filled = starts[:-1].copy()
    for k in range(n_particles):
        order[filled[cells[k]]] = k
        filled[cells[k]] += 1
    return starts, order


@jit
def neighbour_sums(x, i, k, j, starts, order, grid, radius):
    """Sum ``B(|d| / eta)`` and ``grad_d B(|d| / eta)`` over particles of species ``j``.

    ``d = x_k - x_l``; the particle itself is left out. Returns
    ``(value_sum, gradient_x, gradient_y)``, where the gradient is taken with
    respect to ``x_k`` of the unscaled profile ``B(|d| / eta)``.
    """
    x_min, y_min, cell_size, nx, ny = grid
    px = x[i, k, 0]
    py = x[i, k, 1]
    ix = min(int((px - x_min) / cell_size), nx - 1)
    iy = min(int((py - y_min) / cell_size), ny - 1)
    inv_radius2 = 1.0 / (radius * radius)
    value = 0.0
    gradient_x = 0.0
    gradient_y = 0.0
    for cx in range(max(ix - 1, 0), min(ix + 2, nx)):
        for cy in range(max(iy - 1, 0), min(iy + 2, ny)):
            c = cx * ny + cy
            for position in range(starts[c], starts[c + 1]):
                l = order[position]
                if j == i and l == k:
                    continue
                dx = px - x[j, l, 0]
                dy = py - x[j, l, 1]
                q = 1.0 - (dx * dx + dy * dy) * inv_radius2
                if q <= 0.0:
                    continue
                b = math.exp(-1.0 / q)
                value += b
                factor = -2.0 * b / (q * q) * inv_radius2
                gradient_x += factor * dx
                gradient_y += factor * dy
    return value, gradient_x, gradient_y


@jit
def step_particle_2d(x, z, out, i, k, bins_starts, bins_order, grid, model, diffusion,
                     weights, radius, potential, h, kind, power, threshold, slope):
    """Write the Euler-Maruyama update of particle ``k`` of species ``i`` into ``out``."""
    n_species, n_particles, _ = x.shape
    term = 0.0
    drift_x = -potential * x[i, k, 0]
    drift_y = -potential * x[i, k, 1]
    for j in range(n_species):
        weight = weights[i, j]
        if weight == 0.0:
            continue
        value, gradient_x, gradient_y = neighbour_sums(
            x, i, k, j, bins_starts[j], bins_order[j], grid, radius
        )
        if model == SKT:
            term += apply_nonlinearity(weight * value / n_particles, kind, power,
                                       threshold, slope)
        else:
            drift_x -= weight * gradient_x / n_particles
            drift_y -= weight * gradient_y / n_particles
    if model == SKT:
        amplitude = math.sqrt((2.0 * diffusion[i] + 2.0 * term) * h)
    else:
        amplitude = math.sqrt(2.0 * diffusion[i] * h)
    out[i, k, 0] = x[i, k, 0] + drift_x * h + amplitude * z[i, k, 0]
    out[i, k, 1] = x[i, k, 1] + drift_y * h + amplitude * z[i, k, 1]


@jit
def build_bins(x, radius):
    """Return the grid and, per species, the cell starts and particle order."""
    n_species, n_particles, _ = x.shape
    grid = cell_grid(x, radius, 4 * n_species * n_particles + 16)
    x_min, y_min, cell_size, nx, ny = grid
    starts = np.empty((n_species, nx * ny + 1), dtype=np.int64)
    order = np.empty((n_species, n_particles), dtype=np.int64)
    for j in range(n_species):
        starts[j], order[j] = bin_species(x[j], x_min, y_min, cell_size, nx, ny)
    return grid, starts, order


@jit
def step_one_run_2d(x, z, out, model, diffusion, weights, radius, potential, h,
                    kind, power, threshold, slope):
    """Advance one run (arrays of shape (n_species, N, 2)) by one step into ``out``."""
    n_species, n_particles, _ = x.shape
    grid, starts, order = build_bins(x, radius)
    for i in range(n_species):
        for k in range(n_particles):
            step_particle_2d(x, z, out, i, k, starts, order, grid, model, diffusion,
                             weights, radius, potential, h, kind, power, threshold, slope)


@jit(parallel=True)
def step_runs_parallel_2d(x, z, out, model, diffusion, weights, radius, potential, h,
                          kind, power, threshold, slope):
    """Advance every run (arrays of shape (runs, n_species, N, 2)), in parallel over runs."""
    for r in prange(x.shape[0]):
        step_one_run_2d(x[r], z[r], out[r], model, diffusion, weights, radius, potential,
                        h, kind, power, threshold, slope)


@jit(parallel=True)
def step_particles_parallel_2d(x, z, out, model, diffusion, weights, radius, potential,
                               h, kind, power, threshold, slope):
    """Advance one run (arrays of shape (n_species, N, 2)), in parallel over particles."""
    n_species, n_particles, _ = x.shape
    grid, starts, order = build_bins(x, radius)
    for flat in prange(n_species * n_particles):
        i = flat // n_particles
        k = flat % n_particles
        step_particle_2d(x, z, out, i, k, starts, order, grid, model, diffusion, weights,
                         radius, potential, h, kind, power, threshold, slope)
