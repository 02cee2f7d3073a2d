"""The command line contract of ``python -m skt_lib simulate``."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from skt_lib.cli import EXIT_INVALID_INPUT, EXIT_NUMERICAL_FAILURE, main
from test_config import INVALID, VALID


def write_config(folder, config, name="run.yaml"):
    path = folder / name
    path.write_text(yaml.safe_dump(config))
    return path


def test_simulate_writes_contracted_arrays(tmp_path):
    config_path = write_config(tmp_path, VALID)
    out = tmp_path / "result.npz"
    completed = subprocess.run(
        [sys.executable, "-m", "skt_lib", "simulate", str(config_path), "--out", str(out)],
        capture_output=True, text=True,
    )
    assert completed.returncode == 0, completed.stderr
    with np.load(out) as data:
        assert set(data.files) >= {"times", "positions", "config"}
        assert data["times"].shape == (2,)
        assert data["positions"].shape == (2, VALID["runs"], 2, VALID["particles"])
        config = json.loads(str(data["config"]))
    assert config["interaction"] == [[0.0, 355.0], [25.0, 0.0]]
    assert config["seed"] == VALID["seed"]
    assert np.allclose(config["output_times"], VALID["output_times"])


def test_simulate_json_equals_yaml(tmp_path):
    yaml_path = write_config(tmp_path, VALID)
    json_path = tmp_path / "run.json"
    json_path.write_text(json.dumps(VALID))
    assert main(["simulate", str(yaml_path), "--out", str(tmp_path / "a.npz"), "--quiet"]) == 0
    assert main(["simulate", str(json_path), "--out", str(tmp_path / "b.npz"), "--quiet"]) == 0
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        # Same seed and configuration: the runs are bitwise identical.
        assert np.array_equal(a["positions"], b["positions"])


@pytest.mark.parametrize(("case", "config", "key"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_input_exits_2_without_output(tmp_path, capsys, case, config, key):
    config_path = write_config(tmp_path, config)
    out = tmp_path / "result.npz"
    status = main(["simulate", str(config_path), "--out", str(out)])
    stderr = capsys.readouterr().err.strip()
    assert status == EXIT_INVALID_INPUT
    assert key in stderr
    assert len(stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == [config_path]


def test_invalid_input_status_from_process(tmp_path):
    config_path = write_config(tmp_path, dict(VALID, radius=-1.0))
    out = tmp_path / "result.npz"
    completed = subprocess.run(
        [sys.executable, "-m", "skt_lib", "simulate", str(config_path), "--out", str(out)],
        capture_output=True, text=True,
    )
    assert completed.returncode == EXIT_INVALID_INPUT
    assert "radius" in completed.stderr
    assert not out.exists()


def test_bad_output_paths_exit_2(tmp_path, capsys):
    config_path = write_config(tmp_path, VALID)
    assert main(["simulate", str(config_path), "--out", str(tmp_path / "r.txt")]) == 2
    assert ".npz" in capsys.readouterr().err
    missing = tmp_path / "absent" / "r.npz"
    assert main(["simulate", str(config_path), "--out", str(missing)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_missing_config_file_exits_2(tmp_path, capsys):
    status = main(["simulate", str(tmp_path / "absent.yaml"), "--out", str(tmp_path / "r.npz")])
    assert status == 2
    assert "not found" in capsys.readouterr().err


def test_blow_up_exits_3_and_keeps_outputs(tmp_path, capsys):
    # With U(x) = c x^2 / 2 and c = 1e5, each step multiplies positions by
    # 1 - c h = -999, so they overflow after about 100 steps.
    config = dict(VALID, potential={"quadratic": 1.0e5}, final_time=2.0,
                  output_times=[0.0, 0.01, 2.0])
    config_path = write_config(tmp_path, config)
    out = tmp_path / "result.npz"
    status = main(["simulate", str(config_path), "--out", str(out)])
    stderr = capsys.readouterr().err
    assert status == EXIT_NUMERICAL_FAILURE
    # The warning is one line, without the source location.
    assert stderr.startswith("warning: potential coefficient c = 100000.0")
    assert "choose time_step" in stderr.splitlines()[0]
    assert ".py:" not in stderr
    assert "step" in stderr
    assert "species" in stderr
    assert not out.exists()
    with np.load(tmp_path / "result.partial.npz") as data:
        assert np.array_equal(data["times"], [0.0, 0.01])
        assert np.all(np.isfinite(data["positions"]))


def test_cache_reuses_result(tmp_path, capsys):
    config_path = write_config(tmp_path, VALID)
    cache = tmp_path / "cache"
    arguments = ["simulate", str(config_path), "--cache-dir", str(cache)]
    assert main([*arguments, "--out", str(tmp_path / "a.npz")]) == 0
    assert main([*arguments, "--out", str(tmp_path / "b.npz")]) == 0
    assert "cache" in capsys.readouterr().out.splitlines()[-1]
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert np.array_equal(a["positions"], b["positions"])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--out", ""], ".npz"),
        (["--out", "{folder}/existing.npz"], "is a folder"),
        (["--out", "{folder}/r.npz", "--cache-dir", "{folder}/run.yaml"], "not a folder"),
    ],
)
def test_output_arguments_exit_2(tmp_path, capsys, arguments, message):
    config_path = write_config(tmp_path, VALID)
    (tmp_path / "existing.npz").mkdir()
    arguments = [item.format(folder=tmp_path) for item in arguments]
    assert main(["simulate", str(config_path), *arguments]) == EXIT_INVALID_INPUT
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe model: skt", "UTF-8"),
        (b"model: skt\nmodel: drift\n", "twice"),
    ],
)
def test_unreadable_config_exits_2(tmp_path, capsys, content, message):
    config_path = tmp_path / "run.yaml"
    config_path.write_bytes(content)
    assert main(["simulate", str(config_path), "--out", str(tmp_path / "r.npz")]) == 2
    assert message in capsys.readouterr().err


def test_config_folder_exits_2(tmp_path, capsys):
    assert main(["simulate", str(tmp_path), "--out", str(tmp_path / "r.npz")]) == 2
    assert "not a file" in capsys.readouterr().err


def test_huge_run_exits_2(tmp_path, capsys):
    config_path = write_config(tmp_path, dict(VALID, time_step=1.0e-300))
    assert main(["simulate", str(config_path), "--out", str(tmp_path / "r.npz")]) == 2
    assert "steps" in capsys.readouterr().err
    config_path = write_config(tmp_path, dict(VALID, runs=10**12))
    assert main(["simulate", str(config_path), "--out", str(tmp_path / "r.npz")]) == 2
    assert "memory" in capsys.readouterr().err


def test_result_file_readable_by_group(tmp_path):
    config_path = write_config(tmp_path, VALID)
    out = tmp_path / "r.npz"
    assert main(["simulate", str(config_path), "--out", str(out), "--quiet"]) == 0
    # mkstemp creates files with mode 0600; the result gets the mode that the
    # umask gives a new file, as the figures do.
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
