"""Particles (5), intermediate SDE (6) and macroscopic SDE (8) on one probability space.

The three systems of the two-step limit of Chen, Daus, Holzinger and Jüngel
(2020) share their initial positions and
their Brownian increments, particle by particle, as in the proofs of the
error estimates between them:

* (5) the SKT particles, whose diffusion coefficient reads the kernel sums
  ``S_ij`` of the other particles;
* (6) ``N`` independent copies of the intermediate SDE, whose coefficient
  reads ``f_eta(B_ij^eta * u_eta,j)`` with ``u_eta`` the solution of the
  nonlocal system (7);
* (8) ``N`` independent copies of the macroscopic SDE, whose coefficient
  reads ``f(a_ij u_j)`` with ``u`` the solution of the local system (1).

All three are advanced by Euler-Maruyama with the same steps. The PDEs are
solved with output at every step time, so no interpolation in time is
needed. In space the coefficient fields are interpolated linearly between
cell centres, which is second order and matches the order of the
finite-volume solution. Outside the PDE domain the coefficient takes its
value at the nearest cell centre.
"""

import math
import time as clock
from dataclasses import dataclass, field

import numpy as np
from numba import prange

from skt_lib._jit import jit
from skt_lib._validation import check_positive, check_positive_int
from skt_lib.nonlinearity import apply_nonlinearity
from skt_lib.parameters import ModelParameters
from skt_lib.particles import (
    _draw_noise,
    _noise_generators,
    _Stepper,
    build_time_grid,
    sample_gaussian_initial,
)
from skt_lib.pde import cell_centers, gaussian_density, kernel_convolution, solve_cross_diffusion


@dataclass
class CoupledPaths:
    """Path-wise distances between the systems (5), (6) and (8).

    Attributes
    ----------
    times : ndarray of shape (steps + 1,)
        Step times.
    sup_particle_intermediate : ndarray of shape (runs, n_species, particles)
        ``sup_t |X - Xbar|^2`` per particle, bounded by Lemma 9.
    sup_intermediate_macroscopic : ndarray of shape (runs, n_species, particles)
        ``sup_t |Xbar - Xhat|^2``, bounded by Lemma 10.
    sup_particle_macroscopic : ndarray of shape (runs, n_species, particles)
        ``sup_t |X - Xhat|^2``, bounded by Theorem 5.
    final : dict
        Positions at the final time of ``"particle"``, ``"intermediate"`` and
        ``"macroscopic"``, each of shape (runs, n_species, particles).
    record : dict
        Steps, PDE steps and wall times.
    """

    times: np.ndarray
    sup_particle_intermediate: np.ndarray
    sup_intermediate_macroscopic: np.ndarray
    sup_particle_macroscopic: np.ndarray
    final: dict
    record: dict = field(default_factory=dict)


@jit(parallel=True)
def _step_field_sde(x, z, out, pressure, lower, dx, diffusion, potential, h):
    """Advance ``dX = -c X dt + sqrt(2 sigma_i + 2 P_i(X)) dW`` by one step.

    ``pressure`` has shape (n_species, cells) and contains ``P_i`` at the cell
    centres ``lower + (k + 1/2) dx``, interpolated linearly.
    """
    runs, n_species, n_particles = x.shape
    cells = pressure.shape[1]
    for r in prange(runs):
        for i in range(n_species):
            for k in range(n_particles):
                position = x[r, i, k]
                s = (position - lower) / dx - 0.5
                if s <= 0.0:
                    value = pressure[i, 0]
                elif s >= cells - 1:
                    value = pressure[i, cells - 1]
                else:
                    left = int(s)
                    weight = s - left
                    value = (1.0 - weight) * pressure[i, left] + weight * pressure[i, left + 1]
                amplitude = math.sqrt((2.0 * diffusion[i] + 2.0 * value) * h)
                out[r, i, k] = position - potential * position * h + amplitude * z[r, i, k]


@jit
def _apply_nonlinearity_array(values, kind, power, threshold, slope):
    out = np.empty_like(values)
    flat_in = values.reshape(-1)
    flat_out = out.reshape(-1)
    for index in range(flat_in.size):
        flat_out[index] = apply_nonlinearity(flat_in[index], kind, power, threshold, slope)
    return out


def intermediate_pressure(density, parameters, *, domain):
    """Return ``sum_j f_eta(B_ij^eta * u_j)`` at the cell centres, shape (n_species, cells)."""
    convolution = kernel_convolution(density, parameters, domain=domain)
    compiled = parameters.nonlinearity.compiled_parameters(parameters.radius)
    return _apply_nonlinearity_array(np.maximum(convolution, 0.0), *compiled).sum(axis=1)


def macroscopic_pressure(density, parameters):
    """Return ``sum_j f(a_ij u_j)`` (no cut-off) at the cell centres, shape (n_species, cells)."""
    kind, power, _, _ = parameters.nonlinearity.compiled_parameters(parameters.radius)
    local = parameters.interaction[:, :, None] * np.maximum(density, 0.0)[None, :, :]
    return _apply_nonlinearity_array(local, kind, power, np.inf, 0.0).sum(axis=1)


