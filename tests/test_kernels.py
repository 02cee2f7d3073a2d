"""Tests of the bump kernel (skt_lib.kernels) and its compiled window sums."""

import math

import numpy as np
import pytest
from scipy import integrate

from skt_lib import kernels
from skt_lib._bump_sums import bump_window_sum
from skt_lib.kernels import BUMP_INTEGRAL_1D, BUMP_INTEGRAL_2D, evaluate_kernel, kernel_weights

# quad settings for the smooth, compactly supported bump. Tighter settings
# make QUADPACK warn that round-off prevents reaching them, and the
# warning is an error under this project's pytest configuration.
QUAD_OPTIONS = {"epsabs": 1e-14, "epsrel": 1e-13, "limit": 200}

UNIT_ROUNDOFF = 2.0**-53

RADII = [0.05, 0.7, 1.0, 3.5]


def bump_reference(r):
    """Evaluate exp(-1/(1-r^2)) with math.exp, or 0 for |r| >= 1."""
    q = (1.0 - r) * (1.0 + r)
    if q <= 0.0:
        return 0.0
    return math.exp(-1.0 / q)


def kernel_1d(x, **options):
    return float(evaluate_kernel(x, dimension=1, **options))


def kernel_2d_on_ray(r, **options):
    return float(evaluate_kernel([r, 0.0], dimension=2, **options))


# --- Bump integrals Z_1 and Z_2 -----------------------------------------------


def test_bump_integral_1d_matches_quadrature():
    value, error = integrate.quad(bump_reference, -1.0, 1.0, **QUAD_OPTIONS)

    # The quad error estimate must be well below the 1e-12 tolerance, or the
    # comparison would not test the constant.
    assert error < 1e-13
    assert value == pytest.approx(BUMP_INTEGRAL_1D, rel=0, abs=1e-12)


def test_bump_integral_2d_matches_radial_quadrature():
    radial, error = integrate.quad(lambda r: r * bump_reference(r), 0.0, 1.0, **QUAD_OPTIONS)
    value = 2.0 * math.pi * radial

    assert 2.0 * math.pi * error < 1e-13
    assert value == pytest.approx(BUMP_INTEGRAL_2D, rel=0, abs=1e-12)


# --- evaluate_kernel and kernel_weights --------------------------------------


@pytest.mark.parametrize("radius", RADII)
@pytest.mark.parametrize(
    ("normalization", "integral_per_strength"),
    [("unit-mass", 1.0), ("literal", BUMP_INTEGRAL_1D)],
)
def test_kernel_1d_integrates_to_strength(radius, normalization, integral_per_strength):
    strength = 2.5
    options = {"strength": strength, "radius": radius, "normalization": normalization}

    value, error = integrate.quad(
        lambda x: kernel_1d(x, **options), -radius, radius, **QUAD_OPTIONS)

    # quad resolves the smooth bump to its requested 1e-13 relative accuracy,
    # and Z_1 is stored to 15 digits, so 1e-10 leaves a wide margin.
    expected = strength * integral_per_strength
    assert error < 1e-11 * expected
    assert value == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("radius", RADII)
@pytest.mark.parametrize(
    ("normalization", "integral_per_strength"),
    [("unit-mass", 1.0), ("literal", BUMP_INTEGRAL_2D)],
)
def test_kernel_2d_integrates_to_strength(radius, normalization, integral_per_strength):
    strength = 2.5
    options = {"strength": strength, "radius": radius, "normalization": normalization}

    radial, error = integrate.quad(
        lambda r: r * kernel_2d_on_ray(r, **options), 0.0, radius, **QUAD_OPTIONS)
    value = 2.0 * math.pi * radial

    # Same accuracy argument as in dimension 1: quad error <= 1e-13 relative.
    expected = strength * integral_per_strength
    assert 2.0 * math.pi * error < 1e-11 * expected
    assert value == pytest.approx(expected, rel=1e-10)


