"""The command line contract of ``python -m skt_lib solve``."""

import copy
import json

import numpy as np
import pytest
import yaml

from skt_lib.cli import EXIT_INVALID_INPUT, EXIT_NUMERICAL_FAILURE, main

VALID = {
    "model": "skt",
    "equation": "local",
    "domain": [-25.0, 25.0],
    "cells": 256,
    "boundary": "no-flux",
    "diffusion": [1.0, 2.0],
    "interaction": [[0, 355], [25, 0]],
    "initial": [{"mean": -1.0, "variance": 2.0}, {"mean": 1.0, "variance": 2.0, "mass": 2.0}],
    "final_time": 0.2,
    "output_times": [0.1, 0.2],
}


def write_config(folder, config):
    path = folder / "solve.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def with_changes(**changes):
    config = copy.deepcopy(VALID)
    for key, value in changes.items():
        if value is KeyError:
            del config[key]
        else:
            config[key] = value
    return config


def test_solve_writes_contracted_arrays(tmp_path):
    out = tmp_path / "pde.npz"
    status = main(["solve", str(write_config(tmp_path, VALID)), "--out", str(out), "--quiet"])
    assert status == 0
    with np.load(out) as data:
        x, times, density = data["x"], data["times"], data["density"]
        config = json.loads(str(data["config"]))
    assert x.shape == (256,)
    assert np.array_equal(times, [0.1, 0.2])
    assert density.shape == (2, 2, 256)
    # Finite volumes with no-flux boundaries conserve each species' mass
    # (1 and 2 here) up to round-off.
    masses = density.sum(axis=2) * (x[1] - x[0])
    np.testing.assert_allclose(masses, [[1.0, 2.0], [1.0, 2.0]], rtol=1e-12)
    assert config["initial"][1]["mass"] == 2.0
    assert config["initial"][0]["mass"] == 1.0
    assert config["method"] == "bdf2"


def test_nonlocal_drift_solves(tmp_path):
    config = with_changes(model="drift", equation="nonlocal", radius=2.0)
    out = tmp_path / "pde.npz"
    assert main(["solve", str(write_config(tmp_path, config)), "--out", str(out), "--quiet"]) == 0
    with np.load(out) as data:
        assert np.all(data["density"] >= 0)


def test_ill_posed_local_drift_exits_3(tmp_path, capsys):
    config = with_changes(model="drift")
    out = tmp_path / "pde.npz"
    status = main(["solve", str(write_config(tmp_path, config)), "--out", str(out)])
    stderr = capsys.readouterr().err
    assert status == EXIT_NUMERICAL_FAILURE
    assert "parabolic" in stderr
    assert "t = 0" in stderr
    assert "nonlocal" in stderr
    assert not out.exists()


def test_lost_parabolicity_keeps_earlier_outputs(tmp_path, capsys):
    # The species start apart, so det A = 2 - 200 u_1 u_2 > 0, and the
    # confining potential drives them together until it turns negative.
    config = with_changes(model="drift", domain=[-8.0, 8.0], interaction=[[0, 20], [10, 0]],
                          potential={"quadratic": 4.0},
                          initial=[{"mean": -3.0, "variance": 0.2}, {"mean": 3.0, "variance": 0.2}],
                          final_time=2.0, output_times=[0.0, 0.01, 2.0])
    out = tmp_path / "pde.npz"
    status = main(["solve", str(write_config(tmp_path, config)), "--out", str(out)])
    stderr = capsys.readouterr().err
    assert status == EXIT_NUMERICAL_FAILURE
    assert "not parabolic" in stderr
    assert "pde.partial.npz" in stderr
    assert not out.exists()
    with np.load(tmp_path / "pde.partial.npz") as data:
        assert np.array_equal(data["times"], [0.0, 0.01])


def test_warnings_print_one_line(tmp_path, capsys):
    # On [-9, 9] the Gaussians of variance 2 reach the outer cells by t = 2.
    config = with_changes(domain=[-9.0, 9.0], final_time=2.0, output_times=KeyError)
    out = tmp_path / "pde.npz"
    assert main(["solve", str(write_config(tmp_path, config)), "--out", str(out), "--quiet"]) == 0
    stderr = capsys.readouterr().err
    assert stderr.startswith("warning: a fraction")
    assert len(stderr.splitlines()) == 1


