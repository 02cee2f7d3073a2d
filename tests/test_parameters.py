"""Tests of skt_lib.parameters.ModelParameters: validation, immutability, species swap."""

import numpy as np
import pytest

from skt_lib import ModelParameters, Nonlinearity, kernel_weights

DIFFUSION = [1.0, 2.0]
INTERACTION = [[0.0, 355.0], [25.0, 0.0]]


def build(**changes):
    arguments = {"diffusion": DIFFUSION, "interaction": INTERACTION, "radius": 2.0}
    arguments.update(changes)
    return ModelParameters(**arguments)


def test_parameters_store_float_arrays():
    parameters = build(diffusion=[1, 2])

    assert parameters.diffusion.dtype == np.float64
    assert parameters.interaction.dtype == np.float64
    assert parameters.n_species == 2


@pytest.mark.parametrize(
    ("diffusion", "error", "pattern"),
    [
        ([1.0, 0.0], ValueError, "diffusion must be > 0"),
        ([1.0, -2.0], ValueError, "diffusion must be > 0"),
        ([1.0, float("nan")], ValueError, "diffusion must contain only finite"),
        ([1.0, float("inf")], ValueError, "diffusion must contain only finite"),
        ([], ValueError, "diffusion must list one value per species"),
        ([[1.0, 2.0]], ValueError, "diffusion must be a 1-dimensional array"),
        (["a", "b"], TypeError, "diffusion must contain only real numbers"),
    ],
)
def test_parameters_reject_invalid_diffusion(diffusion, error, pattern):
    with pytest.raises(error, match=pattern):
        build(diffusion=diffusion)


def test_parameters_reject_negative_interaction():
    with pytest.raises(ValueError, match="interaction must have entries >= 0"):
        build(interaction=[[0.0, -1.0], [25.0, 0.0]])


def test_parameters_reject_nan_interaction():
    with pytest.raises(ValueError, match="interaction must contain only finite"):
        build(interaction=[[0.0, float("nan")], [25.0, 0.0]])


def test_parameters_reject_nonsquare_interaction():
    with pytest.raises(ValueError, match=r"interaction must be a 2 x 2 matrix"):
        build(interaction=[[0.0, 1.0, 2.0], [25.0, 0.0, 1.0]])


def test_parameters_reject_mismatched_sizes():
    with pytest.raises(ValueError, match=r"interaction must be a 2 x 2 matrix.*shape \(3, 3\)"):
        build(interaction=np.zeros((3, 3)))


def test_parameters_reject_flat_interaction():
    with pytest.raises(ValueError, match="interaction must be a 2-dimensional array"):
        build(interaction=[0.0, 1.0])


@pytest.mark.parametrize(
    ("changes", "error", "pattern"),
    [
        ({"normalization": "unit"}, ValueError, "normalization must be one of"),
        ({"radius": 0.0}, ValueError, "radius must be > 0"),
        ({"radius": float("nan")}, ValueError, "radius must be finite"),
        ({"dimension": 3}, ValueError, "dimension must be one of"),
        ({"potential": float("inf")}, ValueError, "potential must be finite"),
        ({"potential": "1"}, TypeError, "potential must be a real number"),
        ({"nonlinearity": "linear"}, TypeError, "nonlinearity must be a Nonlinearity"),
    ],
)
def test_parameters_reject_invalid_settings(changes, error, pattern):
    with pytest.raises(error, match=pattern):
        build(**changes)


def test_parameters_arrays_are_read_only():
    parameters = build()

    with pytest.raises(ValueError, match="read-only"):
        parameters.diffusion[0] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        parameters.interaction[0, 1] = 5.0


def test_parameters_copy_caller_arrays():
    diffusion = np.array(DIFFUSION)
    interaction = np.array(INTERACTION)
    parameters = build(diffusion=diffusion, interaction=interaction)

    diffusion[0] = 99.0
    interaction[0, 1] = 99.0

    assert parameters.diffusion[0] == 1.0
    assert parameters.interaction[0, 1] == 355.0
    assert diffusion.flags.writeable


def test_parameters_kernel_weights_match_function():
    parameters = build(normalization="literal")

    expected = kernel_weights(INTERACTION, radius=2.0, normalization="literal")

    # The method forwards to the same function: bitwise equal.
    np.testing.assert_array_equal(parameters.kernel_weights(), expected)


def test_swapped_permutes_species():
    parameters = build(potential=-1.0, nonlinearity=Nonlinearity(power=2.0),
                       normalization="literal")

    swapped = parameters.swapped([1, 0])

    np.testing.assert_array_equal(swapped.diffusion, [2.0, 1.0])
    np.testing.assert_array_equal(swapped.interaction, [[0.0, 25.0], [355.0, 0.0]])
    assert swapped.radius == parameters.radius
    assert swapped.potential == parameters.potential
    assert swapped.normalization == parameters.normalization
    assert swapped.nonlinearity == parameters.nonlinearity


def test_swapped_twice_restores_parameters():
    parameters = build()

    restored = parameters.swapped([1, 0]).swapped([1, 0])

    np.testing.assert_array_equal(restored.diffusion, parameters.diffusion)
    np.testing.assert_array_equal(restored.interaction, parameters.interaction)