def test_kernel_2d_integrates_over_disc():
    # Cartesian integration over the disc, independent of the radial
    # symmetry that the radial test above assumes.
    radius = 0.7

    def integrand(y, x):
        return float(evaluate_kernel([x, y], radius=radius, dimension=2))

    def half_chord(x):
        return math.sqrt(max(radius * radius - x * x, 0.0))

    value, error = integrate.dblquad(
        integrand, -radius, radius, lambda x: -half_chord(x), half_chord,
        epsabs=1e-13, epsrel=1e-12)

    # dblquad was asked for 1e-12 relative accuracy, so 1e-10 leaves a margin.
    assert error < 1e-11
    assert value == pytest.approx(1.0, rel=1e-10)


def test_kernel_2d_is_radially_symmetric():
    radius = 1.3
    r = 0.4 * radius
    angles = np.linspace(0.0, 2.0 * np.pi, 7)
    points = r * np.stack([np.cos(angles), np.sin(angles)], axis=-1)

    values = evaluate_kernel(points, radius=radius, dimension=2)

    # hypot(r cos t, r sin t) equals r up to about one ulp, and exp(-1/(1-r^2))
    # changes by a relative 2 r^2/(1-r^2)^2 ulp ~ 0.5 ulp per ulp of r here.
    expected = evaluate_kernel([r, 0.0], radius=radius, dimension=2)
    np.testing.assert_allclose(values, expected, rtol=8 * UNIT_ROUNDOFF)


@pytest.mark.parametrize("dimension", [1, 2])
def test_kernel_peak_value_is_exact(dimension):
    radius = 0.5
    strength = 3.0
    origin = 0.0 if dimension == 1 else [0.0, 0.0]

    unit_mass = evaluate_kernel(origin, strength=strength, radius=radius, dimension=dimension)
    literal = evaluate_kernel(origin, strength=strength, radius=radius,
                              normalization="literal", dimension=dimension)

    # B(0) = exp(-1), and the value goes through about five roundings of at
    # most u each, so 8 u bounds the difference.
    peak = math.exp(-1.0) * radius**-dimension
    z_d = kernels.BUMP_INTEGRALS[dimension]
    assert float(unit_mass) == pytest.approx(strength * peak / z_d, rel=8 * UNIT_ROUNDOFF)
    assert float(literal) == pytest.approx(strength * peak, rel=8 * UNIT_ROUNDOFF)


@pytest.mark.parametrize("dimension", [1, 2])
@pytest.mark.parametrize("radius", [0.3, 1.0, 4.0])
def test_weights_ratio_is_bump_integral(dimension, radius):
    interaction = np.array([[0.0, 355.0], [25.0, 1.0]])

    literal = kernel_weights(interaction, radius=radius, normalization="literal",
                             dimension=dimension)
    unit_mass = kernel_weights(interaction, radius=radius, normalization="unit-mass",
                               dimension=dimension)

    nonzero = interaction > 0
    ratio = literal[nonzero] / unit_mass[nonzero]
    # Division by Z_d and the ratio each round once (<= 2^-53 relative each).
    np.testing.assert_allclose(ratio, kernels.BUMP_INTEGRALS[dimension],
                               rtol=2 * UNIT_ROUNDOFF)
    assert np.all(unit_mass[~nonzero] == 0.0)


def test_weights_scale_with_radius_power():
    interaction = [[2.0]]

    # Literal weights are a_ij eta^-d: exact for these powers of two.
    assert kernel_weights(interaction, radius=0.5, normalization="literal")[0, 0] == 4.0
    assert kernel_weights(interaction, radius=0.5, normalization="literal",
                          dimension=2)[0, 0] == 8.0


@pytest.mark.parametrize("radius", [0.25, 1.0, 3.0])
def test_kernel_1d_vanishes_outside_support(radius):
    points = np.array([radius, -radius, 1.5 * radius, -4.0 * radius, 1e6])

    values = evaluate_kernel(points, strength=7.0, radius=radius)

    assert np.all(values == 0.0)


@pytest.mark.parametrize("radius", [0.25, 1.0, 3.0])
def test_kernel_2d_vanishes_outside_support(radius):
    points = np.array([
        [radius, 0.0],
        [0.0, -radius],
        [0.6 * radius, 0.8 * radius],
        [radius, radius],
        [-3.0 * radius, 0.1],
    ])

    values = evaluate_kernel(points, strength=7.0, radius=radius, dimension=2)

    assert np.all(values == 0.0)


