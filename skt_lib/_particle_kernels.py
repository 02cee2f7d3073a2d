"""Compiled Euler-Maruyama steps for the two particle systems in 1D.

Kernel sums are exact: every pair closer than ``eta`` is summed, and no pair
further apart contributes because the bump vanishes there. Each species is
sorted once per step, and a particle at ``x`` visits only the particles of
species ``j`` inside ``(x - eta, x + eta)``, found by binary search.

Each particle's sums are computed by one thread, in an order fixed by the
data alone. So results are bitwise identical whatever the number of threads.
They are also identical whether the runs (``step_runs_parallel``) or the
particles of a single run (``step_particles_parallel``) are spread over the
threads.

NOTE: a cross-species pair is evaluated twice, once from each side. Adding
each evaluated term to both particles would halve that work, but the store in
the inner loop stopped LLVM from vectorising it, and the scalar loop measured
3 to 4 times slower per term (numba 0.68, AMD Zen 4).
"""

import numpy as np
from numba import prange

from skt_lib._bump_sums import bump_window_sum
from skt_lib._jit import jit
from skt_lib.nonlinearity import apply_nonlinearity

SKT = 0
DRIFT = 1


@jit
def sort_species(positions):
    """Return ``(sorted_positions, order)`` for an array of shape (n_species, N)."""
    n_species, n_particles = positions.shape
    sorted_positions = np.empty_like(positions)
    order = np.empty((n_species, n_particles), dtype=np.int64)
    for j in range(n_species):
        order[j] = np.argsort(positions[j], kind="mergesort")
        sorted_positions[j] = positions[j][order[j]]
    return sorted_positions, order


@jit
def window_bounds(sorted_other, x, radius):
    """Return ``lo, hi`` with ``sorted_other[lo:hi]`` the points in ``(x - eta, x + eta)``."""
    lo = np.searchsorted(sorted_other, x - radius, side="right")
    hi = np.searchsorted(sorted_other, x + radius, side="left")
    return lo, hi


@jit
def window_sum(sorted_other, x, skip, radius, derivative):
    """Sum ``B((x - y) / eta)`` (or ``B'``) over ``y`` in ``sorted_other`` within ``eta``.

    ``skip`` is the index of the particle itself when ``sorted_other`` is its
    own species, and ``-1`` otherwise.
    """
    lo, hi = window_bounds(sorted_other, x, radius)
    inv_radius = 1.0 / radius
    if lo <= skip < hi:
        below = bump_window_sum(sorted_other, lo, skip, x, inv_radius, derivative)
        above = bump_window_sum(sorted_other, skip + 1, hi, x, inv_radius, derivative)
        return below + above
    return bump_window_sum(sorted_other, lo, hi, x, inv_radius, derivative)


@jit
def apply_step(x, z, term, model, diffusion, potential, h):
    """Return the Euler-Maruyama update of one particle at ``x`` with noise ``z``."""
    drift = -potential * x
    if model == SKT:
        amplitude = np.sqrt((2.0 * diffusion + 2.0 * term) * h)
    else:
        drift -= term
        amplitude = np.sqrt(2.0 * diffusion * h)
    return x + drift * h + amplitude * z


@jit
def particle_term(sorted_positions, i, p, model, weights, radius, kind, power,
                  threshold, slope):
    """Return the interaction term of the particle of rank ``p`` in species ``i``.

    With ``c_ij`` the kernel weights and ``S_j = (c_ij / N) sum_l B(r_l)``
    over the other particles of species ``j``, the SKT term is
    ``sum_j f_eta(S_j)``. The drift term is
    ``sum_j (c_ij / (N eta)) sum_l B'(r_l)``, the drift being its negative.
    """
    n_species, n_particles = sorted_positions.shape
    position = sorted_positions[i, p]
    term = 0.0
    for j in range(n_species):
        weight = weights[i, j]
        if weight == 0.0:
            continue
        skip = p if j == i else -1
        raw = window_sum(sorted_positions[j], position, skip, radius, model == DRIFT)
        if model == SKT:
            s = weight * raw / n_particles
            term += apply_nonlinearity(s, kind, power, threshold, slope)
        else:
            term += weight * raw / (n_particles * radius)
    return term


@jit
def step_one_run(x, z, out, model, diffusion, weights, radius, potential, h,
                 kind, power, threshold, slope):
    """Advance one run (arrays of shape (n_species, N)) by one step into ``out``."""
    n_species, n_particles = x.shape
    sorted_positions, order = sort_species(x)
    for i in range(n_species):
        for p in range(n_particles):
            term = particle_term(sorted_positions, i, p, model, weights, radius, kind,
                                 power, threshold, slope)
            k = order[i, p]
            out[i, k] = apply_step(x[i, k], z[i, k], term, model, diffusion[i], potential, h)


@jit(parallel=True)
def step_runs_parallel(x, z, out, model, diffusion, weights, radius, potential, h,
                       kind, power, threshold, slope):
    """Advance every run (arrays of shape (runs, n_species, N)) by one step, in parallel over runs."""
    for r in prange(x.shape[0]):
        step_one_run(x[r], z[r], out[r], model, diffusion, weights, radius, potential, h,
                     kind, power, threshold, slope)


@jit(parallel=True)
def step_particles_parallel(x, z, out, model, diffusion, weights, radius, potential, h,
                            kind, power, threshold, slope):
    """Advance one run (arrays of shape (n_species, N)) by one step, in parallel over particles."""
    n_species, n_particles = x.shape
    sorted_positions, order = sort_species(x)
    for flat in prange(n_species * n_particles):
        i = flat // n_particles
        p = flat % n_particles
        term = particle_term(sorted_positions, i, p, model, weights, radius, kind,
                             power, threshold, slope)
        k = order[i, p]
        out[i, k] = apply_step(x[i, k], z[i, k], term, model, diffusion[i], potential, h)
