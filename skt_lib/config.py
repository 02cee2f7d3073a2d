"""Experiment configuration files: parsing, validation and the resolved form.

A configuration is a mapping read from YAML or JSON. :func:`parse_simulation`
checks every key and returns a :class:`SimulationConfig`; any problem raises
:class:`ConfigError` naming the key, the value received and what is allowed.
The keys are documented in the README.
"""

import json
import math
import re
import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from skt_lib.kernels import NORMALIZATIONS
from skt_lib.nonlinearity import Nonlinearity
from skt_lib.parameters import ModelParameters
from skt_lib.particles import MODELS, check_run_size
from skt_lib.pde import DEFAULT_TOLERANCE, MAX_CELLS, MIN_TOLERANCE

SIMULATION_KEYS = {
    "model": "required",
    "dimension": 1,
    "diffusion": "required",
    "interaction": "required",
    "radius": "required",
    "kernel_normalization": "unit-mass",
    "nonlinearity": "linear",
    "potential": "none",
    "initial": "required",
    "particles": "required",
    "runs": "required",
    "time_step": "required",
    "final_time": "required",
    "output_times": None,
    "seed": None,
}


class ConfigError(ValueError):
    """An invalid configuration value; the message names the key."""


@dataclass(frozen=True, eq=False)
class SimulationConfig:
    """A validated particle experiment.

    Attributes
    ----------
    model : str
        ``"skt"`` or ``"drift"``.
    parameters : ModelParameters
        Coefficients, kernel, nonlinearity and potential.
    means, variances : ndarray of shape (n_species,)
        Initial Gaussian of each species.
    particles, runs : int
        Particles per species and independent Monte Carlo runs.
    time_step, final_time : float
        Largest Euler-Maruyama step and end time.
    output_times : ndarray of shape (n_times,)
        Times at which positions are stored.
    seed : int
        Seed of the initial data and the noise.
    """

    model: str
    parameters: ModelParameters
    means: np.ndarray
    variances: np.ndarray
    particles: int
    runs: int
    time_step: float
    final_time: float
    output_times: np.ndarray
    seed: int

    def resolved(self):
        """Return the configuration with every default filled in, as plain data."""
        potential = self.parameters.potential
        return {
            "model": self.model,
            "dimension": self.parameters.dimension,
            "diffusion": self.parameters.diffusion.tolist(),
            "interaction": self.parameters.interaction.tolist(),
            "radius": self.parameters.radius,
            "kernel_normalization": self.parameters.normalization,
            "nonlinearity": self.parameters.nonlinearity.to_config(),
            "potential": "none" if potential == 0.0 else {"quadratic": potential},
            "initial": [
                {"mean": float(m), "variance": float(v)}
                for m, v in zip(self.means, self.variances)
            ],
            "particles": self.particles,
            "runs": self.runs,
            "time_step": self.time_step,
            "final_time": self.final_time,
            "output_times": self.output_times.tolist(),
            "seed": self.seed,
        }


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that rejects a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                msg = f"key {key!r} appears twice"
                raise yaml.constructor.ConstructorError(None, None, msg, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config_file(path):
    """Read a JSON (``.json``) or YAML (any other suffix) file into a mapping."""
    path = Path(path)
    if not path.exists():
        msg = f"configuration file not found: {path}"
        raise ConfigError(msg)
    if not path.is_file():
        msg = f"configuration path {path} is not a file"
        raise ConfigError(msg)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        msg = f"configuration file {path} is not UTF-8 text: {error}"
        raise ConfigError(msg) from error
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text, object_pairs_hook=_reject_duplicate_json_keys)
        else:
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except (json.JSONDecodeError, yaml.YAMLError, ValueError) as error:
        msg = f"configuration file {path} is not valid {path.suffix.lstrip('.').upper() or 'YAML'}: {error}"
        raise ConfigError(msg) from error
    if not isinstance(data, dict):
        msg = f"configuration file {path} must contain a mapping of keys, got {type(data).__name__}"
        raise ConfigError(msg)
    return data


def _reject_duplicate_json_keys(pairs):
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        msg = f"key(s) {duplicates} appear twice"
        raise ValueError(msg)
    return dict(pairs)


