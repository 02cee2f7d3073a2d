"""Compiled loops of the finite-volume cross-diffusion solvers in :mod:`skt_lib.pde`.

Densities are arrays of shape ``(n_species, cells)``. A block-tridiagonal
matrix is stored as three arrays of shape ``(n_species, n_species, cells)``:
``lower[:, :, j]`` couples cell ``j`` to cell ``j - 1``, ``diag[:, :, j]`` to
itself and ``upper[:, :, j]`` to cell ``j + 1``. With periodic boundaries
``lower[:, :, 0]`` couples cell 0 to the last cell and ``upper[:, :, -1]``
the last cell to cell 0. Otherwise these two blocks are zero. The cell index
is last so that the loops over cells are long and contiguous: loops over
``n x n`` blocks of run-time size compile to slow code.

Interface ``j`` lies between cell ``j`` and cell ``j + 1``. The last interface
(index ``cells - 1``) joins the last cell to cell 0 on a periodic grid. On a
no-flux grid it is the outer boundary, and its flux is zero. A flux ``J`` is
positive to the right, and cell ``j`` changes by
``-(J_{j+1/2} - J_{j-1/2}) / dx``. Each flux enters the two cells it joins
with opposite signs, so the discrete mass changes only by round-off.

Loops multiply by ``1 / dx`` instead of dividing by ``dx``, because
divisions dominated their cost.

Every function assumes valid input: the Python layer checks shapes and values.
"""

import math

import numpy as np

from skt_lib._jit import jit
from skt_lib.nonlinearity import LINEAR, apply_nonlinearity

#: Interaction through the diffusion coefficient: ``d_xx(u_i p_i)``.
SKT = 0
#: Interaction through the drift: ``d_x(u_i d_x V_i)``.
DRIFT = 1


@jit
def nonlinearity_value(s, kind, power, threshold, slope):
    """Evaluate ``f_eta(max(s, 0))``, so that a negative Newton iterate stays finite."""
    return apply_nonlinearity(max(s, 0.0), kind, power, threshold, slope)


@jit
def nonlinearity_derivative(s, kind, power, threshold, slope):
    """Evaluate the derivative of :func:`nonlinearity_value` with respect to ``s``.

    Beyond ``threshold`` the slope is the cut-off slope. For ``s <= 0`` the
    clipped function is constant, so the derivative is 0.
    NOTE: the derivative of ``s^p`` with ``p < 1`` is unbounded near 0, so
    Newton's method converges slowly where densities vanish and may fall back
    to the linearly implicit Euler step.
    """
    if s > threshold:
        return slope
    if kind == LINEAR:
        return 1.0 if s > 0.0 else 0.0
    if s <= 0.0:
        return 0.0
    return power * s ** (power - 1.0)


@jit
def pressures(fields, diffusion, interaction, kind, power, threshold, slope, out):
    """Compute ``p_i = sigma_i + sum_k f(a_ik v_k)`` in every cell.

    ``fields`` is ``u`` for the local system and ``K * u`` (the convolution
    with the unit-strength kernel) for the nonlocal one, so ``a_ik v_k`` is
    ``a_ik u_k`` or ``B_ik^eta * u_k``.
    """
    n, m = fields.shape
    for i in range(n):
        for j in range(m):
            out[i, j] = diffusion[i]
        for k in range(n):
            a = interaction[i, k]
            for j in range(m):
                out[i, j] += nonlinearity_value(a * fields[k, j], kind, power, threshold,
                                                slope)


