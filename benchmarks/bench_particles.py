"""Benchmark the particle simulators on the Figure 1 setting against a NumPy reference.

The setting is Figure 1 of Chen, Daus, Holzinger, Jüngel (2020),
arXiv:2010.12389, as listed in book/model.md: two species, sigma = (1, 2),
a = ((0, 355), (25, 0)), eta = 2 with the unit-mass kernel, no potential,
linear f, initial Gaussians with means -1 and 1 and variance 2, h = 0.01.
The same page gives the size of the paper's runs: N = 5000 particles per
species, 500 runs and 200 steps (t = 2).

The script first checks one step of ``skt_lib.simulate_particles`` against the
all-pairs NumPy step in ``reference_numpy.py`` on the same data and noise, and
exits with status 1 if they differ by more than ``TOLERANCE``. It then times
both and extrapolates the wall time of the paper's runs.

Run from the repository root::

    python benchmarks/bench_particles.py --particles 5000 --runs 4 --steps 20
"""

import argparse
import datetime
import os
import platform
import resource
import sys
import textwrap
import time
from pathlib import Path

import numba
import numpy as np

import skt_lib

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_numpy import reference_step  # noqa: E402

DIFFUSION = [1.0, 2.0]
INTERACTION = [[0.0, 355.0], [25.0, 0.0]]
RADIUS = 2.0
NORMALIZATION = "unit-mass"
POTENTIAL = 0.0
MEANS = [-1.0, 1.0]
VARIANCES = [2.0, 2.0]
TIME_STEP = 0.01
FULL_RUN_TIME = 2.0
MODELS = ("skt", "drift")

PROFILE_PARTICLES = 5000
PROFILE_RUNS = 500
PROFILE_STEPS = 200

#: Largest accepted difference (length units) between library and reference
#: positions after one step. Both evaluate the same sums in a different order,
#: and this script measured differences of 8.9e-16 at N = 5000.
TOLERANCE = 1e-9
#: Bytes per N^2 used by the NumPy reference at its peak: about five N x N
#: float64 arrays (1.1 GB peak resident memory measured at N = 5000).
REFERENCE_BYTES_PER_PAIR = 5 * 8
#: Particles used in the warm-up run that compiles the kernels.
WARM_UP_PARTICLES = 64


def positive_int(text):
    """Parse a command-line integer that must be at least 1."""
    try:
        value = int(text)
    except ValueError:
        msg = f"invalid integer {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    if value < 1:
        msg = f"must be at least 1, got {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def parse_arguments(argv):
    """Parse and validate the command line."""
    parser = argparse.ArgumentParser(
        description=(
            "Check one Euler-Maruyama step of skt_lib against an all-pairs NumPy "
            "reference, then time both on the Figure 1 setting and extrapolate the "
            f"wall time of {PROFILE_RUNS} runs of {PROFILE_STEPS} steps at "
            f"N = {PROFILE_PARTICLES}."
        )
    )
    parser.add_argument("--particles", type=positive_int, default=PROFILE_PARTICLES,
                        help="particles per species N (default: %(default)s)")
    parser.add_argument("--runs", type=positive_int, default=4,
                        help="independent runs in the correctness check and the short "
                             "library timing (default: %(default)s)")
    parser.add_argument("--steps", type=positive_int, default=20,
                        help="time steps in the short library timing (default: %(default)s)")
    parser.add_argument("--reference-steps", type=positive_int, default=2,
                        help="time steps of one run in the NumPy reference timing "
                             "(default: %(default)s)")
    parser.add_argument("--full-runs", type=positive_int, default=None,
                        help=f"runs in the library timing of a full run to t = {FULL_RUN_TIME:g} "
                             "(default: the number of numba threads)")
    parser.add_argument("--repeat", type=positive_int, default=3,
                        help="repetitions of each timing; the fastest is reported, because "
                             "other processes only ever slow a repetition down "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=2020,
                        help="seed of the initial positions and the noise (default: %(default)s)")
    arguments = parser.parse_args(argv)
    if arguments.full_runs is None:
        arguments.full_runs = numba.get_num_threads()

    needed = REFERENCE_BYTES_PER_PAIR * arguments.particles**2
    available = available_memory_bytes()
    if available is not None and needed > available:
        parser.error(
            f"the NumPy reference needs about {needed / 1e9:.1f} GB at --particles "
            f"{arguments.particles}, more than the {available / 1e9:.1f} GB of available "
            "memory; lower --particles"
        )
    return arguments