def parse_simulation(data):
    """Validate a particle experiment mapping and return a :class:`SimulationConfig`."""
    values = _fill_defaults(data, SIMULATION_KEYS)

    model = _choice(values, "model", MODELS)
    dimension = values["dimension"]
    if dimension != 1 or isinstance(dimension, bool):
        msg = f"dimension: got {dimension!r}; the particle simulator supports dimension 1 only"
        raise ConfigError(msg)
    model_values = _model_values(values)
    n_species = len(model_values["diffusion"])
    radius = _number(values, "radius", positive=True)

    means, variances = _gaussians(values, n_species)
    particles = _integer(values, "particles", minimum=1)
    runs = _integer(values, "runs", minimum=1)
    time_step = _number(values, "time_step", positive=True)
    final_time = _number(values, "final_time", positive=True)
    output_times = _output_times(values, final_time)

    try:
        check_run_size(runs=runs, n_species=n_species, particles=particles,
                       outputs=len(output_times), dimension=1,
                       steps_estimate=final_time / time_step)
    except ValueError as error:
        raise ConfigError(str(error)) from error
    seed = values["seed"]
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % 2**63)
    else:
        seed = _integer(values, "seed", minimum=0)

    return SimulationConfig(
        model=model,
        parameters=ModelParameters(radius=radius, **model_values),
        means=np.array(means),
        variances=np.array(variances),
        particles=particles,
        runs=runs,
        time_step=time_step,
        final_time=final_time,
        output_times=np.array(output_times),
        seed=seed,
    )


def _model_values(values):
    """Return the ModelParameters fields other than the radius, read from the shared keys."""
    diffusion = _number_list(values, "diffusion", positive=True)
    return {
        "diffusion": diffusion,
        "interaction": _matrix(values, "interaction", len(diffusion)),
        "normalization": _choice(values, "kernel_normalization", NORMALIZATIONS),
        "nonlinearity": _nonlinearity(values["nonlinearity"]),
        "potential": _potential(values["potential"]),
    }


def _fill_defaults(data, schema):
    if not isinstance(data, dict):
        msg = f"configuration must be a mapping of keys, got {type(data).__name__}"
        raise ConfigError(msg)
    unknown = sorted(set(data) - set(schema))
    if unknown:
        msg = f"unknown key(s) {unknown}; allowed keys: {sorted(schema)}"
        raise ConfigError(msg)
    missing = sorted(key for key, default in schema.items()
                     if default == "required" and key not in data)
    if missing:
        msg = f"missing required key(s) {missing}"
        raise ConfigError(msg)
    return {key: data.get(key, default) for key, default in schema.items()}


def _describe(value):
    text = repr(value)
    if isinstance(value, str) and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+",
                                              value.strip()):
        return (f"{text} (a string: YAML 1.1 reads a number in exponent notation only with a "
                "dot and a signed exponent, so write 1.0e-2 or 1.0e+3)")
    return text


