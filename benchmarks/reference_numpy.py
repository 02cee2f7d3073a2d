"""All-pairs NumPy reference for one Euler-Maruyama step of the 1D particle systems.

This module is written from the model equations, independently of the
compiled kernels in ``skt_lib``, so that it can check them. It builds the full
``N x N`` matrix of pair distances for every species pair, with no sorting and
no cut-off search, and evaluates ``exp`` with NumPy. It supports the linear
nonlinearity ``f(s) = s`` only. It keeps a few ``N x N`` float64 arrays in
memory at a time (1.1 GB peak resident memory measured at ``N = 5000``). All work runs on
one core, because it uses only elementwise NumPy operations and sums.

With kernel weights ``w_ij = a_ij / (Z eta)`` (``"unit-mass"``, ``Z`` the
integral of the bump over ``[-1, 1]``) or ``w_ij = a_ij / eta``
(``"literal"``), one step of length ``h`` for particle ``k`` of species ``i``
is

* SKT: ``x + (-c x) h + sqrt((2 sigma_i + 2 sum_j S_ij) h) z`` with
  ``S_ij = w_ij / N sum_{(l, j) != (k, i)} B((x_k - x_l) / eta)``;
* drift: ``x - c x h - sum_j w_ij / (N eta) sum_{(l, j) != (k, i)}
  B'((x_k - x_l) / eta) h + sqrt(2 sigma_i h) z``,

where ``B(r) = exp(-1 / (1 - r^2))`` for ``|r| < 1`` and 0 otherwise, and
``B'(r) = -2 r B(r) / (1 - r^2)^2``.
"""

import numpy as np

from skt_lib.kernels import BUMP_INTEGRAL_1D

MODELS = ("skt", "drift")
NORMALIZATIONS = ("unit-mass", "literal")


def reference_weights(interaction, radius, normalization):
    """Return the kernel weights ``a_ij / (Z eta)`` (unit-mass) or ``a_ij / eta`` (literal)."""
    if normalization not in NORMALIZATIONS:
        msg = f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}"
        raise ValueError(msg)
    weights = np.asarray(interaction, dtype=float) / radius
    if normalization == "unit-mass":
        weights = weights / BUMP_INTEGRAL_1D
    return weights


def bump_matrix(r, derivative):
    """Evaluate ``B(r)`` or, if ``derivative``, ``B'(r)`` elementwise (0 where ``|r| >= 1``)."""
    q = np.multiply(r, r)
    np.subtract(1.0, q, out=q)
    inside = q > 0.0
    q_inside = q[inside]
    del q
    values = np.zeros_like(r)
    bump_inside = np.exp(-1.0 / q_inside)
    if derivative:
        bump_inside *= -2.0 * r[inside] / (q_inside * q_inside)
    values[inside] = bump_inside
    return values


def pair_sums(target, source, radius, derivative, exclude_self):
    """Sum ``B((x_k - x_l) / eta)`` (or ``B'``) over all ``x_l`` in ``source`` for each ``x_k`` in ``target``.

    ``exclude_self`` drops the diagonal terms ``l == k``, so it is only valid
    when ``target`` and ``source`` are the same species.
    """
    r = np.subtract.outer(target, source)
    r /= radius
    values = bump_matrix(r, derivative)
    del r
    if exclude_self:
        np.fill_diagonal(values, 0.0)
    return values.sum(axis=1)


def reference_step(
    positions,
    noise,
    *,
    model,
    diffusion,
    interaction,
    radius,
    normalization="unit-mass",
    potential=0.0,
    time_step,
):
    """Advance one run by one Euler-Maruyama step with all-pairs kernel sums.

    Parameters
    ----------
    positions : ndarray of shape (n_species, N)
        Positions ``x`` at the start of the step.
    noise : ndarray of shape (n_species, N)
        Standard normal increments ``z``.
    model : {"skt", "drift"}
        Interaction through the diffusion coefficient or through the drift.
    diffusion : array_like of shape (n_species,)
        Diffusion constants ``sigma_i``.
    interaction : array_like of shape (n_species, n_species)
        Interaction strengths ``a_ij``.
    radius : float
        Kernel radius ``eta > 0``.
    normalization : {"unit-mass", "literal"}
        Kernel weights ``a_ij / (Z eta)`` or ``a_ij / eta``.
    potential : float
        Coefficient ``c`` of the drift ``-c x``.
    time_step : float
        Step length ``h > 0``.

    Returns
    -------
    ndarray of shape (n_species, N)
        Positions after the step.
    """
    x = np.asarray(positions, dtype=float)
    z = np.asarray(noise, dtype=float)
    sigma = np.asarray(diffusion, dtype=float)
    if model not in MODELS:
        msg = f"model must be one of {MODELS}, got {model!r}"
        raise ValueError(msg)
    if x.ndim != 2:
        msg = f"positions must have shape (n_species, N), got shape {x.shape}"
        raise ValueError(msg)
    if z.shape != x.shape:
        msg = f"noise must have the shape of positions {x.shape}, got {z.shape}"
        raise ValueError(msg)
    n_species, n_particles = x.shape
    if sigma.shape != (n_species,):
        msg = f"diffusion must have shape ({n_species},), got {sigma.shape}"
        raise ValueError(msg)
    if np.shape(interaction) != (n_species, n_species):
        msg = f"interaction must have shape ({n_species}, {n_species}), got {np.shape(interaction)}"
        raise ValueError(msg)
    if not radius > 0 or not time_step > 0:
        msg = f"radius and time_step must be > 0, got radius={radius!r}, time_step={time_step!r}"
        raise ValueError(msg)

    weights = reference_weights(interaction, radius, normalization)
    derivative = model == "drift"
    interaction_term = np.zeros_like(x)
    for i in range(n_species):
        for j in range(n_species):
            if weights[i, j] == 0.0:
                continue
            sums = pair_sums(x[i], x[j], radius, derivative, exclude_self=(i == j))
            interaction_term[i] += weights[i, j] * sums / n_particles

    h = time_step
    sigma = sigma[:, None]
    if model == "skt":
        amplitude = np.sqrt((2.0 * sigma + 2.0 * interaction_term) * h)
        return x - potential * x * h + amplitude * z
    drift = -potential * x - interaction_term / radius
    return x + drift * h + np.sqrt(2.0 * sigma * h) * z
