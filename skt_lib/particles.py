"""Euler-Maruyama simulation of the SKT particles and the drift particles (1D and 2D).

Two systems of ``n`` species with ``N`` particles each are supported:

* ``model="skt"``: interaction through the diffusion coefficient,

  .. math::

      x_{m+1} = x_m - c\\, x_m h
      + \\Big(2\\sigma_i + 2 \\sum_j f_\\eta(S_{ij})\\Big)^{1/2} \\sqrt{h}\\, z_m,
      \\qquad S_{ij} = \\frac1N \\sum_{(l, j) \\ne (k, i)} B_{ij}^\\eta(x_k - x_l);

* ``model="drift"``: interaction through the drift,

  .. math::

      y_{m+1} = y_m - c\\, y_m h
      - \\sum_j \\frac1N \\sum_{(l, j) \\ne (k, i)} \\nabla B_{ij}^\\eta(y_k - y_l)\\, h
      + \\sqrt{2 \\sigma_i h}\\, z_m,

with ``z_m`` independent standard normal variables and ``c`` the coefficient
of the potential ``U(x) = c |x|^2 / 2``. Euler-Maruyama converges strongly
with order 1/2 for Lipschitz coefficients (Kloeden and Platen, Numerical
Solution of Stochastic Differential Equations, Springer 1992).
"""

import logging
import math
import numbers
import os
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from skt_lib import _particle_kernels as kernels
from skt_lib import _particle_kernels_2d as kernels_2d
from skt_lib._validation import (
    as_finite_array,
    check_choice,
    check_positive,
    check_positive_int,
)
from skt_lib.parameters import ModelParameters, check_parameters

logger = logging.getLogger(__name__)

MODELS = ("skt", "drift")
_MODEL_CODES = {"skt": kernels.SKT, "drift": kernels.DRIFT}


class NonFiniteStateError(FloatingPointError):
    """A simulation produced a non-finite position.

    Attributes
    ----------
    step : int
        Index of the step (1-based) whose result was not finite.
    time : float
        Time reached by that step.
    species : int
        Index (0-based) of the first species with a non-finite position.
    run : int
        Index (0-based) of the first run with a non-finite position.
    partial : ParticleSimulation
        The outputs recorded before the failure.
    """

    def __init__(self, message, *, step, time, species, run, partial):
        super().__init__(message)
        self.step = step
        self.time = time
        self.species = species
        self.run = run
        self.partial = partial


@dataclass
class ParticleSimulation:
    """Positions of a particle simulation at its output times.

    Attributes
    ----------
    times : ndarray of shape (n_times,)
        Output times.
    positions : ndarray of shape (n_times, n_runs, n_species, n_particles)
        Particle positions at each output time.
    model : str
        ``"skt"`` or ``"drift"``.
    parameters : ModelParameters
        Coefficients used.
    record : dict
        What was run: step count, largest step, seed, threads, wall time.
    """

    times: np.ndarray
    positions: np.ndarray
    model: str
    parameters: ModelParameters
    record: dict = field(default_factory=dict)

    def at(self, time_value):
        """Return the positions at output time ``time_value``, shape (runs, n_species, N)."""
        matches = np.flatnonzero(np.isclose(self.times, time_value, rtol=0, atol=1e-12))
        if matches.size == 0:
            msg = f"time {time_value!r} is not an output time; available: {self.times.tolist()}"
            raise ValueError(msg)
        return self.positions[matches[0]]


def build_time_grid(final_time, time_step, output_times):
    """Return the step sizes and, per output time, the number of steps to reach it.

    Steps are at most ``time_step`` (up to one rounding of the interval
    length) and land exactly on every output time, because each interval
    between consecutive output times is split into equal steps. A
    ``time_step`` that divides the intervals gives equal steps of that size.
    """
    stops = sorted({0.0, *output_times, final_time})
    steps = []
    steps_to_stop = {0.0: 0}
    for start, stop in zip(stops[:-1], stops[1:]):
        count = max(1, math.ceil((stop - start) / time_step - 1e-9))
        steps.extend([(stop - start) / count] * count)
        steps_to_stop[stop] = len(steps)
    return np.array(steps), [steps_to_stop[t] for t in output_times]


