"""Figures of particle densities, written as PNG and PDF files.

matplotlib is used through its object interface. Without a display it falls
back to the Agg backend by itself, and inside Jupyter it keeps the inline
backend, so figures show in notebooks and are written as files everywhere.
"""

from pathlib import Path

import matplotlib.pyplot as plt

SPECIES_STYLES = (
    {"color": "tab:blue", "linestyle": "-"},
    {"color": "tab:red", "linestyle": "--"},
    {"color": "tab:green", "linestyle": "-."},
    {"color": "tab:purple", "linestyle": ":"},
)
MODEL_TITLES = {
    "skt": "SKT particles (interaction in the diffusion)",
    "drift": "drift particles (interaction in the drift)",
}


def plot_density_grid(estimates, *, times, models, suptitle=None):
    """Plot species densities: one row per output time, one column per model.

    Parameters
    ----------
    estimates : dict
        ``estimates[model][time]`` is a :class:`skt_lib.density.DensityEstimate`.
    times : sequence of float
        Output times, one row each.
    models : sequence of str
        Particle models, one column each.
    suptitle : str, optional
        Title of the whole figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, axes = plt.subplots(
        len(times), len(models), figsize=(5.2 * len(models), 3.0 * len(times) + 0.6),
        squeeze=False, sharex=True,
    )
    for row, time_value in enumerate(times):
        for column, model in enumerate(models):
            axis = axes[row, column]
            estimate = estimates[model][time_value]
            for species, density in enumerate(estimate.density):
                style = SPECIES_STYLES[species % len(SPECIES_STYLES)]
                axis.plot(estimate.centers, density, label=f"species {species + 1}", **style)
            axis.set_title(f"{MODEL_TITLES.get(model, model)}, t = {time_value:g}", fontsize=9)
            axis.set_ylabel("density")
            axis.grid(alpha=0.3)
        axes[row, 0].legend(fontsize=8)
    for axis in axes[-1]:
        axis.set_xlabel("x")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def save_figure(fig, folder, name):
    """Write ``fig`` as ``folder/name.png`` and ``folder/name.pdf``; return both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in ("png", "pdf"):
        path = folder / f"{name}.{suffix}"
        fig.savefig(path, dpi=150, bbox_inches="tight")
        paths.append(path)
    return paths