@jit
def frozen_fluxes(system, coefficient, diffusion, velocity, dx, periodic, left, right):
    """Compute the flux coefficients of a system whose coefficients are frozen.

    The flux through interface ``j`` is ``left[i, j] u_{i,j} - right[i, j]
    u_{i,j+1}`` with ``left, right >= 0``:

    * SKT: ``J = -(P_{j+1} u_{j+1} - P_j u_j) / dx + v^+ u_j + v^- u_{j+1}``,
      where ``coefficient`` contains the pressure ``P`` and ``v`` is the
      potential velocity ``-c x``;
    * drift: ``J = -sigma (u_{j+1} - u_j) / dx + w^+ u_j + w^- u_{j+1}``, with
      ``w = v - (V_{j+1} - V_j) / dx`` and ``coefficient`` containing ``V``.
    """
    n, m = coefficient.shape
    inv_dx = 1.0 / dx
    last = m if periodic else m - 1
    for i in range(n):
        for j in range(last):
            r = j + 1 if j + 1 < m else 0
            if system == SKT:
                speed = velocity[j]
                left[i, j] = coefficient[i, j] * inv_dx + max(speed, 0.0)
                right[i, j] = coefficient[i, r] * inv_dx - min(speed, 0.0)
            else:
                speed = velocity[j] - (coefficient[i, r] - coefficient[i, j]) * inv_dx
                left[i, j] = diffusion[i] * inv_dx + max(speed, 0.0)
                right[i, j] = diffusion[i] * inv_dx - min(speed, 0.0)
        if not periodic:
            left[i, m - 1] = 0.0
            right[i, m - 1] = 0.0


@jit
def apply_fluxes(left, right, u, dx, periodic, out):
    """Compute the time derivative ``-(J_{j+1/2} - J_{j-1/2}) / dx`` of frozen fluxes."""
    n, m = u.shape
    inv_dx = 1.0 / dx
    flux = np.empty(m)
    for i in range(n):
        for j in range(m - 1):
            flux[j] = left[i, j] * u[i, j] - right[i, j] * u[i, j + 1]
        flux[m - 1] = left[i, m - 1] * u[i, m - 1] - right[i, m - 1] * u[i, 0]
        out[i, 0] = (flux[m - 1] - flux[0]) * inv_dx
        for j in range(1, m):
            out[i, j] = (flux[j - 1] - flux[j]) * inv_dx


@jit
def assemble_frozen(left, right, alpha, h, dx, lower, diag, upper):
    """Assemble ``alpha u - h F(u)`` for frozen fluxes as a block-tridiagonal matrix.

    The blocks are diagonal because species decouple once the coefficients
    are frozen. Each species' matrix has positive diagonal, non-positive
    off-diagonals and column sums ``alpha``: it is a column diagonally
    dominant M-matrix, so its inverse is non-negative. The zero coefficients
    of the last interface of a no-flux grid (see :func:`frozen_fluxes`)
    leave the corner entries zero.
    """
    n, m = left.shape
    lower[:, :, :] = 0.0
    upper[:, :, :] = 0.0
    diag[:, :, :] = 0.0
    scale = h * (1.0 / dx)
    for i in range(n):
        diag[i, i, 0] = alpha + scale * (left[i, 0] + right[i, m - 1])
        lower[i, i, 0] = -scale * left[i, m - 1]
        for j in range(1, m):
            diag[i, i, j] = alpha + scale * (left[i, j] + right[i, j - 1])
            lower[i, i, j] = -scale * left[i, j - 1]
        for j in range(m):
            upper[i, i, j] = -scale * right[i, j]


@jit
def _skt_pressure_derivatives(u, diffusion, interaction, kind, power, threshold, slope,
                              inv_dx, field, jac):
    """Compute ``field = u_i p_i`` and ``jac[i, k] = d(u_i p_i)/du_k / dx`` in every cell."""
    n, m = u.shape
    pressures(u, diffusion, interaction, kind, power, threshold, slope, field)
    for i in range(n):
        for k in range(n):
            a = interaction[i, k]
            for j in range(m):
                derivative = nonlinearity_derivative(a * u[k, j], kind, power, threshold, slope)
                jac[i, k, j] = u[i, j] * a * derivative * inv_dx
        for j in range(m):
            jac[i, i, j] += field[i, j] * inv_dx
            field[i, j] *= u[i, j]