def simulate_coupled(parameters, *, means, variances, particles, runs, time_step, final_time,
                     domain, cells, seed=None, pde_tolerance=1e-7):
    """Simulate (5), (6) and (8) with shared initial data and Brownian increments.

    Parameters
    ----------
    parameters : ModelParameters
        Coefficients (1D). ``radius`` is ``eta`` of (5), (6) and (7).
    means, variances : array_like of shape (n_species,)
        Gaussian initial law of each species, for the particles and the PDEs.
    particles, runs : int
        ``N`` per species and independent runs.
    time_step, final_time : float
        Euler-Maruyama step (intervals are split into equal steps no larger)
        and end time.
    domain : pair of float
        PDE interval. It must contain the mass of the solutions up to the
        final time. The solver rejects initial data that do not fit, and it
        warns when mass reaches the boundary.
    cells : int
        PDE cells.
    seed : int or None
        Seed of the initial positions and the noise.
    pde_tolerance : float
        Local error tolerance of the adaptive PDE solves.

    Returns
    -------
    CoupledPaths
    """
    if not isinstance(parameters, ModelParameters) or parameters.dimension != 1:
        msg = f"parameters must be 1D ModelParameters, got {parameters!r}"
        raise ValueError(msg)
    particles = check_positive_int("particles", particles)
    runs = check_positive_int("runs", runs)
    time_step = check_positive("time_step", time_step)
    final_time = check_positive("final_time", final_time)
    cells = check_positive_int("cells", cells)
    started = clock.perf_counter()

    steps, _ = build_time_grid(final_time, time_step, [final_time])
    times = np.concatenate([[0.0], np.cumsum(steps)])
    times[-1] = final_time
    x = cell_centers(domain, cells)
    u0 = np.array([gaussian_density(x, m, v) for m, v in zip(means, variances)])
    pde_options = dict(domain=domain, final_time=final_time, output_times=times,
                       tolerance=pde_tolerance)
    nonlocal_solution = solve_cross_diffusion(u0, parameters, system="skt",
                                              equation="nonlocal", **pde_options)
    local_solution = solve_cross_diffusion(u0, parameters, system="skt", equation="local",
                                           **pde_options)
    pde_seconds = clock.perf_counter() - started

    initial = sample_gaussian_initial(means, variances, runs=runs, particles=particles,
                                      seed=seed)
    generators = _noise_generators(seed, runs, initial.shape[1:])
    stepper = _Stepper(parameters, "skt", runs)
    states = {name: initial.copy() for name in ("particle", "intermediate", "macroscopic")}
    buffer = np.empty_like(initial)
    sups = {pair: np.zeros(initial.shape) for pair in ("pi", "im", "pm")}
    lower, dx = domain[0], (domain[1] - domain[0]) / cells
    diffusion = np.ascontiguousarray(parameters.diffusion)

    for index, h in enumerate(steps):
        z = _draw_noise(generators, initial.shape[1:])
        stepper.advance(states["particle"], z, buffer, h)
        states["particle"], buffer = buffer, states["particle"]
        fields = {
            "intermediate": intermediate_pressure(nonlocal_solution.density[index], parameters,
                                                  domain=domain),
            "macroscopic": macroscopic_pressure(local_solution.density[index], parameters),
        }
        for name, pressure in fields.items():
            _step_field_sde(states[name], z, buffer, np.ascontiguousarray(pressure), lower, dx,
                            diffusion, parameters.potential, h)
            states[name], buffer = buffer, states[name]
        _update_sup(sups["pi"], states["particle"], states["intermediate"])
        _update_sup(sups["im"], states["intermediate"], states["macroscopic"])
        _update_sup(sups["pm"], states["particle"], states["macroscopic"])

    record = {
        "steps": int(steps.size),
        "pde_steps_nonlocal": nonlocal_solution.record.get("steps"),
        "pde_steps_local": local_solution.record.get("steps"),
        "pde_seconds": pde_seconds,
        "wall_time_seconds": clock.perf_counter() - started,
    }
    return CoupledPaths(times, sups["pi"], sups["im"], sups["pm"],
                        {name: state.copy() for name, state in states.items()}, record)


def _update_sup(running, a, b):
    np.maximum(running, (a - b) ** 2, out=running)


@dataclass(frozen=True)
class ErrorEstimate:
    """Monte Carlo estimate of a path-wise error with its standard error.

    Attributes
    ----------
    mean, mean_std_error : float
        Average over runs, species and particles, and its standard error.
        Runs are independent but the particles of one run are not, so the
        standard error is taken over the per-run averages.
    max_over_particles, max_std_error : float
        ``max_k E(...)`` as in the statements of the error estimates: the
        expectation is estimated per particle index ``k`` (summed over
        species) by the mean over runs, and the largest of these is reported
        with the standard error of that particle's mean. The maximum of noisy
        means is biased upwards by about this standard error.
    runs : int
    """

    mean: float
    mean_std_error: float
    max_over_particles: float
    max_std_error: float
    runs: int


def estimate_error(squared_distances):
    """Estimate ``E sup_t |.|^2`` from an array of shape (runs, n_species, particles).

    The statements of Lemma 9, Lemma 10 and Theorem 5 sum the squared
    distances over species and take the supremum over particles ``k`` of the
    expectation; :class:`ErrorEstimate` gives that and the plain average.
    """
    values = np.asarray(squared_distances, dtype=float)
    if values.ndim != 3 or values.shape[0] < 2:
        msg = f"squared_distances must have shape (runs >= 2, n_species, particles), got {values.shape}"
        raise ValueError(msg)
    runs = values.shape[0]
    per_run = values.mean(axis=(1, 2))
    per_particle = values.sum(axis=1)
    particle_means = per_particle.mean(axis=0)
    worst = int(np.argmax(particle_means))
    return ErrorEstimate(
        mean=float(per_run.mean()),
        mean_std_error=float(per_run.std(ddof=1) / math.sqrt(runs)),
        max_over_particles=float(particle_means[worst]),
        max_std_error=float(per_particle[:, worst].std(ddof=1) / math.sqrt(runs)),
        runs=runs,
    )