MAX_STEPS = 10**9


def check_run_size(*, runs, n_species, particles, outputs, dimension, steps_estimate):
    """Reject runs whose step count or memory cannot be handled.

    Raises ``ValueError`` when ``final_time / time_step`` exceeds
    :data:`MAX_STEPS`, or when the stored outputs and the three working
    arrays of positions need more memory than the machine has.
    """
    if not steps_estimate <= MAX_STEPS:
        msg = (f"final_time / time_step = {steps_estimate:.3g} steps; at most {MAX_STEPS:.0e} "
               "are allowed, so raise time_step or lower final_time")
        raise ValueError(msg)
    needed = 8.0 * (outputs + 3) * runs * n_species * particles * dimension
    available = _physical_memory()
    if available is not None and needed > 0.8 * available:
        msg = (f"runs={runs}, particles={particles} and {outputs} output times need about "
               f"{needed / 2**30:.3g} GiB of memory, more than 80% of the "
               f"{available / 2**30:.3g} GiB of this machine; lower runs or particles")
        raise ValueError(msg)


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_output_times(output_times, final_time):
    """Validate output times: finite, increasing, inside ``[0, final_time]``."""
    times = as_finite_array("output_times", output_times, ndim=1)
    if times.size == 0:
        msg = "output_times must list at least one time"
        raise ValueError(msg)
    if np.any(times < 0) or np.any(times > final_time):
        msg = f"output_times must lie in [0, final_time={final_time}], got {times.tolist()}"
        raise ValueError(msg)
    if np.any(np.diff(times) <= 0):
        msg = f"output_times must be strictly increasing, got {times.tolist()}"
        raise ValueError(msg)
    return times


def sample_gaussian_initial(means, variances, *, runs, particles, seed=None):
    """Draw i.i.d. Gaussian initial positions, one Gaussian per species.

    Run ``r`` draws from its own stream ``SeedSequence(seed).spawn(runs)[r]``
    (the first draw of that stream), so a run's data does not depend on how
    many runs are requested.

    Parameters
    ----------
    means : array_like of shape (n_species,) or (n_species, 2)
        Mean of each species; a second axis of length 2 gives 2D positions.
    variances : array_like of shape (n_species,)
        Variance of each species (per coordinate in 2D, which is isotropic).
    runs, particles : int
        Independent runs and particles per species.
    seed : int, numpy.random.SeedSequence or None
        Seed of the per-run streams.

    Returns
    -------
    ndarray of shape (runs, n_species, particles) or (runs, n_species, particles, 2)
    """
    means = as_finite_array("means", means)
    if means.ndim not in (1, 2) or (means.ndim == 2 and means.shape[1] != 2):
        msg = f"means must have shape (n_species,) or (n_species, 2), got {means.shape}"
        raise ValueError(msg)
    variances = as_finite_array("variances", variances, ndim=1)
    if means.shape[0] != variances.size:
        msg = f"means and variances must have equal lengths, got {means.shape[0]} and {variances.size}"
        raise ValueError(msg)
    if np.any(variances <= 0):
        msg = f"variances must be > 0, got {variances.tolist()}"
        raise ValueError(msg)
    runs = check_positive_int("runs", runs)
    particles = check_positive_int("particles", particles)
    point_shape = (means.shape[0], particles, *means.shape[1:])
    spread = np.sqrt(variances).reshape((-1,) + (1,) * (len(point_shape) - 1))
    centre = means[:, None] if means.ndim == 1 else means[:, None, :]
    positions = np.empty((runs, *point_shape))
    for run, generator in enumerate(run_generators(seed, runs)):
        positions[run] = centre + spread * generator.standard_normal(point_shape)
    return positions


def run_generators(seed, runs):
    """Return one independent generator per run, derived from ``seed``.

    ``seed`` is ``None`` (fresh entropy), an integer >= 0 or a
    ``numpy.random.SeedSequence``.
    """
    if isinstance(seed, np.random.SeedSequence):
        sequence = seed
    elif seed is None or (isinstance(seed, numbers.Integral) and not isinstance(seed, bool)
                          and seed >= 0):
        sequence = np.random.SeedSequence(seed)
    else:
        msg = f"seed must be None, an integer >= 0 or a SeedSequence, got {seed!r}"
        raise (ValueError if isinstance(seed, numbers.Integral) else TypeError)(msg)
    return [np.random.default_rng(child) for child in sequence.spawn(runs)]


