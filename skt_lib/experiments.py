"""The Section 7 experiments of Chen, Daus, Holzinger and Jüngel (2020), runs and caching.

:data:`PAPER_EXPERIMENTS` contains the three settings (1D, no potential,
``f(s) = s``, Gaussian initial data of variance 2). :func:`experiment_config`
turns one of them into a configuration mapping with the numerical parameters
of a profile, and :func:`run_simulation` runs a validated configuration,
reusing a cached result when the same configuration ran before.
"""

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from skt_lib import __version__
from skt_lib.config import SimulationConfig, parse_simulation
from skt_lib.particles import ParticleSimulation, sample_gaussian_initial, simulate_particles

logger = logging.getLogger(__name__)

PAPER_EXPERIMENTS = {
    "nonsymmetric": {
        "diffusion": [1.0, 2.0],
        "interaction": [[0.0, 355.0], [25.0, 0.0]],
        "initial": [{"mean": -1.0, "variance": 2.0}, {"mean": 1.0, "variance": 2.0}],
        "output_times": [2.0],
    },
    "symmetric": {
        "diffusion": [1.0, 2.0],
        "interaction": [[0.0, 355.0], [355.0, 0.0]],
        "initial": [{"mean": -1.0, "variance": 2.0}, {"mean": 1.0, "variance": 2.0}],
        "output_times": [0.01, 0.15, 2.0],
    },
    "three-species": {
        "diffusion": [1.0, 2.0, 3.0],
        "interaction": [[0.0, 355.0, 355.0], [25.0, 0.0, 25.0], [355.0, 0.0, 0.0]],
        "initial": [
            {"mean": -1.0, "variance": 2.0},
            {"mean": 2.0, "variance": 2.0},
            {"mean": -3.0, "variance": 2.0},
        ],
        "output_times": [2.0],
    },
}

#: Numerical parameters of the paper: N = 5000, 500 runs, dt = 0.01, eta = 2.
PAPER_NUMERICS = {"particles": 5000, "runs": 500, "time_step": 0.01, "radius": 2.0}


def experiment_config(name, *, model, particles, runs, time_step, radius, seed,
                      normalization="unit-mass"):
    """Return the configuration mapping of a Section 7 experiment.

    Parameters
    ----------
    name : {"nonsymmetric", "symmetric", "three-species"}
        Experiment of Figure 1, 2 or 3.
    model : {"skt", "drift"}
        Particle system.
    particles, runs, time_step, radius, seed, normalization
        Numerical parameters; see :func:`skt_lib.config.parse_simulation`.
    """
    if name not in PAPER_EXPERIMENTS:
        msg = f"name must be one of {sorted(PAPER_EXPERIMENTS)}, got {name!r}"
        raise ValueError(msg)
    setting = PAPER_EXPERIMENTS[name]
    return {
        "model": model,
        "dimension": 1,
        "diffusion": list(setting["diffusion"]),
        "interaction": [list(row) for row in setting["interaction"]],
        "radius": radius,
        "kernel_normalization": normalization,
        "nonlinearity": "linear",
        "potential": "none",
        "initial": [dict(entry) for entry in setting["initial"]],
        "particles": particles,
        "runs": runs,
        "time_step": time_step,
        "final_time": max(setting["output_times"]),
        "output_times": list(setting["output_times"]),
        "seed": seed,
    }


def run_simulation(config, *, cache_dir=None, progress=None):
    """Run a particle experiment, or load it from ``cache_dir`` if it ran before.

    Parameters
    ----------
    config : SimulationConfig or dict
        The experiment; a mapping is validated with
        :func:`skt_lib.config.parse_simulation`.
    cache_dir : str or Path, optional
        Folder of cached results, keyed by a hash of the resolved
        configuration and the library version.
    progress : bool or None
        Progress bar, see :func:`skt_lib.particles.simulate_particles`.

    Returns
    -------
    ParticleSimulation
        ``record["config"]`` contains the resolved configuration and
        ``record["cached"]`` is True when the result came from the cache.
    """
    if not isinstance(config, SimulationConfig):
        config = parse_simulation(config)
    resolved = config.resolved()
    cache_path = None
    if cache_dir is not None:
        cache_path = Path(cache_dir) / f"{config_key(resolved)}.npz"
        if cache_path.is_file():
            logger.info("loading cached result %s", cache_path)
            result = load_result(cache_path, parameters=config.parameters)
            result.record["cached"] = True
            return result
    initial = sample_gaussian_initial(
        config.means, config.variances, runs=config.runs, particles=config.particles,
        seed=config.seed,
    )
    result = simulate_particles(
        initial,
        config.parameters,
        model=config.model,
        time_step=config.time_step,
        final_time=config.final_time,
        output_times=config.output_times,
        seed=config.seed,
        progress=progress,
    )
    result.record["config"] = resolved
    result.record["cached"] = False
    if cache_path is not None:
        save_result(result, cache_path)
    return result


def config_key(resolved):
    """Return a hash of a resolved configuration and the library version."""
    text = json.dumps({"config": resolved, "version": __version__}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def save_result(result, path):
    """Write ``times``, ``positions``, ``config`` and ``record`` to an ``.npz`` file."""
    config = result.record.get("config", {})
    record = {key: value for key, value in result.record.items() if key != "config"}
    write_npz_atomically(path, times=result.times, positions=result.positions,
                         config=json.dumps(config), record=json.dumps(record, default=str))


def write_npz_atomically(path, **arrays):
    """Write ``arrays`` to an ``.npz`` file under a temporary name, then rename it.

    An interrupted write never leaves a truncated file at ``path``. The file
    gets the mode that the umask gives a new file (``mkstemp`` alone gives
    ``0600``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, **{key: np.asarray(value) for key, value in arrays.items()})
        os.chmod(temporary, 0o666 & ~_current_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_result(path, *, parameters=None):
    """Read a result written by :func:`save_result`."""
    with np.load(path) as data:
        config = json.loads(str(data["config"]))
        record = json.loads(str(data["record"])) if "record" in data else {}
        times = data["times"]
        positions = data["positions"]
    if parameters is None:
        parameters = parse_simulation(config).parameters
    record["config"] = config
    return ParticleSimulation(times, positions, config.get("model", "skt"), parameters, record)