def test_kernel_positive_inside_support():
    radius = 2.0
    points = np.array([-1.9, -0.5, 0.0, 1.0, 1.99])

    values = evaluate_kernel(points, radius=radius)

    assert np.all(values > 0.0)


def test_kernel_keeps_input_shape():
    points_1d = np.zeros((3, 4))
    points_2d = np.zeros((3, 4, 2))

    assert evaluate_kernel(points_1d, radius=1.0).shape == (3, 4)
    assert evaluate_kernel(points_2d, radius=1.0, dimension=2).shape == (3, 4)


@pytest.mark.parametrize("radius", [0.0, -1.0, float("nan"), float("inf")])
def test_kernel_rejects_invalid_radius(radius):
    with pytest.raises(ValueError, match="radius"):
        evaluate_kernel([0.0], radius=radius)
    with pytest.raises(ValueError, match="radius"):
        kernel_weights([[1.0]], radius=radius)


def test_kernel_rejects_non_numeric_radius():
    with pytest.raises(TypeError, match="radius"):
        evaluate_kernel([0.0], radius="1.0")


def test_kernel_rejects_unknown_normalization():
    with pytest.raises(ValueError, match="normalization"):
        evaluate_kernel([0.0], radius=1.0, normalization="foo")
    with pytest.raises(ValueError, match="normalization"):
        kernel_weights([[1.0]], radius=1.0, normalization="foo")


def test_kernel_rejects_unsupported_dimension():
    with pytest.raises(ValueError, match="dimension"):
        evaluate_kernel([0.0, 0.0, 0.0], radius=1.0, dimension=3)
    with pytest.raises(ValueError, match="dimension"):
        kernel_weights([[1.0]], radius=1.0, dimension=3)


def test_kernel_2d_rejects_wrong_last_axis():
    with pytest.raises(ValueError, match="last axis"):
        evaluate_kernel(np.zeros((4, 3)), radius=1.0, dimension=2)


# --- bump_window_sum -----------------------------------------------------------

# Bound for comparing bump_window_sum with a plain Python sum. Each term of
# the compiled sum is within 2.3e-16 relative of math.exp (the inline exp's
# measured accuracy), and math.exp is within one ulp (2.2e-16). Summing k
# terms in any order has relative error at most (k - 1) u for terms of one
# sign, and the compiled (vectorised, reassociated) and Python sums use
# different orders, so the difference is at most 2 (k - 1) u + 4.5e-16
# relative to the sum of |terms|. With at most MAX_WINDOW_TERMS = 40 terms
# that is 9.1e-15 <= 1e-14.
WINDOW_SUM_RTOL = 1e-14
MAX_WINDOW_TERMS = 40


def derivative_reference(r):
    """Evaluate B'(r) = -2 r B(r) / (1 - r^2)^2 with math.exp, or 0 for |r| >= 1."""
    q = (1.0 - r) * (1.0 + r)
    if q <= 0.0:
        return 0.0
    return -2.0 * r * math.exp(-1.0 / q) / (q * q)


def window_cases():
    """Yield (sorted_points, x, radius) with at most MAX_WINDOW_TERMS points in the support."""
    rng = np.random.default_rng(20200701)
    for radius in (0.1, 0.4, 0.8, 1.2):
        points = np.sort(rng.uniform(-10.0, 10.0, size=200))
        for x in rng.uniform(-9.0, 9.0, size=25):
            yield points, float(x), radius


def plain_sum(points, x, radius, term):
    inv_radius = 1.0 / radius
    terms = [term((x - point) * inv_radius) for point in points]
    return math.fsum(terms), math.fsum(abs(value) for value in terms), terms


