"""Interaction kernels: the compactly supported bump and its scalings.

The profile is ``B(r) = exp(-1 / (1 - r^2))`` for ``0 <= r < 1`` and zero
otherwise. In dimension ``d`` the scaled kernel of radius ``eta`` between
species ``i`` and ``j`` is

.. math::

    B_{ij}^\\eta(x) = w_{ij}\\, \\eta^{-d} B(|x| / \\eta),

with ``w_ij = a_ij / Z_d`` for the ``"unit-mass"`` normalisation (so that the
integral of ``B_ij^eta`` is ``a_ij``, as in the theory) and ``w_ij = a_ij`` for
the ``"literal"`` normalisation. ``Z_d`` is the integral of ``B(|x|)`` over
``R^d``.
"""

import math

import numpy as np

from skt_lib._jit import jit
from skt_lib._validation import check_choice, check_positive

#: Integral of ``exp(-1/(1-x^2))`` over ``[-1, 1]``.
BUMP_INTEGRAL_1D = 0.443993816168079
#: Integral of ``exp(-1/(1-|x|^2))`` over the unit disc of ``R^2``.
BUMP_INTEGRAL_2D = 0.466512393178330

BUMP_INTEGRALS = {1: BUMP_INTEGRAL_1D, 2: BUMP_INTEGRAL_2D}
NORMALIZATIONS = ("unit-mass", "literal")
DIMENSIONS = (1, 2)


@jit
def bump(r):
    """Evaluate the unscaled bump ``exp(-1/(1-r^2))`` for ``|r| < 1``, else 0."""
    q = 1.0 - r * r
    if q <= 0.0:
        return 0.0
    return math.exp(-1.0 / q)


@jit
def bump_derivative(r):
    """Evaluate ``dB/dr = -2 r B(r) / (1 - r^2)^2`` for ``|r| < 1``, else 0."""
    q = 1.0 - r * r
    if q <= 0.0:
        return 0.0
    return -2.0 * r * math.exp(-1.0 / q) / (q * q)


def kernel_weights(interaction, *, radius, normalization="unit-mass", dimension=1):
    """Return the factors ``c_ij`` with ``B_ij^eta(x) = c_ij B(|x| / eta)``.

    Parameters
    ----------
    interaction : array_like of shape (n_species, n_species)
        Interaction strengths ``a_ij >= 0`` (dimensionless).
    radius : float
        Interaction radius ``eta > 0`` (length).
    normalization : {"unit-mass", "literal"}
        ``"unit-mass"`` divides by the bump integral ``Z_d`` so that each
        kernel integrates to ``a_ij``; ``"literal"`` does not.
    dimension : {1, 2}
        Space dimension ``d``.

    Returns
    -------
    ndarray of shape (n_species, n_species)
        ``a_ij eta^-d / Z_d`` or ``a_ij eta^-d``.
    """
    check_positive("radius", radius)
    check_choice("normalization", normalization, NORMALIZATIONS)
    check_choice("dimension", dimension, DIMENSIONS)
    weights = np.asarray(interaction, dtype=float) * radius ** (-dimension)
    if normalization == "unit-mass":
        weights = weights / BUMP_INTEGRALS[dimension]
    return weights


def evaluate_kernel(x, *, strength=1.0, radius, normalization="unit-mass", dimension=1):
    """Evaluate ``B^eta`` with interaction strength ``strength`` at points ``x``.

    Parameters
    ----------
    x : array_like
        Points. In dimension 1 any shape; in dimension 2 the last axis has
        length 2 and contains the coordinates.
    strength : float
        Interaction strength ``a_ij >= 0``.
    radius, normalization, dimension
        As in :func:`kernel_weights`.

    Returns
    -------
    ndarray
        Kernel values, of the shape of ``x`` (dimension 1) or of ``x`` without
        its last axis (dimension 2).
    """
    weight = kernel_weights([[strength]], radius=radius,
                            normalization=normalization, dimension=dimension)[0, 0]
    x = np.asarray(x, dtype=float)
    if dimension == 1:
        r = np.abs(x) / radius
    else:
        if x.shape[-1:] != (2,):
            msg = f"x must have a last axis of length 2 in dimension 2, got shape {x.shape}"
            raise ValueError(msg)
        r = np.hypot(x[..., 0], x[..., 1]) / radius
    q = 1.0 - r * r
    inside = q > 0
    values = np.zeros_like(r)
    values[inside] = np.exp(-1.0 / q[inside])
    return weight * values
