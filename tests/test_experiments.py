"""Section 7 settings, cached runs, result files and figures."""

import numpy as np
import pytest

from skt_lib.config import parse_simulation
from skt_lib.experiments import (
    PAPER_EXPERIMENTS,
    experiment_config,
    load_result,
    run_simulation,
    save_result,
)
from skt_lib.paper_figures import density_estimates, markdown_table, segregation_rows
from skt_lib.plotting import plot_density_grid, save_figure

SMALL = {"particles": 30, "runs": 2, "time_step": 0.05, "radius": 2.0, "seed": 5}


@pytest.mark.parametrize("name", sorted(PAPER_EXPERIMENTS))
@pytest.mark.parametrize("model", ["skt", "drift"])
def test_paper_settings_validate(name, model):
    config = parse_simulation(experiment_config(name, model=model, **SMALL))
    n_species = len(PAPER_EXPERIMENTS[name]["diffusion"])
    assert config.parameters.n_species == n_species
    assert config.final_time == max(PAPER_EXPERIMENTS[name]["output_times"])


def test_unknown_experiment_rejected():
    with pytest.raises(ValueError, match="name"):
        experiment_config("figure4", model="skt", **SMALL)


def test_cache_returns_identical_result(tmp_path):
    config = experiment_config("symmetric", model="skt", **SMALL)
    first = run_simulation(config, cache_dir=tmp_path)
    second = run_simulation(config, cache_dir=tmp_path)
    assert first.record["cached"] is False
    assert second.record["cached"] is True
    assert np.array_equal(first.positions, second.positions)
    assert np.array_equal(first.times, [0.01, 0.15, 2.0])


def test_cache_key_changes_with_parameters(tmp_path):
    run_simulation(experiment_config("symmetric", model="skt", **SMALL), cache_dir=tmp_path)
    changed = dict(SMALL, seed=6)
    result = run_simulation(experiment_config("symmetric", model="skt", **changed),
                            cache_dir=tmp_path)
    assert result.record["cached"] is False
    assert len(list(tmp_path.glob("*.npz"))) == 2


def test_save_and_load_round_trip(tmp_path):
    result = run_simulation(experiment_config("nonsymmetric", model="drift", **SMALL))
    path = tmp_path / "result.npz"
    save_result(result, path)
    loaded = load_result(path)
    assert np.array_equal(loaded.positions, result.positions)
    assert loaded.record["config"] == result.record["config"]
    assert loaded.model == "drift"
    assert not list(tmp_path.glob("*.tmp"))


def test_figure_and_table_from_results(tmp_path):
    results = {model: run_simulation(experiment_config("symmetric", model=model, **SMALL))
               for model in ("skt", "drift")}
    estimates = density_estimates(results, lower=-20.0, upper=20.0, bins=40)
    rows = segregation_rows(estimates)
    assert len(rows) == 6
    assert all(0.0 <= row["overlap 1-2"] <= 1.0 for row in rows)
    table = markdown_table(rows)
    assert table.count("\n") == 7
    figure = plot_density_grid(estimates, times=[0.01, 0.15, 2.0], models=["skt", "drift"])
    paths = save_figure(figure, tmp_path, "grid")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)
