"""Tests of skt_lib.nonlinearity: f(s) = s^p and its Lipschitz cut-off f_eta."""

import math

import numpy as np
import pytest

from skt_lib import Nonlinearity
from skt_lib.nonlinearity import apply_nonlinearity

UNIT_ROUNDOFF = 2.0**-53

# A power nonlinearity with a cut-off at s_c = 3. Its derivative there is
# f'(3) = 6, so the slope beyond s_c is min(6, eta^-alpha).
POWER = 2.0
THRESHOLD = 3.0
ALPHA = 0.5


def quadratic_cutoff():
    return Nonlinearity(power=POWER, threshold=THRESHOLD, alpha=ALPHA)


# --- Values --------------------------------------------------------------------


def test_linear_is_identity():
    values = np.array([0.0, 1e-300, 0.25, 3.0, 1e12])

    result = Nonlinearity()(values)

    np.testing.assert_array_equal(result, values)


def test_linear_keeps_input_shape():
    values = np.arange(6.0).reshape(2, 3)

    assert Nonlinearity()(values).shape == (2, 3)


def test_power_squares():
    values = np.array([0.0, 0.5, 2.0, 7.0, 1e5])

    result = Nonlinearity(power=2.0)(values)

    # pow(s, 2.0) and s * s are each within one ulp (2 u) of s^2.
    np.testing.assert_allclose(result, values * values, rtol=4 * UNIT_ROUNDOFF)


def test_cutoff_equals_f_below_threshold():
    values = np.array([0.0, 0.1, 1.5, THRESHOLD])

    result = quadratic_cutoff()(values, radius=0.25)

    # Both sides call pow, each within one ulp (2 u) of s^2.
    np.testing.assert_allclose(result, values**POWER, rtol=4 * UNIT_ROUNDOFF)


@pytest.mark.parametrize(
    ("radius", "expected_slope"),
    [
        (0.25, 0.25**-ALPHA),  # eta^-alpha = 2 < f'(3) = 6: capped slope
        (0.01, 2.0 * THRESHOLD),  # eta^-alpha = 10 > 6: C^1 continuation
    ],
)
def test_cutoff_slope_is_minimum(radius, expected_slope):
    assert quadratic_cutoff().cutoff_slope(radius) == expected_slope


@pytest.mark.parametrize("radius", [0.25, 0.01])
def test_cutoff_linear_above_threshold(radius):
    nonlinearity = quadratic_cutoff()
    slope = min(POWER * THRESHOLD ** (POWER - 1.0), radius**-ALPHA)
    values = np.array([3.5, 10.0, 1e3, 1e8])

    result = nonlinearity(values, radius=radius)

    # f_eta(s) = s_c^2 + L (s - s_c), evaluated in three roundings.
    expected = THRESHOLD**POWER + slope * (values - THRESHOLD)
    np.testing.assert_allclose(result, expected, rtol=4 * UNIT_ROUNDOFF)


@pytest.mark.parametrize("radius", [0.25, 0.01])
def test_cutoff_continuous_at_threshold(radius):
    nonlinearity = quadratic_cutoff()
    slope = nonlinearity.cutoff_slope(radius)
    step = 1e-9

    at_threshold = nonlinearity(THRESHOLD, radius=radius)
    above = nonlinearity(THRESHOLD + step, radius=radius)
    below = nonlinearity(THRESHOLD - step, radius=radius)

    assert float(at_threshold) == THRESHOLD**POWER
    # Right of s_c the function is linear with slope L: the difference is
    # L step up to the rounding of f(s_c) = 9 (about 2e-15 absolute).
    assert float(above - at_threshold) == pytest.approx(slope * step, rel=0, abs=1e-14)
    # Left of s_c it is s^2, whose difference is 2 s_c step - step^2.
    assert float(at_threshold - below) == pytest.approx(
        2.0 * THRESHOLD * step, rel=0, abs=1e-14)


def test_lipschitz_constant_bounds_difference_quotients():
    nonlinearity = quadratic_cutoff()
    radius = 0.25
    grid = np.linspace(0.0, 20.0, 20001)

    values = nonlinearity(grid, radius=radius)
    quotients = np.abs(np.diff(values) / np.diff(grid))
    lipschitz = nonlinearity.lipschitz_constant(radius)

    # L = max(f'(s_c), min(f'(s_c), eta^-alpha)) = f'(3) = 6.
    assert lipschitz == 6.0
    # Difference quotients of the convex part approach f'(s_c) from below,
    # to within half a grid spacing (1e-3) times f'' = 2. Rounding of the
    # quotients is about 1e-11 relative (values <= 111, spacing 1e-3).
    assert quotients.max() <= lipschitz * (1.0 + 1e-10)
    assert quotients.max() >= lipschitz - 2e-3


