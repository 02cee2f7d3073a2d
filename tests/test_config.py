"""Validation of experiment configurations (skt_lib.config)."""

import copy

import numpy as np
import pytest

from skt_lib.config import ConfigError, load_config_file, parse_simulation

VALID = {
    "model": "skt",
    "dimension": 1,
    "diffusion": [1.0, 2.0],
    "interaction": [[0, 355], [25, 0]],
    "radius": 2.0,
    "kernel_normalization": "unit-mass",
    "nonlinearity": "linear",
    "potential": "none",
    "initial": [{"mean": -1.0, "variance": 2.0}, {"mean": 1.0, "variance": 2.0}],
    "particles": 50,
    "runs": 2,
    "time_step": 0.01,
    "final_time": 0.1,
    "output_times": [0.05, 0.1],
    "seed": 1,
}


def with_changes(**changes):
    config = copy.deepcopy(VALID)
    for key, value in changes.items():
        if value is KeyError:
            del config[key]
        else:
            config[key] = value
    return config


def test_valid_config_parses():
    parsed = parse_simulation(VALID)
    assert parsed.parameters.n_species == 2
    assert parsed.particles == 50
    assert np.array_equal(parsed.output_times, [0.05, 0.1])


def test_resolved_config_round_trips():
    resolved = parse_simulation(VALID).resolved()
    assert parse_simulation(resolved).resolved() == resolved


def test_defaults_are_filled_in():
    minimal = with_changes(dimension=KeyError, kernel_normalization=KeyError,
                           nonlinearity=KeyError, potential=KeyError,
                           output_times=KeyError, seed=KeyError)
    resolved = parse_simulation(minimal).resolved()
    assert resolved["kernel_normalization"] == "unit-mass"
    assert resolved["nonlinearity"] == "linear"
    assert resolved["potential"] == "none"
    assert resolved["output_times"] == [0.1]
    assert isinstance(resolved["seed"], int)


def test_potential_and_nonlinearity_forms():
    config = with_changes(potential={"quadratic": -1.0},
                          nonlinearity={"power": 2, "cutoff": {"threshold": 5, "alpha": 0.5}})
    parsed = parse_simulation(config)
    assert parsed.parameters.potential == -1.0
    assert parsed.parameters.nonlinearity.power == 2
    assert parsed.parameters.nonlinearity.threshold == 5


INVALID = [
    ("model", with_changes(model="brownian"), "model"),
    ("missing key", with_changes(radius=KeyError), "radius"),
    ("unknown key", with_changes(temperature=3), "temperature"),
    ("zero diffusion", with_changes(diffusion=[0.0, 2.0]), "diffusion[0]"),
    ("negative diffusion", with_changes(diffusion=[1.0, -2.0]), "diffusion[1]"),
    ("string diffusion", with_changes(diffusion=["1", 2.0]), "diffusion[0]"),
    ("nan diffusion", with_changes(diffusion=[float("nan"), 2.0]), "diffusion[0]"),
    ("empty diffusion", with_changes(diffusion=[]), "diffusion"),
    ("zero radius", with_changes(radius=0), "radius"),
    ("negative radius", with_changes(radius=-2.0), "radius"),
    ("infinite radius", with_changes(radius=float("inf")), "radius"),
    ("zero time step", with_changes(time_step=0), "time_step"),
    ("negative time step", with_changes(time_step=-0.01), "time_step"),
    ("string time step", with_changes(time_step="1e-2"), "time_step"),
    ("negative interaction", with_changes(interaction=[[0, -1], [25, 0]]), "interaction[0][1]"),
    ("non-square interaction", with_changes(interaction=[[0, 355, 1], [25, 0, 1]]), "interaction"),
    ("interaction size", with_changes(interaction=[[0]]), "interaction"),
    ("initial length", with_changes(initial=[{"mean": 0.0, "variance": 1.0}]), "initial"),
    ("initial variance", with_changes(initial=[{"mean": 0.0, "variance": 0.0},
                                               {"mean": 0.0, "variance": 1.0}]), "initial[0]"),
    ("initial keys", with_changes(initial=[{"mean": 0.0}, {"mean": 0.0, "variance": 1.0}]),
     "initial[0]"),
    ("output time late", with_changes(output_times=[0.2]), "output_times"),
    ("output time negative", with_changes(output_times=[-0.1, 0.1]), "output_times"),
    ("output times order", with_changes(output_times=[0.1, 0.05]), "output_times"),
    ("particles float", with_changes(particles=50.5), "particles"),
    ("particles zero", with_changes(particles=0), "particles"),
    ("runs bool", with_changes(runs=True), "runs"),
    ("seed negative", with_changes(seed=-1), "seed"),
    ("dimension two", with_changes(dimension=2), "dimension"),
    ("normalization", with_changes(kernel_normalization="unit"), "kernel_normalization"),
    ("potential form", with_changes(potential={"cubic": 1.0}), "potential"),
    ("nonlinearity form", with_changes(nonlinearity="cubic"), "nonlinearity"),
]


@pytest.mark.parametrize(("case", "config", "key"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_config_names_key(case, config, key):
    with pytest.raises(ConfigError) as error:
        parse_simulation(config)
    assert key in str(error.value)


@pytest.mark.parametrize("text", ["1e-2", "1.0e300", "1e+3"])
def test_string_number_hint_mentions_yaml(text):
    with pytest.raises(ConfigError, match="write 1.0e-2 or 1.0e"):
        parse_simulation(with_changes(time_step=text))


def test_plain_string_number_has_no_yaml_hint():
    with pytest.raises(ConfigError) as error:
        parse_simulation(with_changes(particles="200"))
    assert "YAML" not in str(error.value)


def test_load_yaml_and_json(tmp_path):
    import json

    import yaml

    yaml_path = tmp_path / "run.yaml"
    yaml_path.write_text(yaml.safe_dump(VALID))
    json_path = tmp_path / "run.json"
    json_path.write_text(json.dumps(VALID))
    assert load_config_file(yaml_path) == load_config_file(json_path)


def test_load_rejects_missing_and_malformed(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config_file(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.json"
    broken.write_text("{model: ")
    with pytest.raises(ConfigError, match="not valid"):
        load_config_file(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config_file(scalar)
