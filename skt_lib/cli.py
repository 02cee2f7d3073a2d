"""Command line: ``python -m skt_lib simulate|solve CONFIG --out RESULT.npz``.

``simulate`` runs a particle experiment, ``solve`` a cross-diffusion PDE.
Exit status: 0 on success; 2 for invalid input (configuration, arguments,
output path), with one message naming the key; 3 when the run failed
numerically: a non-finite state, a local PDE that lost parabolicity after
the start, or adaptive steps that became too small. The outputs recorded
before such a failure are written to ``RESULT.partial.npz``. Invalid input
never writes an output file. Warnings are printed as one line each.
"""

import argparse
import logging
import sys
import warnings
from pathlib import Path

from skt_lib import __version__
from skt_lib.config import ConfigError, load_config_file, parse_simulation
from skt_lib.experiments import run_simulation, save_result
from skt_lib.particles import NonFiniteStateError

EXIT_INVALID_INPUT = 2
EXIT_NUMERICAL_FAILURE = 3

logger = logging.getLogger("skt_lib")


def build_parser():
    """Return the argument parser of the ``skt_lib`` command."""
    parser = argparse.ArgumentParser(
        prog="python -m skt_lib",
        description="Particle simulations of the SKT cross-diffusion system.",
    )
    parser.add_argument("--version", action="version", version=f"skt_lib {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    simulate = commands.add_parser(
        "simulate",
        help="run one particle experiment from a YAML or JSON configuration",
        description=(
            "Run one particle experiment. The .npz output holds 'times' (n_times,), "
            "'positions' (n_times, runs, n_species, particles) and the resolved "
            "configuration as JSON text under 'config'."
        ),
    )
    simulate.add_argument("config", type=Path,
                          help="configuration file: JSON if it ends in .json, YAML otherwise")
    simulate.add_argument("--out", required=True, help="result file, ending in .npz")
    simulate.add_argument("--cache-dir", type=Path, default=None,
                          help="reuse or store results in this folder, keyed by configuration")
    simulate.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                          help="progress bar on stderr (auto: only on a terminal)")
    simulate.add_argument("--quiet", action="store_true", help="print nothing on success")

    solve = commands.add_parser(
        "solve",
        help="solve a cross-diffusion PDE from a YAML or JSON configuration",
        description=(
            "Solve the local or nonlocal SKT system, or the mean-field system of the drift "
            "particles. The .npz output holds 'x' (cell centres), 'times', 'density' "
            "(n_times, n_species, cells) and the resolved configuration as JSON text "
            "under 'config'."
        ),
    )
    solve.add_argument("config", type=Path,
                       help="configuration file: JSON if it ends in .json, YAML otherwise")
    solve.add_argument("--out", required=True, help="result file, ending in .npz")
    solve.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                       help="progress bar on stderr (auto: only on a terminal)")
    solve.add_argument("--quiet", action="store_true", help="print nothing on success")
    return parser


def main(argv=None):
    """Run the command line and return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning
        if args.command == "solve":
            return _solve(args)
        return _simulate(args)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Print a warning as one line, without the source location."""
    if file is None:
        file = sys.stderr
    print(f"warning: {message}", file=file)


def _output_path_problem(text):
    """Return a message when ``--out`` cannot take the result, else ``None``."""
    out = Path(text)
    if not text.endswith(".npz"):
        return f"--out: got {text!r}; the result file name must end in .npz"
    if out.parent.exists() and not out.parent.is_dir():
        return f"--out: {str(out.parent)!r} is a file, not a folder"
    if not out.parent.is_dir():
        return f"--out: folder {str(out.parent)!r} does not exist; create it first"
    if out.is_dir():
        return f"--out: {text!r} is a folder; give a file name ending in .npz"
    return None


def _simulate(args):
    out = Path(args.out)
    problem = _output_path_problem(args.out)
    if problem:
        return _invalid(problem)
    if args.cache_dir is not None and args.cache_dir.exists() and not args.cache_dir.is_dir():
        return _invalid(f"--cache-dir: {str(args.cache_dir)!r} exists and is not a folder")
    try:
        config = parse_simulation(load_config_file(args.config))
    except ConfigError as error:
        return _invalid(f"invalid configuration {args.config}: {error}")
    progress = {"auto": None, "on": True, "off": False}[args.progress]
    try:
        result = run_simulation(config, cache_dir=args.cache_dir, progress=progress)
    except NonFiniteStateError as error:
        partial_path = out.with_name(out.stem + ".partial.npz")
        error.partial.record["config"] = config.resolved()
        save_result(error.partial, partial_path)
        print(f"error: {error}", file=sys.stderr)
        print(f"error: the outputs recorded before the failure are in {partial_path}",
              file=sys.stderr)
        return EXIT_NUMERICAL_FAILURE
    save_result(result, out)
    if not args.quiet:
        seconds = result.record.get("wall_time_seconds", 0.0)
        source = "cache" if result.record.get("cached") else f"{seconds:.1f} s"
        print(f"wrote {out}: positions {result.positions.shape} ({source})")
    return 0


def _solve(args):
    from skt_lib.config import parse_solve
    from skt_lib.pde import (
        NonFiniteDensityError,
        ParabolicityError,
        StepSizeError,
        cell_centers,
        solve_cross_diffusion,
    )

    out = Path(args.out)
    problem = _output_path_problem(args.out)
    if problem:
        return _invalid(problem)
    try:
        config = parse_solve(load_config_file(args.config))
    except ConfigError as error:
        return _invalid(f"invalid configuration {args.config}: {error}")
    progress = {"auto": None, "on": True, "off": False}[args.progress]
    x = cell_centers(config.domain, config.cells)
    try:
        initial_density = config.initial_density(x)
    except ConfigError as error:
        return _invalid(f"invalid configuration {args.config}: {error}")
    try:
        solution = solve_cross_diffusion(
            initial_density, config.parameters, system=config.model,
            equation=config.equation, domain=config.domain, boundary=config.boundary,
            final_time=config.final_time, output_times=config.output_times,
            method=config.method, time_step=config.time_step, tolerance=config.tolerance,
            whole_line=config.whole_line, progress=progress,
        )
    except (ParabolicityError, NonFiniteDensityError, StepSizeError) as error:
        print(f"error: {error}", file=sys.stderr)
        if error.partial is not None and error.partial.times.size > 0:
            partial_path = out.with_name(out.stem + ".partial.npz")
            _save_solution(error.partial, partial_path, config.resolved())
            print(f"error: the outputs recorded before the failure are in {partial_path}",
                  file=sys.stderr)
        return EXIT_NUMERICAL_FAILURE
    except ValueError as error:
        # Inputs that only the solver can check, such as a domain that does
        # not contain the initial mass.
        return _invalid(f"invalid configuration {args.config}: {error}")
    _save_solution(solution, out, config.resolved())
    if not args.quiet:
        seconds = solution.record.get("wall_time_seconds", 0.0)
        print(f"wrote {out}: density {solution.density.shape} ({seconds:.2f} s, "
              f"{solution.record.get('steps')} steps)")
    return 0


def _save_solution(solution, path, resolved):
    import json

    from skt_lib.experiments import write_npz_atomically

    record = json.dumps(solution.record, default=str)
    write_npz_atomically(path, x=solution.x, times=solution.times, density=solution.density,
                         config=json.dumps(resolved), record=record)


def _invalid(message):
    print(f"error: {message}", file=sys.stderr)
    return EXIT_INVALID_INPUT