@jit
def assemble_newton(system, u, target, alpha, h, diffusion, interaction, velocity, dx,
                    periodic, kind, power, threshold, slope, residual, lower, diag, upper):
    """Assemble the Newton system of ``G(u) = alpha u - h F(u) - target`` (local systems).

    ``F`` is the finite-volume right-hand side of the local SKT system
    (``system == SKT``) or of the local mean-field system (``DRIFT``).
    ``residual`` receives ``G(u)``, and ``lower``, ``diag``, ``upper`` the
    blocks of ``dG/du``. With ``J_R`` and ``J_L`` the fluxes through the right
    and left interfaces of cell ``j``, row block ``j`` is
    ``diag = alpha I + h/dx (dJ_R/du_j - dJ_L/du_j)``,
    ``upper = h/dx dJ_R/du_{j+1}`` and ``lower = -h/dx dJ_L/du_{j-1}``.
    """
    n, m = u.shape
    inv_dx = 1.0 / dx
    scale = h * inv_dx
    # Interface m - 1 (the boundary of a no-flux grid) contributes only when
    # the grid is periodic.
    closing = 1.0 if periodic else 0.0
    field = np.empty((n, m))
    jac = np.empty((n, n, m))
    if system == SKT:
        _skt_pressure_derivatives(u, diffusion, interaction, kind, power, threshold, slope,
                                  inv_dx, field, jac)
    else:
        # field = V_i = sum_k a_ik u_k, the interaction potential
        field[:, :] = 0.0
        for i in range(n):
            for k in range(n):
                a = interaction[i, k]
                for j in range(m):
                    field[i, j] += a * u[k, j]

    # Flux, transport speed and upwind density at every interface.
    flux = np.empty((n, m))
    speed = np.empty((n, m))
    upwind = np.empty((n, m))
    for i in range(n):
        for j in range(m):
            r = j + 1 if j + 1 < m else 0
            if system == SKT:
                s = velocity[j]
                diffusive = -(field[i, r] - field[i, j]) * inv_dx
            else:
                s = velocity[j] - (field[i, r] - field[i, j]) * inv_dx
                diffusive = -diffusion[i] * (u[i, r] - u[i, j]) * inv_dx
            value = u[i, j] if s > 0.0 else u[i, r]
            flux[i, j] = diffusive + s * value
            speed[i, j] = s
            upwind[i, j] = value
        if not periodic:
            flux[i, m - 1] = 0.0
            speed[i, m - 1] = 0.0
            upwind[i, m - 1] = 0.0

    for i in range(n):
        residual[i, 0] = alpha * u[i, 0] - target[i, 0] + scale * (flux[i, 0] - flux[i, m - 1])
        for j in range(1, m):
            residual[i, j] = (alpha * u[i, j] - target[i, j]
                              + scale * (flux[i, j] - flux[i, j - 1]))

    for i in range(n):
        for k in range(n):
            if system == SKT:
                # dJ_R/du_j = jac_j, dJ_R/du_{j+1} = -jac_{j+1},
                # dJ_L/du_j = -jac_j, dJ_L/du_{j-1} = jac_{j-1} (plus upwinding).
                for j in range(1, m - 1):
                    diag[i, k, j] = 2.0 * scale * jac[i, k, j]
                    upper[i, k, j] = -scale * jac[i, k, j + 1]
                    lower[i, k, j] = -scale * jac[i, k, j - 1]
                diag[i, k, 0] = (1.0 + closing) * scale * jac[i, k, 0]
                upper[i, k, 0] = -scale * jac[i, k, 1]
                lower[i, k, 0] = -closing * scale * jac[i, k, m - 1]
                diag[i, k, m - 1] = (1.0 + closing) * scale * jac[i, k, m - 1]
                upper[i, k, m - 1] = -closing * scale * jac[i, k, 0]
                lower[i, k, m - 1] = -scale * jac[i, k, m - 2]
            else:
                # The flux speed * upwind changes with u_k through
                # d(speed)/du_{k, left} = a_ik / dx and d(speed)/du_{k, right} = -a_ik / dx.
                # The upwind density of a no-flux boundary is 0, which drops its terms.
                coupling = scale * interaction[i, k] * inv_dx
                diag[i, k, 0] = (upwind[i, 0] + upwind[i, m - 1]) * coupling
                upper[i, k, 0] = -upwind[i, 0] * coupling
                lower[i, k, 0] = -upwind[i, m - 1] * coupling
                for j in range(1, m):
                    diag[i, k, j] = (upwind[i, j] + upwind[i, j - 1]) * coupling
                    upper[i, k, j] = -upwind[i, j] * coupling
                    lower[i, k, j] = -upwind[i, j - 1] * coupling

        # Diagonal blocks: alpha, the upwinded transport and, for the drift
        # system, the linear diffusion sigma_i.
        if system == SKT:
            linear = 0.0
        else:
            linear = scale * diffusion[i] * inv_dx
        for j in range(m):
            left_interface = j - 1 if j > 0 else m - 1
            has_left = 1.0 if (j > 0 or periodic) else 0.0
            has_right = 1.0 if (j < m - 1 or periodic) else 0.0
            s_right = speed[i, j]
            s_left = speed[i, left_interface]
            diag[i, i, j] += alpha + scale * (max(s_right, 0.0) - min(s_left, 0.0)) + (
                has_left + has_right) * linear
            upper[i, i, j] += scale * min(s_right, 0.0) - has_right * linear
            lower[i, i, j] -= scale * max(s_left, 0.0) + has_left * linear