def test_resolved_config_records_tolerance(tmp_path):
    out = tmp_path / "pde.npz"
    assert main(["solve", str(write_config(tmp_path, VALID)), "--out", str(out), "--quiet"]) == 0
    with np.load(out) as data:
        config = json.loads(str(data["config"]))
    assert config["tolerance"] == 1e-4
    assert config["whole_line"] is True


def test_out_inside_a_file_is_rejected(tmp_path, capsys):
    config_path = write_config(tmp_path, VALID)
    status = main(["solve", str(config_path), "--out", str(config_path / "pde.npz")])
    assert status == EXIT_INVALID_INPUT
    assert "is a file, not a folder" in capsys.readouterr().err


def test_barenblatt_initial_data(tmp_path):
    config = with_changes(diffusion=[0.01], interaction=[[1.0]], domain=[-5.0, 5.0],
                          initial=[{"barenblatt": {"mass": 1.0, "time": 0.5}}],
                          final_time=0.1, output_times=KeyError)
    out = tmp_path / "pde.npz"
    assert main(["solve", str(write_config(tmp_path, config)), "--out", str(out), "--quiet"]) == 0
    with np.load(out) as data:
        assert data["density"].shape == (1, 1, 256)


INVALID = [
    ("model", with_changes(model="heat"), "model"),
    ("equation", with_changes(equation="fractional"), "equation"),
    ("boundary", with_changes(boundary="dirichlet"), "boundary"),
    ("cells zero", with_changes(cells=0), "cells"),
    ("cells float", with_changes(cells=12.5), "cells"),
    ("domain order", with_changes(domain=[5.0, -5.0]), "domain"),
    ("domain length", with_changes(domain=[0.0]), "domain"),
    ("nonlocal without radius", with_changes(equation="nonlocal"), "radius"),
    ("negative mass", with_changes(initial=[{"mean": 0.0, "variance": 1.0, "mass": -1.0},
                                            {"mean": 0.0, "variance": 1.0}]), "mass"),
    ("barenblatt two species", with_changes(initial=[{"barenblatt": {"mass": 1, "time": 1}},
                                                     {"mean": 0.0, "variance": 1.0}]),
     "barenblatt"),
    ("euler without step", with_changes(method="euler"), "time_step"),
    ("negative tolerance", with_changes(tolerance=-1.0), "tolerance"),
    ("unknown key", with_changes(particles=10), "particles"),
    ("mass outside domain", with_changes(domain=[-3.0, 3.0]), "widen the domain"),
    ("mass near the ends", with_changes(domain=[-6.0, 6.0]), "whole_line to false"),
    ("two cells", with_changes(cells=2), "cells: got 2; expected an integer >= 3"),
    ("too many cells", with_changes(cells=10**9), "at most 2097152 cells"),
    ("tiny tolerance", with_changes(tolerance=1.0e-300), "tolerance: got 1e-300"),
    ("too many fixed steps", with_changes(method="euler", time_step=1.0e-9), "fixed steps"),
    ("overflowing interaction", with_changes(interaction=[[0, 1.0e300], [1.0e300, 0]]),
     "overflow double precision"),
    ("gaussian between cells", with_changes(initial=[{"mean": 0.0, "variance": 1.0e-12},
                                                    {"mean": 0.0, "variance": 1.0}]),
     "initial[0]: the Gaussian"),
    ("gaussian narrower than cells", with_changes(initial=[{"mean": -1.0, "variance": 1.0e-3},
                                                          {"mean": 0.0, "variance": 1.0}]),
     "initial[0]: the Gaussian with mean -1.0, variance 0.001 and mass 1.0 has mass"),
    ("gaussian outside interval", with_changes(domain=[10.0, 20.0], whole_line=False),
     "initial[0]: the Gaussian"),
    ("barenblatt without interaction", with_changes(
        diffusion=[0.01], interaction=[[0.0]],
        initial=[{"barenblatt": {"mass": 1.0, "time": 0.5}}]), "interaction[0][0] > 0"),
    ("dimension string", with_changes(dimension="1"), "dimension: got '1'"),
    ("whole_line string", with_changes(whole_line="no"), "whole_line: got 'no'"),
]


@pytest.mark.parametrize(("case", "config", "key"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_solve_input_exits_2(tmp_path, capsys, case, config, key):
    config_path = write_config(tmp_path, config)
    out = tmp_path / "pde.npz"
    status = main(["solve", str(config_path), "--out", str(out)])
    stderr = capsys.readouterr().err.strip()
    assert status == EXIT_INVALID_INPUT
    assert key in stderr
    assert len(stderr.splitlines()) == 1
    assert not out.exists()