def test_window_sum_matches_plain_exp():
    checked = 0
    for points, x, radius in window_cases():
        expected, _, terms = plain_sum(points, x, radius, bump_reference)
        assert sum(value > 0 for value in terms) <= MAX_WINDOW_TERMS

        value = bump_window_sum(points, 0, points.size, x, 1.0 / radius, False)

        # The reference uses math.fsum (correctly rounded), which keeps the
        # 2 (k - 1) u bound of WINDOW_SUM_RTOL valid.
        if expected == 0.0:
            assert value == 0.0
        else:
            assert abs(value - expected) <= WINDOW_SUM_RTOL * expected
            checked += 1
    # Most windows must be non-empty, or the test would only check zeros.
    assert checked >= 50


def test_window_sum_derivative_matches_formula():
    checked = 0
    for points, x, radius in window_cases():
        expected, magnitude, terms = plain_sum(points, x, radius, derivative_reference)
        assert sum(value != 0 for value in terms) <= MAX_WINDOW_TERMS

        value = bump_window_sum(points, 0, points.size, x, 1.0 / radius, True)

        # B' changes sign at r = 0, so the sum may cancel: the bound of
        # WINDOW_SUM_RTOL applies relative to the sum of |B'(r)|. The factor
        # -2 r / q^2 adds the same three roundings on both sides.
        assert abs(value - expected) <= WINDOW_SUM_RTOL * magnitude
        checked += magnitude > 0
    assert checked >= 50


@pytest.mark.parametrize("r", [-0.9, -0.5, 0.0, 0.3, 0.75, 0.95])
def test_bump_derivative_matches_central_difference(r):
    step = 1e-5

    difference = (bump_reference(r + step) - bump_reference(r - step)) / (2.0 * step)

    # Central differences are second order: the error is step^2 max|B'''| / 6
    # with max|B'''| < 200 on [-0.96, 0.96], so below 4e-9. Round-off in the
    # difference quotient adds about u / step = 1e-11.
    assert kernels.bump_derivative(r) == pytest.approx(difference, rel=0, abs=1e-8)


@pytest.mark.parametrize("r", [-0.9, -0.5, 0.0, 0.3, 0.75, 0.95])
def test_bump_derivative_matches_formula(r):
    # bump_derivative rounds q = 1 - r^2 once more than (1 - r)(1 + r), and
    # an error u in q changes exp(-1/q) by a relative u / q^2, at most
    # 105 u = 1.2e-14 at r = 0.95. Libm exp and the final roundings add a few u.
    assert kernels.bump_derivative(r) == pytest.approx(derivative_reference(r), rel=3e-14)


def test_window_sum_uses_given_slice():
    points = np.array([-0.5, -0.2, 0.1, 0.3, 0.8])
    x = 0.0
    radius = 1.0

    value = bump_window_sum(points, 1, 4, x, 1.0 / radius, False)

    # The slice [1:4] contains -0.2, 0.1 and 0.3. The error bound is the one
    # of WINDOW_SUM_RTOL.
    expected = math.fsum(bump_reference(-point) for point in points[1:4])
    assert abs(value - expected) <= WINDOW_SUM_RTOL * expected


def test_window_sum_edge_points_contribute_zero():
    # x - eta and x + eta are exact in binary, so r = -1 and r = 1 exactly.
    x = 0.5
    radius = 0.25
    points = np.array([x - radius, x + radius])

    assert bump_window_sum(points, 0, 2, x, 1.0 / radius, False) == 0.0
    assert bump_window_sum(points, 0, 2, x, 1.0 / radius, True) == 0.0


def test_window_sum_edge_points_beside_center():
    x = 0.5
    radius = 0.25
    points = np.array([x - radius, x, x + radius])

    value = bump_window_sum(points, 0, 3, x, 1.0 / radius, False)

    # Only the point at r = 0 contributes exp(-1), evaluated by the inline
    # exp to within 2.3e-16 relative (one ulp is enough).
    assert value == pytest.approx(math.exp(-1.0), rel=2 * UNIT_ROUNDOFF)


def test_window_sum_empty_window_is_zero():
    points = np.array([0.0, 0.1, 0.2])

    assert bump_window_sum(points, 1, 1, 0.1, 1.0, False) == 0.0
    assert bump_window_sum(points, 1, 1, 0.1, 1.0, True) == 0.0
    assert bump_window_sum(points[:0], 0, 0, 0.1, 1.0, False) == 0.0