@jit
def _lu_factor(a, pivots):
    """Factor the square matrix ``a`` in place by Gaussian elimination with partial pivoting."""
    n = a.shape[0]
    for c in range(n):
        pivot_row = c
        largest = abs(a[c, c])
        for r in range(c + 1, n):
            if abs(a[r, c]) > largest:
                largest = abs(a[r, c])
                pivot_row = r
        pivots[c] = pivot_row
        if pivot_row != c:
            for q in range(n):
                a[c, q], a[pivot_row, q] = a[pivot_row, q], a[c, q]
        pivot = a[c, c]
        for r in range(c + 1, n):
            factor = a[r, c] / pivot
            a[r, c] = factor
            if factor != 0.0:
                for q in range(c + 1, n):
                    a[r, q] -= factor * a[c, q]


@jit
def _lu_solve(a, pivots, b):
    """Overwrite ``b`` of shape (n, k) with ``A^-1 b`` from the factors of :func:`_lu_factor`."""
    n, k = b.shape
    # The factorisation swapped whole rows, multipliers included, so all
    # interchanges are applied before the forward substitution.
    for c in range(n):
        pivot_row = pivots[c]
        if pivot_row != c:
            for q in range(k):
                b[c, q], b[pivot_row, q] = b[pivot_row, q], b[c, q]
    for c in range(n):
        for r in range(c + 1, n):
            factor = a[r, c]
            if factor != 0.0:
                for q in range(k):
                    b[r, q] -= factor * b[c, q]
    for c in range(n - 1, -1, -1):
        for q in range(k):
            total = b[c, q]
            for s in range(c + 1, n):
                total -= a[c, s] * b[s, q]
            b[c, q] = total / a[c, c]


@jit
def _block_thomas(lower, diag, upper, rhs):
    """Overwrite ``rhs`` of shape (k, n, cells) with the solution of the open block system.

    Block Gaussian elimination without pivoting between blocks (the block
    Thomas algorithm), ``O(cells n^3)`` for ``k`` right-hand sides at once.
    ``lower[:, :, 0]`` and ``upper[:, :, -1]`` are ignored. For an M-matrix
    with non-negative right-hand side every intermediate quantity keeps its
    sign, so the solution is non-negative in floating point as well.
    """
    n = diag.shape[0]
    if n == 1:
        _thomas_scalar(lower, diag, upper, rhs)
    elif n == 2:
        _block_thomas_two(lower, diag, upper, rhs)
    else:
        _block_thomas_general(lower, diag, upper, rhs)