def available_memory_bytes():
    """Return the available physical memory in bytes, or None where the OS does not report it."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def cpu_name():
    """Return the CPU model name and the LLVM target that numba compiles for."""
    model = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    target = numba.config.CPU_NAME
    if target is None:
        import llvmlite.binding

        target = llvmlite.binding.get_host_cpu_name()
    return f"{model or 'unknown'} (LLVM target {target}), {os.cpu_count()} logical CPUs"


def print_machine_facts():
    """Print the CPU, thread count and library versions.

    Call it after a parallel kernel has run, because ``numba.threading_layer()``
    raises ValueError before that.
    """
    print("Machine")
    print(f"  CPU:    {cpu_name()}")
    print(f"  numba:  {numba.__version__}, {numba.get_num_threads()} threads, "
          f"threading layer {numba.threading_layer()}")
    print(f"  numpy:  {np.__version__}")
    print(f"  Python: {platform.python_version()} on {platform.system()} {platform.release()}")
    print(f"  date:   {datetime.date.today().isoformat()}")


def busy_cpu_seconds():
    """Return the non-idle CPU time (s) of all processes since boot, or None without /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    """Return the user and system CPU time (s) of this process, all threads included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def print_other_load(busy_start, own_start, wall_start):
    """Print the CPU time used by other processes or the hypervisor since the benchmark started.

    Other processes compete for the cores and slow the timings, so a large
    share means the numbers overstate the cost.
    """
    busy_end = busy_cpu_seconds()
    if busy_start is None or busy_end is None:
        print("CPU time of other processes: unknown (needs /proc/stat)")
        return
    wall = time.perf_counter() - wall_start
    other = max(0.0, (busy_end - busy_start) - (own_cpu_seconds() - own_start))
    capacity = wall * os.cpu_count()
    print(f"CPU time used by other processes or the hypervisor during the benchmark: {other:.1f} s of "
          f"{capacity:.0f} core-seconds ({100 * other / capacity:.1f} %)")


def figure1_parameters():
    return skt_lib.ModelParameters(
        diffusion=DIFFUSION,
        interaction=INTERACTION,
        radius=RADIUS,
        normalization=NORMALIZATION,
        potential=POTENTIAL,
    )


def initial_positions(runs, particles, seed):
    return skt_lib.sample_gaussian_initial(MEANS, VARIANCES, runs=runs, particles=particles,
                                           seed=seed)


def reference_one_step(positions, noise, model):
    return reference_step(
        positions,
        noise,
        model=model,
        diffusion=DIFFUSION,
        interaction=INTERACTION,
        radius=RADIUS,
        normalization=NORMALIZATION,
        potential=POTENTIAL,
        time_step=TIME_STEP,
    )


def check_correctness(parameters, runs, particles, seed):
    """Compare one library step with the reference step per model, and print and return the max abs difference."""
    start = initial_positions(runs, particles, seed)
    noise = np.random.default_rng(seed).standard_normal((1, *start.shape))
    differences = {}
    for model in MODELS:
        simulation = skt_lib.simulate_particles(start, parameters, model=model,
                                                time_step=TIME_STEP, final_time=TIME_STEP,
                                                noise=noise, progress=False)
        library = simulation.positions[-1]
        reference = np.stack([reference_one_step(start[run], noise[0, run], model)
                              for run in range(runs)])
        differences[model] = float(np.max(np.abs(library - reference)))
        print(f"  {model:<5}  max |library - reference| = {differences[model]:.2e}  "
              f"(max |x| = {np.max(np.abs(reference)):.2f})")
    return differences


def warm_up(parameters, run_counts, seed):
    """Compile the kernels for every run count used, so that timings exclude compilation."""
    started = time.perf_counter()
    for runs in sorted(set(run_counts)):
        start = initial_positions(runs, WARM_UP_PARTICLES, seed)
        for model in MODELS:
            skt_lib.simulate_particles(start, parameters, model=model, time_step=TIME_STEP,
                                       final_time=TIME_STEP, seed=seed, progress=False)
    return time.perf_counter() - started


def time_library(parameters, model, runs, particles, steps, seed, repeat):
    """Time ``steps`` steps of ``runs`` runs, the fastest of ``repeat`` repetitions.

    Returns (ms per step per run, wall seconds, simulation of the last repetition).
    """
    start = initial_positions(runs, particles, seed)
    walls = []
    for _ in range(repeat):
        started = time.perf_counter()
        simulation = skt_lib.simulate_particles(start, parameters, model=model,
                                                time_step=TIME_STEP,
                                                final_time=steps * TIME_STEP,
                                                seed=seed, progress=False)
        walls.append(time.perf_counter() - started)
    done = simulation.record["steps"]
    if done != steps:
        msg = f"simulate_particles took {done} steps, expected {steps}"
        raise RuntimeError(msg)
    wall = min(walls)
    return 1e3 * wall / (steps * runs), wall, simulation


def time_reference(model, positions, steps, seed, repeat):
    """Time ``steps`` reference steps of one run from ``positions``, the fastest of ``repeat`` repetitions.

    Each repetition restarts from ``positions``. One untimed step comes first,
    because the first of several consecutive steps was up to 4 times slower
    than the next ones (measured at N = 5000, numpy 2.4, 2-core AMD EPYC
    virtual machine). Returns (ms per step, wall seconds).
    """
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((steps + 1, *positions.shape))
    reference_one_step(positions, noise[steps], model)
    walls = []
    for _ in range(repeat):
        current = positions
        started = time.perf_counter()
        for step in range(steps):
            current = reference_one_step(current, noise[step], model)
        walls.append(time.perf_counter() - started)
    wall = min(walls)
    return 1e3 * wall / steps, wall


DURATION_UNITS = [("s", 1.0, 120.0), ("min", 60.0, 2 * 3600.0), ("h", 3600.0, 2 * 86400.0),
                  ("d", 86400.0, float("inf"))]


def duration_unit(seconds):
    """Return ``(name, seconds per unit)`` of the unit that shows ``seconds`` best."""
    for name, size, below in DURATION_UNITS:
        if seconds < below:
            return name, size
    return DURATION_UNITS[-1][:2]


def format_duration(seconds):
    name, size = duration_unit(seconds)
    return f"{seconds / size:.1f} {name}"


def format_range(low, high):
    """Format two durations as ``low-high unit``, in the unit of ``high``."""
    name, size = duration_unit(high)
    return f"{low / size:.1f}-{high / size:.1f} {name}"


def profile_seconds(ms_per_step_per_run):
    return ms_per_step_per_run * 1e-3 * PROFILE_RUNS * PROFILE_STEPS


def spread(simulation):
    """Return the standard deviation of each species at the last output, averaged over runs."""
    return np.std(simulation.positions[-1], axis=2).mean(axis=0)


TABLE_COLUMNS = [
    ("model", "", 7),
    ("library", "first steps", 13),
    ("library", "to t = 2", 11),
    ("reference", "first steps", 13),
    ("reference", "at t = 2", 11),
    ("ratio", "ref/lib", 9),
    ("paper runs", "library", 13),
    ("paper runs", "reference", 17),
]


def print_table_row(cells):
    """Print ``cells`` aligned to TABLE_COLUMNS: the first left-aligned, the rest right-aligned."""
    parts = []
    for index, (cell, (_, _, width)) in enumerate(zip(cells, TABLE_COLUMNS)):
        parts.append(f"{cell:<{width}}" if index == 0 else f"{cell:>{width}}")
    print("".join(parts))


def print_table(results, threads, arguments):
    """Print the per-step costs and, at N = 5000, the estimated wall time of the paper's runs."""
    estimate = arguments.particles == PROFILE_PARTICLES

    print_table_row([top for top, _, _ in TABLE_COLUMNS])
    print_table_row([bottom for _, bottom, _ in TABLE_COLUMNS])
    print("-" * sum(width for _, _, width in TABLE_COLUMNS))

    totals = np.zeros(3)
    for model in MODELS:
        costs = results[model]
        seconds = np.array([
            profile_seconds(costs["library_full"]),
            profile_seconds(costs["reference_end"]),
            profile_seconds(costs["reference_start"]),
        ])
        totals += seconds
        ratio = costs["reference_start"] / costs["library_short"]
        print_table_row([
            model,
            f"{costs['library_short']:.2f}",
            f"{costs['library_full']:.2f}",
            f"{costs['reference_start']:.0f}",
            f"{costs['reference_end']:.0f}",
            f"{ratio:.0f}",
            format_duration(seconds[0]) if estimate else "n/a",
            format_range(seconds[1], seconds[2]) if estimate else "n/a",
        ])
    if estimate:
        print_table_row(["both", "", "", "", "", "", format_duration(totals[0]),
                         format_range(totals[1], totals[2])])

    print()
    notes = (
        f"Columns 2-5 are milliseconds per step per run: library over the first "
        f"{arguments.steps} steps with {arguments.runs} runs and averaged over a full run to "
        f"t = {FULL_RUN_TIME:g} with {arguments.full_runs} runs, reference over "
        f"{arguments.reference_steps} steps from t = 0 and from the library state at "
        f"t = {FULL_RUN_TIME:g}, each the fastest of {arguments.repeat} repetition(s). "
        f"The library spreads the runs (or, with one run, the particles) over {threads} "
        f"numba threads, so its cost is "
        f"wall time / (steps x runs). The reference runs one run on one core. The ratio "
        f"compares both over the first steps from the same initial data. "
        f'"paper runs" estimates the wall time of N = {PROFILE_PARTICLES}, {PROFILE_RUNS} runs '
        f"of {PROFILE_STEPS} steps as ms/step/run x {PROFILE_RUNS * PROFILE_STEPS}. The library "
        f"estimate uses the full-run average. The reference estimate is the range between "
        f"its cost at t = {FULL_RUN_TIME:g} and at t = 0."
    )
    # No-break spaces keep "t = 2" and "N = 5000" on one line when wrapping.
    notes = notes.replace("t = ", "t\u00a0=\u00a0").replace("N = ", "N\u00a0=\u00a0")
    print(textwrap.fill(notes, width=88).replace("\u00a0", " "))
    if not estimate:
        print(f"These estimates need --particles {PROFILE_PARTICLES}; this run used "
              f"{arguments.particles}.")