def _check_number(key, value, *, positive=False, nonnegative=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{key}: got {_describe(value)}; expected a number"
        raise ConfigError(msg)
    value = float(value)
    if not math.isfinite(value):
        msg = f"{key}: got {value!r}; expected a finite number"
        raise ConfigError(msg)
    if positive and value <= 0:
        msg = f"{key}: got {value!r}; expected a number > 0"
        raise ConfigError(msg)
    if nonnegative and value < 0:
        msg = f"{key}: got {value!r}; expected a number >= 0"
        raise ConfigError(msg)
    return value


def _number(values, key, **limits):
    return _check_number(key, values[key], **limits)


def _integer(values, key, *, minimum):
    value = values[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        msg = f"{key}: got {_describe(value)}; expected an integer >= {minimum}"
        raise ConfigError(msg)
    return int(value)


def _choice(values, key, allowed):
    value = values[key]
    if value not in allowed:
        msg = f"{key}: got {value!r}; allowed: {', '.join(repr(a) for a in allowed)}"
        raise ConfigError(msg)
    return value


def _number_list(values, key, *, positive):
    value = values[key]
    if not isinstance(value, list) or not value:
        msg = f"{key}: got {_describe(value)}; expected a non-empty list of numbers, one per species"
        raise ConfigError(msg)
    return [_check_number(f"{key}[{i}]", item, positive=positive) for i, item in enumerate(value)]


def _matrix(values, key, n_species):
    value = values[key]
    shape_message = (
        f"{key}: got {value!r}; expected a {n_species} x {n_species} matrix of numbers >= 0 "
        f"(one row per species, matching the {n_species} entries of diffusion)"
    )
    if not isinstance(value, list) or len(value) != n_species:
        raise ConfigError(shape_message)
    rows = []
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != n_species:
            raise ConfigError(shape_message)
        rows.append([
            _check_number(f"{key}[{i}][{j}]", item, nonnegative=True)
            for j, item in enumerate(row)
        ])
    return rows


def _nonlinearity(value):
    try:
        return Nonlinearity.from_config(value)
    except (TypeError, ValueError) as error:
        message = str(error)
        if not message.startswith("nonlinearity"):
            message = f"nonlinearity.{message}"
        raise ConfigError(message) from error


def _potential(value):
    if value == "none" or value is None:
        return 0.0
    if isinstance(value, dict) and set(value) == {"quadratic"}:
        return _check_number("potential.quadratic", value["quadratic"])
    msg = f"potential: got {value!r}; allowed: 'none' or {{quadratic: c}} with c a number"
    raise ConfigError(msg)


def _gaussians(values, n_species):
    value = values["initial"]
    if not isinstance(value, list) or len(value) != n_species:
        msg = (
            f"initial: got {value!r}; expected a list of {n_species} entries "
            "{mean: m, variance: v}, one per species"
        )
        raise ConfigError(msg)
    means, variances = [], []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict) or set(entry) != {"mean", "variance"}:
            msg = f"initial[{i}]: got {entry!r}; expected {{mean: m, variance: v}}"
            raise ConfigError(msg)
        means.append(_check_number(f"initial[{i}].mean", entry["mean"]))
        variances.append(_check_number(f"initial[{i}].variance", entry["variance"], positive=True))
    return means, variances


def _output_times(values, final_time):
    value = values["output_times"]
    if value is None:
        return [final_time]
    if not isinstance(value, list) or not value:
        msg = f"output_times: got {_describe(value)}; expected a non-empty list of times"
        raise ConfigError(msg)
    times = [_check_number(f"output_times[{i}]", t) for i, t in enumerate(value)]
    for t in times:
        if t < 0 or t > final_time:
            msg = f"output_times: got {t!r}; every output time must lie in [0, final_time = {final_time}]"
            raise ConfigError(msg)
    if any(b <= a for a, b in zip(times, times[1:])):
        msg = f"output_times: got {times}; expected strictly increasing times"
        raise ConfigError(msg)
    return times


SOLVE_KEYS = {
    "model": "required",
    "equation": "required",
    "dimension": 1,
    "domain": "required",
    "cells": "required",
    "boundary": "no-flux",
    "diffusion": "required",
    "interaction": "required",
    "radius": None,
    "kernel_normalization": "unit-mass",
    "nonlinearity": "linear",
    "potential": "none",
    "initial": "required",
    "final_time": "required",
    "output_times": None,
    "method": "bdf2",
    "time_step": None,
    "tolerance": None,
    "whole_line": True,
}
#: Largest relative difference between the requested mass of a Gaussian and
#: its midpoint sum on the grid. A Gaussian wider than two cells and inside the
#: domain stays far below it.
GAUSSIAN_MASS_TOLERANCE = 1e-3
SOLVE_MODELS = ("skt", "drift")
EQUATIONS = ("local", "nonlocal")
BOUNDARIES = ("no-flux", "periodic")
METHODS = ("bdf2", "euler")


@dataclass(frozen=True, eq=False)
class SolveConfig:
    """A validated PDE solve.

    Attributes
    ----------
    model, equation, boundary, method : str
        What to solve and how; see :func:`skt_lib.pde.solve_cross_diffusion`.
    parameters : ModelParameters
        Coefficients. Without ``radius`` in the file, ``radius`` is 1 and
        unused (a local equation without cut-off).
    domain : tuple of float
        The interval ``(a, b)``.
    cells : int
        Number of finite-volume cells.
    initial : list of dict
        Per species ``{"mean", "variance", "mass"}`` or ``{"barenblatt": {"mass", "time"}}``.
    final_time : float
    output_times : ndarray of shape (n_times,)
    time_step, tolerance : float or None
        Solver settings.
    radius_given : bool
        Whether the file set ``radius``.
    whole_line : bool
        Whether the no-flux interval stands for the whole line (the solver
        then checks that no mass reaches its ends).
    """

    model: str
    equation: str
    boundary: str
    method: str
    parameters: ModelParameters
    domain: tuple
    cells: int
    initial: list
    final_time: float
    output_times: np.ndarray
    time_step: float | None
    tolerance: float | None
    radius_given: bool
    whole_line: bool = True

    def initial_density(self, x):
        """Return the initial densities at the points ``x``, shape (n_species, cells)."""
        from skt_lib.pde import barenblatt_density, gaussian_density

        rows = []
        for i, entry in enumerate(self.initial):
            if "barenblatt" in entry:
                profile = entry["barenblatt"]
                coefficient = float(self.parameters.interaction[0, 0])
                rows.append(barenblatt_density(x, profile["mass"], profile["time"], coefficient))
                continue
            row = gaussian_density(x, entry["mean"], entry["variance"], mass=entry["mass"])
            grid_mass = float(row.sum() * (x[1] - x[0]))
            if not abs(grid_mass - entry["mass"]) <= GAUSSIAN_MASS_TOLERANCE * entry["mass"]:
                msg = (f"initial[{i}]: the Gaussian with mean {entry['mean']!r}, variance "
                       f"{entry['variance']!r} and mass {entry['mass']!r} has mass "
                       f"{grid_mass:.4g} at the cell centres of the domain "
                       f"{list(self.domain)} with {self.cells} cells, because it is narrower "
                       "than a few cells or extends beyond the domain; refine the cells or "
                       "widen the domain")
                raise ConfigError(msg)
            rows.append(row)
        return np.array(rows)

    def resolved(self):
        """Return the configuration with every default filled in, as plain data."""
        potential = self.parameters.potential
        return {
            "model": self.model,
            "equation": self.equation,
            "dimension": 1,
            "domain": list(self.domain),
            "cells": self.cells,
            "boundary": self.boundary,
            "diffusion": self.parameters.diffusion.tolist(),
            "interaction": self.parameters.interaction.tolist(),
            "radius": self.parameters.radius if self.radius_given else None,
            "kernel_normalization": self.parameters.normalization,
            "nonlinearity": self.parameters.nonlinearity.to_config(),
            "potential": "none" if potential == 0.0 else {"quadratic": potential},
            "initial": [dict(entry) for entry in self.initial],
            "final_time": self.final_time,
            "output_times": self.output_times.tolist(),
            "method": self.method,
            "time_step": self.time_step,
            "tolerance": self.effective_tolerance(),
            "whole_line": self.whole_line,
        }

    def effective_tolerance(self):
        """Return the tolerance of adaptive steps, or ``None`` for fixed steps."""
        if self.method == "euler" or (self.time_step is not None and self.tolerance is None):
            return None
        return DEFAULT_TOLERANCE if self.tolerance is None else self.tolerance


def parse_solve(data):
    """Validate a PDE solve mapping and return a :class:`SolveConfig`."""
    values = _fill_defaults(data, SOLVE_KEYS)

    model = _choice(values, "model", SOLVE_MODELS)
    equation = _choice(values, "equation", EQUATIONS)
    boundary = _choice(values, "boundary", BOUNDARIES)
    method = _choice(values, "method", METHODS)
    dimension = values["dimension"]
    if dimension != 1 or isinstance(dimension, bool):
        msg = (f"dimension: got {_describe(dimension)}; the PDE solvers support only the "
               "integer 1")
        raise ConfigError(msg)
    domain = _domain(values["domain"])
    cells = _integer(values, "cells", minimum=3)
    if cells > MAX_CELLS:
        msg = f"cells: got {cells}; at most {MAX_CELLS} cells are allowed"
        raise ConfigError(msg)

    model_values = _model_values(values)
    n_species = len(model_values["diffusion"])
    radius_given = values["radius"] is not None
    if radius_given:
        radius = _number(values, "radius", positive=True)
    elif equation == "nonlocal" or model_values["nonlinearity"].threshold is not None:
        msg = "radius: missing; a nonlocal equation or a cut-off needs the radius eta > 0"
        raise ConfigError(msg)
    else:
        radius = 1.0

    initial = _pde_initial(values["initial"], n_species)
    final_time = _number(values, "final_time", positive=True)
    output_times = _output_times(values, final_time)
    time_step = None if values["time_step"] is None else _number(values, "time_step",
                                                                  positive=True)
    tolerance = None if values["tolerance"] is None else _number(values, "tolerance",
                                                                  positive=True)
    if tolerance is not None and not MIN_TOLERANCE <= tolerance < 1.0:
        msg = (f"tolerance: got {tolerance!r}; expected a relative error per step in "
               f"[{MIN_TOLERANCE:g}, 1)")
        raise ConfigError(msg)
    if method == "euler" and time_step is None:
        msg = "time_step: missing; method 'euler' takes fixed steps and needs time_step > 0"
        raise ConfigError(msg)
    whole_line = values["whole_line"]
    if not isinstance(whole_line, bool):
        msg = f"whole_line: got {_describe(whole_line)}; expected true or false"
        raise ConfigError(msg)
    has_barenblatt = any("barenblatt" in entry for entry in initial)
    if has_barenblatt and not model_values["interaction"][0][0] > 0:
        msg = (f"interaction: got {model_values['interaction']!r}; the Barenblatt profile of "
               "d_t u = a d_xx(u^2) needs a = interaction[0][0] > 0")
        raise ConfigError(msg)

    return SolveConfig(
        model=model, equation=equation, boundary=boundary, method=method,
        parameters=ModelParameters(radius=radius, **model_values), domain=domain,
        cells=cells, initial=initial, final_time=final_time,
        output_times=np.array(output_times), time_step=time_step, tolerance=tolerance,
        radius_given=radius_given, whole_line=whole_line,
    )


def _domain(value):
    if not isinstance(value, list) or len(value) != 2:
        msg = f"domain: got {_describe(value)}; expected [a, b] with a < b"
        raise ConfigError(msg)
    lower = _check_number("domain[0]", value[0])
    upper = _check_number("domain[1]", value[1])
    if not lower < upper:
        msg = f"domain: got {value!r}; expected [a, b] with a < b"
        raise ConfigError(msg)
    return (lower, upper)


def _pde_initial(value, n_species):
    if not isinstance(value, list) or len(value) != n_species:
        msg = (
            f"initial: got {value!r}; expected a list of {n_species} entries, one per species: "
            "{mean: m, variance: v} with optional mass, or {barenblatt: {mass: M, time: t0}}"
        )
        raise ConfigError(msg)
    entries = []
    for i, entry in enumerate(value):
        key = f"initial[{i}]"
        if isinstance(entry, dict) and set(entry) == {"barenblatt"}:
            if n_species != 1:
                msg = f"{key}.barenblatt: the Barenblatt profile needs exactly one species"
                raise ConfigError(msg)
            profile = entry["barenblatt"]
            if not isinstance(profile, dict) or set(profile) != {"mass", "time"}:
                msg = f"{key}.barenblatt: got {profile!r}; expected {{mass: M, time: t0}}"
                raise ConfigError(msg)
            entries.append({"barenblatt": {
                "mass": _check_number(f"{key}.barenblatt.mass", profile["mass"], positive=True),
                "time": _check_number(f"{key}.barenblatt.time", profile["time"], positive=True),
            }})
            continue
        if not isinstance(entry, dict) or not {"mean", "variance"} <= set(entry) or (
            set(entry) - {"mean", "variance", "mass"}
        ):
            msg = (f"{key}: got {entry!r}; expected {{mean: m, variance: v}} with optional "
                   "mass, or {barenblatt: {mass: M, time: t0}}")
            raise ConfigError(msg)
        entries.append({
            "mean": _check_number(f"{key}.mean", entry["mean"]),
            "variance": _check_number(f"{key}.variance", entry["variance"], positive=True),
            "mass": _check_number(f"{key}.mass", entry.get("mass", 1.0), positive=True),
        })
    return entries