@jit
def _thomas_scalar(lower, diag, upper, rhs):
    """Run :func:`_block_thomas` for 1 x 1 blocks (the Thomas algorithm)."""
    m = diag.shape[2]
    k = rhs.shape[0]
    factors = np.empty(m)
    pivot = diag[0, 0, 0]
    for j in range(m):
        if j > 0:
            pivot = diag[0, 0, j] - lower[0, 0, j] * factors[j - 1]
            for c in range(k):
                rhs[c, 0, j] -= lower[0, 0, j] * rhs[c, 0, j - 1]
        inverse = 1.0 / pivot
        for c in range(k):
            rhs[c, 0, j] *= inverse
        factors[j] = upper[0, 0, j] * inverse
    for j in range(m - 2, -1, -1):
        for c in range(k):
            rhs[c, 0, j] -= factors[j] * rhs[c, 0, j + 1]


@jit
def _block_thomas_two(lower, diag, upper, rhs):
    """Run :func:`_block_thomas` for 2 x 2 blocks, inverting them by Cramer's rule.

    Cramer's rule keeps the sign argument of :func:`_block_thomas`: for
    diagonal blocks the off-diagonal products are zeros.
    """
    m = diag.shape[2]
    k = rhs.shape[0]
    f00 = np.empty(m)
    f01 = np.empty(m)
    f10 = np.empty(m)
    f11 = np.empty(m)
    for j in range(m):
        a00 = diag[0, 0, j]
        a01 = diag[0, 1, j]
        a10 = diag[1, 0, j]
        a11 = diag[1, 1, j]
        if j > 0:
            l00 = lower[0, 0, j]
            l01 = lower[0, 1, j]
            l10 = lower[1, 0, j]
            l11 = lower[1, 1, j]
            a00 -= l00 * f00[j - 1] + l01 * f10[j - 1]
            a01 -= l00 * f01[j - 1] + l01 * f11[j - 1]
            a10 -= l10 * f00[j - 1] + l11 * f10[j - 1]
            a11 -= l10 * f01[j - 1] + l11 * f11[j - 1]
            for c in range(k):
                r0 = rhs[c, 0, j] - (l00 * rhs[c, 0, j - 1] + l01 * rhs[c, 1, j - 1])
                r1 = rhs[c, 1, j] - (l10 * rhs[c, 0, j - 1] + l11 * rhs[c, 1, j - 1])
                rhs[c, 0, j] = r0
                rhs[c, 1, j] = r1
        inverse_determinant = 1.0 / (a00 * a11 - a01 * a10)
        i00 = a11 * inverse_determinant
        i01 = -a01 * inverse_determinant
        i10 = -a10 * inverse_determinant
        i11 = a00 * inverse_determinant
        for c in range(k):
            r0 = rhs[c, 0, j]
            r1 = rhs[c, 1, j]
            rhs[c, 0, j] = i00 * r0 + i01 * r1
            rhs[c, 1, j] = i10 * r0 + i11 * r1
        u00 = upper[0, 0, j]
        u01 = upper[0, 1, j]
        u10 = upper[1, 0, j]
        u11 = upper[1, 1, j]
        f00[j] = i00 * u00 + i01 * u10
        f01[j] = i00 * u01 + i01 * u11
        f10[j] = i10 * u00 + i11 * u10
        f11[j] = i10 * u01 + i11 * u11
    for j in range(m - 2, -1, -1):
        for c in range(k):
            x0 = rhs[c, 0, j + 1]
            x1 = rhs[c, 1, j + 1]
            rhs[c, 0, j] -= f00[j] * x0 + f01[j] * x1
            rhs[c, 1, j] -= f10[j] * x0 + f11[j] * x1


