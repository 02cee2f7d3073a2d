"""Runs, density estimates and tables behind the book's Section 7 figures.

"The paper" in this module is Chen, Daus, Holzinger and Jüngel (2020), whose
Section 7 runs N = 5000 particles per species and 500 Monte Carlo runs.
"""

import numpy as np

from skt_lib.density import histogram_density, overlap_matrix
from skt_lib.experiments import (
    PAPER_EXPERIMENTS,
    PAPER_NUMERICS,
    experiment_config,
    run_simulation,
)

MODELS = ("skt", "drift")


def run_paper_experiment(name, *, particles, runs, time_step, radius, seed,
                         normalization="unit-mass", models=MODELS, cache_dir=None,
                         progress=None):
    """Simulate one Section 7 experiment for each particle model.

    Returns
    -------
    dict
        ``{model: ParticleSimulation}``.
    """
    results = {}
    for model in models:
        config = experiment_config(
            name, model=model, particles=particles, runs=runs, time_step=time_step,
            radius=radius, seed=seed, normalization=normalization,
        )
        results[model] = run_simulation(config, cache_dir=cache_dir, progress=progress)
    return results


def density_estimates(results, *, lower, upper, bins):
    """Return ``{model: {time: DensityEstimate}}`` for every output time."""
    estimates = {}
    for model, result in results.items():
        estimates[model] = {
            float(t): histogram_density(result.positions[index], lower=lower, upper=upper,
                                        bins=bins)
            for index, t in enumerate(result.times)
        }
    return estimates


def segregation_rows(estimates):
    """Return one row per model and time: pairwise overlaps and mass outside the window.

    The overlap of species ``i`` and ``j`` is ``integral of min(u_i, u_j)``
    (1 for identical densities, 0 for disjoint supports).
    """
    rows = []
    for model, by_time in estimates.items():
        for time_value, estimate in by_time.items():
            overlap = overlap_matrix(estimate)
            n_species = overlap.shape[0]
            row = {"model": model, "t": time_value}
            for i in range(n_species):
                for j in range(i + 1, n_species):
                    row[f"overlap {i + 1}-{j + 1}"] = float(overlap[i, j])
            row["max mass outside"] = float(np.max(estimate.outside_fraction))
            rows.append(row)
    return rows


def markdown_table(rows, *, digits=3):
    """Format a list of equal-keyed dicts as a Markdown table."""
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        cells = []
        for key in keys:
            value = row[key]
            cells.append(f"{value:.{digits}g}" if isinstance(value, float) else str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def experiment_description(name):
    """Return the coefficients of a Section 7 experiment as table rows."""
    setting = PAPER_EXPERIMENTS[name]
    rows = []
    for i, sigma in enumerate(setting["diffusion"]):
        rows.append({
            "species": i + 1,
            "sigma": sigma,
            "a (row)": str([float(a) for a in setting["interaction"][i]]),
            "initial mean": setting["initial"][i]["mean"],
            "initial variance": setting["initial"][i]["variance"],
        })
    return rows


def describe_clusters(positions):
    """Return text such as ``"2 clusters (at x = -7.4, 9.1)"`` for cluster positions."""
    listed = ", ".join(f"{x:.1f}" for x in positions)
    plural = "s" if len(positions) != 1 else ""
    return f"{len(positions)} cluster{plural} (at x = {listed})"


def run_size_note(particles, runs):
    """Return a sentence comparing the run size with the paper's N = 5000 and 500 runs."""
    paper_particles, paper_runs = PAPER_NUMERICS["particles"], PAPER_NUMERICS["runs"]
    size = f"This run uses N = {particles} particles per species and {runs} runs"
    if particles >= paper_particles and runs >= paper_runs:
        return f"{size}, at least the paper's N = {paper_particles} and {paper_runs} runs."
    return (
        f"{size}, fewer than the paper's N = {paper_particles} and {paper_runs} runs, so its "
        "histograms are noisier and cluster positions can shift by a bin or two between seeds."
    )


def agreement_sentence(checks):
    """Return a sentence saying which of the paper's observations hold in this run.

    Parameters
    ----------
    checks : dict
        Maps each observation, phrased as a clause ("the drift particles
        segregate more strongly"), to whether it holds.
    """
    failed = [claim for claim, holds in checks.items() if not holds]
    if not failed:
        return "In this run every observation of the paper listed above holds."
    return "In this run these observations of the paper do not hold: " + "; ".join(failed) + "."