def simulate_particles(
    initial_positions,
    parameters,
    *,
    model="skt",
    time_step,
    final_time,
    output_times=None,
    seed=None,
    noise=None,
    progress=None,
):
    """Simulate a particle system with the Euler-Maruyama scheme.

    Parameters
    ----------
    initial_positions : ndarray of shape (runs, n_species, n_particles[, 2])
        Positions at time 0, one independent system per run. In dimension 2
        (``parameters.dimension == 2``) the last axis contains the coordinates.
    parameters : ModelParameters
        Diffusion, interaction, kernel, nonlinearity and potential.
    model : {"skt", "drift"}
        Interaction through the diffusion coefficient or through the drift.
    time_step : float
        Largest step ``h > 0`` (time). Intervals between output times are
        split into equal steps no larger than this.
    final_time : float
        End time ``T > 0``.
    output_times : array_like of float, optional
        Increasing times in ``[0, T]`` at which positions are stored;
        ``[T]`` by default.
    seed : int, numpy.random.SeedSequence or None
        Seed of the noise. Run ``r`` draws from the ``r``-th child of
        ``SeedSequence(seed)``, continuing the stream
        :func:`sample_gaussian_initial` starts with the same seed.
    noise : ndarray of shape (n_steps, *initial_positions.shape), optional
        Standard normal increments ``z_m`` to use instead of drawing them
        (``sqrt(h) z_m`` is the Brownian increment). ``n_steps`` must match
        the time grid of :func:`build_time_grid`.
    progress : bool or None
        Show a progress bar; ``None`` shows it only when stderr is a terminal.

    Returns
    -------
    ParticleSimulation

    Raises
    ------
    NonFiniteStateError
        When a position becomes infinite or NaN. The error carries the step,
        the species and the outputs recorded so far.
    """
    check_choice("model", model, MODELS)
    check_parameters(parameters)
    dimension = parameters.dimension
    positions = as_finite_array("initial_positions", initial_positions, ndim=2 + dimension)
    if dimension == 2 and positions.shape[-1] != 2:
        msg = (f"initial_positions must have a last axis of length 2 in dimension 2, "
               f"got shape {positions.shape}")
        raise ValueError(msg)
    runs, n_species, n_particles = positions.shape[:3]
    point_shape = positions.shape[1:]
    if n_species != parameters.n_species:
        msg = (
            f"initial_positions has {n_species} species (axis 1) but parameters "
            f"describe {parameters.n_species}"
        )
        raise ValueError(msg)
    if runs == 0 or n_particles == 0:
        msg = f"initial_positions must have at least one run and one particle, got shape {positions.shape}"
        raise ValueError(msg)
    time_step = check_positive("time_step", time_step)
    final_time = check_positive("final_time", final_time)
    if output_times is None:
        output_times = [final_time]
    output_times = check_output_times(output_times, final_time)
    check_run_size(runs=runs, n_species=n_species, particles=n_particles,
                   outputs=output_times.size, dimension=dimension,
                   steps_estimate=final_time / time_step)
    steps, output_steps = build_time_grid(final_time, time_step, output_times.tolist())
    if parameters.potential * steps.max() >= 2.0:
        warnings.warn(
            f"potential coefficient c = {parameters.potential} with time step {steps.max():.3g} "
            "gives |1 - c h| >= 1, so Euler-Maruyama amplifies positions at every step; "
            f"choose time_step < {2.0 / parameters.potential:.3g}",
            stacklevel=2,
        )
    if noise is not None:
        noise = as_finite_array("noise", noise, ndim=positions.ndim + 1)
        expected = (steps.size, *positions.shape)
        if noise.shape != expected:
            msg = f"noise must have shape {expected} (steps, runs, species, particles), got {noise.shape}"
            raise ValueError(msg)

    stepper = _Stepper(parameters, model, runs)
    generators = None if noise is not None else _noise_generators(seed, runs, point_shape)
    stored = np.empty((output_times.size, *positions.shape))
    outputs_done = 0
    while outputs_done < len(output_steps) and output_steps[outputs_done] == 0:
        stored[outputs_done] = positions
        outputs_done += 1

    record = {
        "steps": int(steps.size),
        "max_time_step": float(steps.max()),
        "seed": seed if isinstance(seed, (int, type(None))) else repr(seed),
        "runs": runs,
        "particles": n_particles,
    }
    show = sys.stderr.isatty() if progress is None else bool(progress)
    started = time.perf_counter()
    current = positions.copy()
    following = np.empty_like(current)
    elapsed_time = 0.0
    with tqdm(total=steps.size, disable=not show, desc=f"{model} particles") as bar:
        for step_index, h in enumerate(steps):
            if noise is not None:
                z = noise[step_index]
            else:
                z = _draw_noise(generators, point_shape)
            stepper.advance(current, z, following, h)
            elapsed_time += h
            current, following = following, current
            _check_finite(current, step_index + 1, elapsed_time, stored[:outputs_done],
                          output_times[:outputs_done], model, parameters, record)
            while outputs_done < len(output_steps) and output_steps[outputs_done] == step_index + 1:
                stored[outputs_done] = current
                outputs_done += 1
            bar.update()
    record["wall_time_seconds"] = time.perf_counter() - started
    logger.info("%s simulation: %d steps, %d runs in %.2f s", model, steps.size, runs,
                record["wall_time_seconds"])
    return ParticleSimulation(output_times, stored, model, parameters, record)