@jit
def _block_thomas_general(lower, diag, upper, rhs):
    """Run :func:`_block_thomas` for blocks of any size, with LU factors of each pivot block."""
    n, _, m = diag.shape
    k = rhs.shape[0]
    factors = np.empty((m, n, n))
    work = np.empty((n, n))
    column = np.empty((n, k))
    pivots = np.empty(n, dtype=np.int64)
    for j in range(m):
        for r in range(n):
            for c in range(n):
                total = diag[r, c, j]
                if j > 0:
                    for q in range(n):
                        total -= lower[r, q, j] * factors[j - 1, q, c]
                work[r, c] = total
        for r in range(n):
            for c in range(k):
                total = rhs[c, r, j]
                if j > 0:
                    for q in range(n):
                        total -= lower[r, q, j] * rhs[c, q, j - 1]
                column[r, c] = total
        _lu_factor(work, pivots)
        _lu_solve(work, pivots, column)
        for r in range(n):
            for c in range(k):
                rhs[c, r, j] = column[r, c]
        for r in range(n):
            for c in range(n):
                factors[j, r, c] = upper[r, c, j]
        _lu_solve(work, pivots, factors[j])
    for j in range(m - 2, -1, -1):
        for r in range(n):
            for c in range(k):
                total = rhs[c, r, j]
                for q in range(n):
                    total -= factors[j, r, q] * rhs[c, q, j + 1]
                rhs[c, r, j] = total


@jit
def solve_block_tridiagonal(lower, diag, upper, rhs, periodic):
    """Solve a block-tridiagonal system for ``rhs`` of shape (n, cells).

    Returns the solution with the shape of ``rhs``. A periodic system is the
    open one plus the two corner blocks, a rank-``2n`` correction, which the
    Sherman-Morrison-Woodbury formula handles with ``2n`` extra right-hand
    sides of the open solve and one ``2n x 2n`` system.
    """
    n, m = rhs.shape
    columns = 1 + 2 * n if periodic else 1
    work = np.zeros((columns, n, m))
    work[0] = rhs
    if not periodic:
        _block_thomas(lower, diag, upper, work)
        return work[0].copy()

    for i in range(n):
        work[1 + i, i, 0] = 1.0
        work[1 + n + i, i, m - 1] = 1.0
    _block_thomas(lower, diag, upper, work)
    # Corner blocks: lower[:, :, 0] couples row 0 to x_{m-1}, and
    # upper[:, :, m-1] couples row m-1 to x_0.
    size = 2 * n
    capacitance = np.zeros((size, size))
    coupling = np.zeros((size, 1))
    for r in range(n):
        for c in range(size):
            total_top = 0.0
            total_bottom = 0.0
            for q in range(n):
                total_top += lower[r, q, 0] * work[1 + c, q, m - 1]
                total_bottom += upper[r, q, m - 1] * work[1 + c, q, 0]
            capacitance[r, c] = total_top
            capacitance[n + r, c] = total_bottom
        capacitance[r, r] += 1.0
        capacitance[n + r, n + r] += 1.0
        top = 0.0
        bottom = 0.0
        for q in range(n):
            top += lower[r, q, 0] * work[0, q, m - 1]
            bottom += upper[r, q, m - 1] * work[0, q, 0]
        coupling[r, 0] = top
        coupling[n + r, 0] = bottom
    pivots = np.empty(size, dtype=np.int64)
    _lu_factor(capacitance, pivots)
    _lu_solve(capacitance, pivots, coupling)
    solution = work[0].copy()
    for c in range(size):
        weight = coupling[c, 0]
        for i in range(n):
            for j in range(m):
                solution[i, j] -= work[1 + c, i, j] * weight
    return solution