def main(argv=None):
    arguments = parse_arguments(argv)
    busy_start = busy_cpu_seconds()
    own_start = own_cpu_seconds()
    wall_start = time.perf_counter()
    threads = numba.get_num_threads()
    parameters = figure1_parameters()
    particles = arguments.particles
    full_steps = round(FULL_RUN_TIME / TIME_STEP)

    warm_up_seconds = warm_up(parameters, [arguments.runs, arguments.full_runs, 1],
                              arguments.seed)
    print_machine_facts()
    print()
    print("Setting: Figure 1 of Chen, Daus, Holzinger, Jüngel (2020): sigma = (1, 2), "
          "a = ((0, 355), (25, 0)),")
    print(f"  eta = {RADIUS:g} (unit-mass kernel), no potential, linear f, initial N(-1, 2) "
          f"and N(1, 2), h = {TIME_STEP:g}, N = {particles}")
    print(f"Warm-up (compilation or cache load, excluded from timings): {warm_up_seconds:.1f} s")
    print()

    print(f"Correctness: one step, library vs NumPy reference, {arguments.runs} runs, "
          f"tolerance {TOLERANCE:g}")
    differences = check_correctness(parameters, arguments.runs, particles, arguments.seed)
    failed = [model for model, difference in differences.items() if difference > TOLERANCE]
    if failed:
        worst = max(differences[model] for model in failed)
        print(f"FAILED: library and reference positions differ by up to {worst:.2e}, more "
              f"than the tolerance {TOLERANCE:g}, for {', '.join(failed)}. The compiled step "
              "or the reference does not follow the model equations, so nothing was timed.",
              file=sys.stderr)
        return 1
    print()

    results = {model: {} for model in MODELS}
    end_states = {}
    print(f"Library timing (wall time of simulate_particles on {threads} numba threads, "
          f"fastest of {arguments.repeat})")
    for model in MODELS:
        cost, wall, _ = time_library(parameters, model, arguments.runs, particles,
                                     arguments.steps, arguments.seed, arguments.repeat)
        results[model]["library_short"] = cost
        print(f"  {model:<5}  first {arguments.steps} steps, {arguments.runs} runs: "
              f"{wall:.2f} s = {cost:.2f} ms/step/run")
        cost, wall, simulation = time_library(parameters, model, arguments.full_runs,
                                              particles, full_steps, arguments.seed,
                                              arguments.repeat)
        results[model]["library_full"] = cost
        end_states[model] = simulation.positions[-1, 0]
        print(f"  {model:<5}  full run to t = {FULL_RUN_TIME:g} ({full_steps} steps), "
              f"{arguments.full_runs} runs: {wall:.2f} s = {cost:.2f} ms/step/run")
        print(f"         species std: {np.sqrt(VARIANCES).round(2).tolist()} at t = 0, "
              f"{spread(simulation).round(2).tolist()} at t = {FULL_RUN_TIME:g}")
    print("  As the particles spread, fewer pairs lie within eta and the pair sums cost less,")
    print("  so the full-run average is the number to extrapolate from.")
    # With one run the library spreads the particles over the threads instead.
    if 1 < arguments.full_runs < threads:
        print(f"  NOTE: --full-runs {arguments.full_runs} is below the {threads} numba "
              "threads, so the full-run average leaves threads idle and overstates the cost.")
    print()

    print(f"NumPy reference timing (one run, one core, {arguments.reference_steps} steps "
          f"after one untimed step, fastest of {arguments.repeat})")
    for model in MODELS:
        start = initial_positions(1, particles, arguments.seed)[0]
        cost, wall = time_reference(model, start, arguments.reference_steps, arguments.seed,
                                    arguments.repeat)
        results[model]["reference_start"] = cost
        print(f"  {model:<5}  from t = 0: {wall:.2f} s = {cost:.0f} ms/step")
        cost, wall = time_reference(model, end_states[model], arguments.reference_steps,
                                    arguments.seed, arguments.repeat)
        results[model]["reference_end"] = cost
        print(f"  {model:<5}  from the library state at t = {FULL_RUN_TIME:g}: {wall:.2f} s = "
              f"{cost:.0f} ms/step")
    print()

    print_table(results, threads, arguments)
    print_other_load(busy_start, own_start, wall_start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