class _Stepper:
    """Holds the compiled parameters and dispatches one step to a kernel."""

    def __init__(self, parameters, model, runs):
        self.model_code = _MODEL_CODES[model]
        self.diffusion = np.ascontiguousarray(parameters.diffusion, dtype=float)
        self.weights = np.ascontiguousarray(parameters.kernel_weights(), dtype=float)
        self.radius = parameters.radius
        self.potential = parameters.potential
        self.nonlinearity = parameters.nonlinearity.compiled_parameters(parameters.radius)
        self.runs = runs
        if parameters.dimension == 1:
            self.per_particle = kernels.step_particles_parallel
            self.per_run = kernels.step_runs_parallel
        else:
            self.per_particle = kernels_2d.step_particles_parallel_2d
            self.per_run = kernels_2d.step_runs_parallel_2d

    def advance(self, current, z, following, h):
        arguments = (self.model_code, self.diffusion, self.weights, self.radius,
                     self.potential, h, *self.nonlinearity)
        if self.runs == 1:
            self.per_particle(current[0], z[0], following[0], *arguments)
        else:
            self.per_run(current, z, following, *arguments)


def _noise_generators(seed, runs, point_shape):
    """Per-run generators positioned after the draw of the initial data."""
    generators = run_generators(seed, runs)
    for generator in generators:
        # Skip the standard normals that sample_gaussian_initial draws first,
        # so the noise is independent of the initial positions.
        generator.standard_normal(point_shape)
    return generators


def _draw_noise(generators, point_shape):
    z = np.empty((len(generators), *point_shape))
    for run, generator in enumerate(generators):
        z[run] = generator.standard_normal(point_shape)
    return z


def _check_finite(current, step, time_value, stored, stored_times, model, parameters, record):
    if np.isfinite(current).all():
        return
    finite_per_species = np.isfinite(current).reshape(current.shape[:2] + (-1,)).all(axis=2)
    bad_run, bad_species = np.argwhere(~finite_per_species)[0]
    partial = ParticleSimulation(
        np.array(stored_times), stored.copy(), model, parameters,
        dict(record, steps=step - 1, failed_step=step),
    )
    msg = (
        f"non-finite particle position at step {step} (t = {time_value:.6g}) in species "
        f"{bad_species} (0-based), run {bad_run}; the time step may be too large for the "
        f"potential or interaction. {len(stored_times)} outputs were recorded before it"
    )
    raise NonFiniteStateError(msg, step=step, time=time_value, species=int(bad_species),
                              run=int(bad_run), partial=partial)