@jit
def diffusion_matrices(system, u, diffusion, interaction, kind, power, threshold, slope,
                       out):
    """Fill ``out[:, :, j]`` with the diffusion matrix ``A(u)`` of a local system in cell ``j``.

    Writing the system as ``d_t u = d_x(A(u) d_x u) + drift``:

    * SKT: ``A_ik = delta_ik p_i + u_i a_ik f'(a_ik u_k)``;
    * drift: ``A_ik = delta_ik sigma_i + a_ik u_i``.
    """
    n, m = u.shape
    if system == SKT:
        field = np.empty((n, m))
        _skt_pressure_derivatives(u, diffusion, interaction, kind, power, threshold, slope,
                                  1.0, field, out)
        return
    for i in range(n):
        for k in range(n):
            a = interaction[i, k]
            for j in range(m):
                out[i, k, j] = a * u[i, j]
        for j in range(m):
            out[i, i, j] += diffusion[i]


@jit
def _gershgorin_bound(matrix, scale):
    """Return a lower bound of the real parts of the eigenvalues of ``S^-1 A S``.

    ``S = diag(scale)``. A similarity keeps the eigenvalues, and every
    eigenvalue lies in a disc centred at a diagonal entry with the off-diagonal
    row sum as radius (Gershgorin), or the same with column sums.
    """
    n = matrix.shape[0]
    row_bound = math.inf
    column_bound = math.inf
    for i in range(n):
        row_radius = 0.0
        column_radius = 0.0
        for k in range(n):
            if k != i:
                row_radius += abs(matrix[i, k]) * scale[k] / scale[i]
                column_radius += abs(matrix[k, i]) * scale[i] / scale[k]
        row_bound = min(row_bound, matrix[i, i] - row_radius)
        column_bound = min(column_bound, matrix[i, i] - column_radius)
    return max(row_bound, column_bound)


@jit
def parabolicity_margins(system, u, diffusion, interaction, kind, power, threshold, slope,
                         out):
    """Compute in ``out[j]`` a parabolicity margin of the diffusion matrix in cell ``j``.

    ``out[j] > 0`` exactly when every eigenvalue of ``A(u_j)`` has a positive
    real part. For one or two species ``out[j]`` is the smallest real part of the
    eigenvalues. For more species ``out[j]`` is a Gershgorin lower bound where
    that bound is positive, so it can be smaller than the true margin, and the
    smallest real part otherwise. The Gershgorin test is applied to ``A`` and
    to ``D^-1 A D`` with ``D = diag(u_j)``, which proves the linear SKT matrix
    parabolic for every ``u >= 0``.
    """
    n, m = u.shape
    matrices = np.empty((n, n, m))
    diffusion_matrices(system, u, diffusion, interaction, kind, power, threshold, slope,
                       matrices)
    if n == 1:
        for j in range(m):
            out[j] = matrices[0, 0, j]
        return
    if n == 2:
        for j in range(m):
            half_trace = 0.5 * (matrices[0, 0, j] + matrices[1, 1, j])
            determinant = (matrices[0, 0, j] * matrices[1, 1, j]
                           - matrices[0, 1, j] * matrices[1, 0, j])
            discriminant = half_trace * half_trace - determinant
            if discriminant <= 0.0:
                out[j] = half_trace
            else:
                out[j] = half_trace - math.sqrt(discriminant)
        return
    matrix = np.empty((n, n))
    ones = np.ones(n)
    scale = np.empty(n)
    for j in range(m):
        for i in range(n):
            for k in range(n):
                matrix[i, k] = matrices[i, k, j]
            scale[i] = u[i, j] if u[i, j] > 0.0 else 1.0
        bound = max(_gershgorin_bound(matrix, ones), _gershgorin_bound(matrix, scale))
        if bound > 0.0:
            out[j] = bound
        else:
            eigenvalues = np.linalg.eigvals(matrix.astype(np.complex128))
            smallest = math.inf
            for value in eigenvalues:
                smallest = min(smallest, value.real)
            out[j] = smallest
