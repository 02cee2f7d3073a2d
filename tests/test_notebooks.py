"""The notebooks: one parameters cell each, and papermill parameters reach the run."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import jupytext
import numpy as np
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.md"))
KERNEL_NAME = "skt-lib"
SENTINEL_SEED = 424242
TINY = {"particles": 16, "runs": 2, "time_step": 0.05}


def parameters_cells(path):
    notebook = jupytext.read(path)
    return [cell for cell in notebook.cells
            if "parameters" in cell.get("metadata", {}).get("tags", [])]


def test_notebooks_found():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_exactly_one_parameters_cell(path):
    assert len(parameters_cells(path)) == 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_listed_in_toc(path):
    toc = (ROOT / "_toc.yml").read_text()
    assert f"output/notebooks/{path.stem}" in toc


def test_profiles_set_declared_parameters():
    declared = set()
    for path in NOTEBOOKS:
        cell = parameters_cells(path)[0]
        declared |= {line.split("=")[0].strip() for line in cell.source.splitlines()
                     if "=" in line and not line.startswith("#")}
    for profile in ("quick", "paper"):
        values = yaml.safe_load((ROOT / "profiles" / f"{profile}.yaml").read_text())
        assert set(values["defaults"]) <= declared, profile


def parameter_defaults(path):
    """Return the values assigned in the parameters cell of a notebook."""
    tree = ast.parse(parameters_cells(path)[0].source)
    return {node.targets[0].id: ast.literal_eval(node.value)
            for node in tree.body if isinstance(node, ast.Assign)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_defaults_equal_quick_profile(path):
    # Each chapter states that its parameters cell contains the quick
    # defaults, so every value that the quick profile passes to a notebook
    # must equal the value in that cell.
    profile = yaml.safe_load((ROOT / "profiles" / "quick.yaml").read_text())
    passed = {**profile["defaults"], **(profile.get("notebooks") or {}).get(path.stem, {})}
    defaults = parameter_defaults(path)
    for name, value in passed.items():
        if name in defaults:
            assert defaults[name] == value, f"{path.stem}: {name}"


def run_papermill(path, tmp_path, *extra):
    source = tmp_path / f"{path.stem}.ipynb"
    executed = tmp_path / f"{path.stem}.out.ipynb"
    jupytext.write(jupytext.read(path), source)
    command = [sys.executable, "-m", "papermill", str(source), str(executed),
               "-k", KERNEL_NAME, "--cwd", str(ROOT / "notebooks"), "--no-progress-bar",
               "-p", "output_dir", str(tmp_path / "output"), *extra]
    completed = subprocess.run(command, capture_output=True, text=True)
    return completed, executed


def declared_names(path):
    cell = parameters_cells(path)[0]
    return {line.split("=")[0].strip() for line in cell.source.splitlines()
            if "=" in line and line.split("=")[0].strip().isidentifier()}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_sentinel_parameters_reach_run(path, tmp_path):
    declared = declared_names(path)
    assert "output_dir" in declared
    extra = []
    for key, value in TINY.items():
        if key in declared:
            extra += ["-p", key, str(value)]
    if "seed" in declared:
        extra += ["-p", "seed", str(SENTINEL_SEED)]
    completed, _ = run_papermill(path, tmp_path, *extra)
    assert completed.returncode == 0, completed.stderr[-3000:]

    # The sentinel output folder reached the run: the figures were written there.
    figures = sorted((tmp_path / "output" / "figures").glob("*"))
    assert {p.suffix for p in figures} == {".png", ".pdf"}
    if "seed" not in declared:
        return
    # The sentinel seed and sizes reached the simulations stored in the cache.
    cached = sorted((tmp_path / "output" / "cache").rglob("*.npz"))
    assert cached, "the notebook stored no simulation in its cache folder"
    for result in cached:
        with np.load(result) as data:
            config = json.loads(str(data["config"]))
        assert config["seed"] == SENTINEL_SEED
        for key in ("particles", "runs"):
            if key in declared and key in config:
                assert config[key] == TINY[key]


def test_string_boolean_parameter_is_rejected(tmp_path):
    # papermill passes "-p progress false" through as the string "false".
    path = ROOT / "notebooks" / "figure1_nonsymmetric.md"
    completed, _ = run_papermill(path, tmp_path, "-p", "progress", "false")
    assert completed.returncode != 0
    assert "parameter progress" in completed.stderr