@pytest.mark.parametrize(
    ("nonlinearity", "expected"),
    [
        (Nonlinearity(), 1.0),
        (Nonlinearity(power=2.0), math.inf),
        (Nonlinearity(power=0.5, threshold=2.0), math.inf),
        (Nonlinearity(power=1.0, threshold=2.0, alpha=1.0), 1.0),
        (Nonlinearity(power=3.0, threshold=2.0, alpha=0.0), 12.0),
    ],
)
def test_lipschitz_constant_exact_values(nonlinearity, expected):
    # The max over [0, s_c] of f' is p s_c^(p - 1) for p >= 1 and unbounded
    # at 0 for p < 1. The cut-off slope never exceeds f'(s_c), so these
    # values are exact.
    assert nonlinearity.lipschitz_constant(0.5) == expected


def test_compiled_function_matches_call():
    nonlinearity = quadratic_cutoff()
    radius = 0.25
    kind, power, threshold, slope = nonlinearity.compiled_parameters(radius)
    values = [0.0, 1.0, THRESHOLD, 4.0, 50.0]

    compiled = [apply_nonlinearity(value, kind, power, threshold, slope) for value in values]

    # Same compiled function on the same inputs: bitwise equal.
    np.testing.assert_array_equal(compiled, nonlinearity(values, radius=radius))


def test_cutoff_slope_at_zero_threshold():
    nonlinearity = Nonlinearity(power=0.5, threshold=0.0, alpha=1.0)

    # f'(0) = inf for p < 1, so L = min(inf, eta^-alpha) = eta^-alpha = 4.
    assert nonlinearity.cutoff_slope(0.25) == 4.0


# --- Configuration ---------------------------------------------------------------


@pytest.mark.parametrize(
    "nonlinearity",
    [
        Nonlinearity(),
        Nonlinearity(power=2.0),
        Nonlinearity(power=0.5),
        Nonlinearity(power=2.0, threshold=50.0, alpha=0.5),
        Nonlinearity(power=1.0, threshold=5.0, alpha=0.0),
    ],
)
def test_config_round_trip(nonlinearity):
    config = nonlinearity.to_config()

    assert Nonlinearity.from_config(config) == nonlinearity


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("linear", Nonlinearity()),
        ({"power": 2}, Nonlinearity(power=2.0)),
        ({"power": 2, "cutoff": {"threshold": 50, "alpha": 0.5}},
         Nonlinearity(power=2.0, threshold=50.0, alpha=0.5)),
        ({"cutoff": {"threshold": 5}}, Nonlinearity(threshold=5.0)),
    ],
)
def test_from_config_builds_expected(config, expected):
    assert Nonlinearity.from_config(config) == expected


def test_linear_config_is_string():
    assert Nonlinearity().to_config() == "linear"


@pytest.mark.parametrize(
    ("config", "error", "pattern"),
    [
        ("quadratic", ValueError, "nonlinearity must be 'linear'"),
        (2.0, ValueError, "nonlinearity must be 'linear'"),
        ({"exponent": 2}, ValueError, "exponent"),
        ({"power": -1.0}, ValueError, "power must be > 0"),
        ({"power": 0.0}, ValueError, "power must be > 0"),
        ({"power": "two"}, TypeError, "power must be a real number"),
        ({"power": float("nan")}, ValueError, "power must be finite"),
        ({"power": 2, "cutoff": 50}, ValueError, "nonlinearity.cutoff"),
        ({"power": 2, "cutoff": {"threshold": 1, "slope": 2}}, ValueError, "slope"),
        ({"power": 2, "cutoff": {"alpha": 0.5}}, ValueError, "missing 'threshold'"),
        ({"power": 2, "cutoff": {"threshold": -1.0}}, ValueError, "threshold must be >= 0"),
        ({"power": 2, "cutoff": {"threshold": 1.0, "alpha": -0.5}}, ValueError,
         "alpha must be >= 0"),
    ],
)
def test_from_config_rejects_invalid(config, error, pattern):
    with pytest.raises(error, match=pattern):
        Nonlinearity.from_config(config)


def test_constructor_rejects_boolean_power():
    with pytest.raises(TypeError, match="power"):
        Nonlinearity(power=True)


def test_cutoff_slope_rejects_invalid_radius():
    with pytest.raises(ValueError, match="radius"):
        quadratic_cutoff().cutoff_slope(0.0)


def test_config_rejects_linear_key_in_mapping():
    with pytest.raises(ValueError, match="linear"):
        Nonlinearity.from_config({"linear": True, "power": 2})
