"""Command line: ``python -m skt_lib simulate CONFIG --out RESULT.npz``.

Exit status: 0 on success; 2 for invalid input (configuration, arguments,
output path), with one message naming the key; 3 when the run produced a
non-finite state, in which case the outputs recorded before the failure are
written to ``RESULT.partial.npz``. Invalid input never writes an output file.
"""

import argparse
import logging
import sys
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
    return parser


def main(argv=None):
    """Run the command line and return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    return _simulate(args)


def _simulate(args):
    out = Path(args.out)
    if not args.out.endswith(".npz"):
        return _invalid(f"--out: got {args.out!r}; the result file name must end in .npz")
    if not out.parent.is_dir():
        return _invalid(f"--out: folder {str(out.parent)!r} does not exist; create it first")
    if out.is_dir():
        return _invalid(f"--out: {args.out!r} is a folder; give a file name ending in .npz")
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


def _invalid(message):
    print(f"error: {message}", file=sys.stderr)
    return EXIT_INVALID_INPUT
