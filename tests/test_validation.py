"""Shared input checks: messages name the argument and stay short."""

import numpy as np
import pytest

from skt_lib.convergence import piecewise_linear_quantiles, wasserstein2_to_density
from skt_lib.pde import cell_centers, kernel_convolution
from skt_lib import ModelParameters
from skt_lib._validation import as_finite_array, check_bool


def test_non_finite_entry_reported_by_index():
    values = np.zeros(10_000)
    values[1234] = np.nan
    with pytest.raises(ValueError) as caught:
        as_finite_array("sample", values)
    message = str(caught.value)
    assert "sample must contain only finite numbers, got nan at index (1234,)" in message
    assert "(1 non-finite of 10000 entries)" in message
    assert len(message) < 200


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("0.5", "got no numbers: '0.5'"),
        ([1.0 + 2.0j], "got complex numbers"),
        (None, "got no numbers: None"),
        ([1.0, None], "got no numbers"),
    ],
)
def test_non_real_values_rejected(value, pattern):
    with pytest.raises(TypeError, match=pattern):
        as_finite_array("levels", value)


def test_ragged_array_rejected():
    with pytest.raises(ValueError, match="levels must be a rectangular array"):
        as_finite_array("levels", [[1.0, 2.0], [3.0]])


def test_check_bool_rejects_strings():
    assert check_bool("progress", np.True_) is True
    with pytest.raises(TypeError, match="progress must be True or False, got 'yes'"):
        check_bool("progress", "yes")


def test_quantile_and_w2_inputs_checked():
    x = np.linspace(0.0, 1.0, 5)
    with pytest.raises(TypeError, match="levels must contain only real numbers"):
        piecewise_linear_quantiles(x, np.ones(5), "0.5")
    with pytest.raises(ValueError, match="levels must be probabilities in \\[0, 1\\], got -0.5"):
        piecewise_linear_quantiles(x, np.ones(5), [0.5, -0.5])
    with pytest.raises(ValueError, match="density must be >= 0, got -5.0 at index 2"):
        piecewise_linear_quantiles(x, [1.0, 1.0, -5.0, 1.0, 1.0], [0.5])
    with pytest.raises(ValueError, match="sample must not be empty"):
        wasserstein2_to_density([], x, np.ones(5))


def test_kernel_convolution_inputs_checked():
    parameters = ModelParameters(diffusion=[1.0], interaction=[[1.0]], radius=1.0)
    x = cell_centers((-4.0, 4.0), 16)
    density = np.exp(-x**2)[None]
    with pytest.raises(ValueError, match="density must be >= 0"):
        kernel_convolution(-density, parameters, domain=(-4.0, 4.0))
    with pytest.raises(ValueError, match="at least 3 cells"):
        kernel_convolution(np.ones((1, 0)), parameters, domain=(-4.0, 4.0))
    with pytest.raises(TypeError, match="renormalize_kernel must be True or False"):
        kernel_convolution(density, parameters, domain=(-4.0, 4.0), renormalize_kernel="no")


def test_kernel_convolution_overflow_raises():
    parameters = ModelParameters(diffusion=[1.0], interaction=[[1e300]], radius=1.0)
    x = cell_centers((-4.0, 4.0), 16)
    with pytest.raises(ValueError, match="overflows double precision"):
        kernel_convolution(1e10 * np.exp(-x**2)[None], parameters, domain=(-4.0, 4.0))


def test_quantiles_independent_of_density_scale():
    x = np.linspace(0.0, 1.0, 11)
    density = 1.0 + x
    levels = [0.1, 0.5, 0.9]
    reference = piecewise_linear_quantiles(x, density, levels)
    for scale in (1e-300, 1e300, 8e307):
        np.testing.assert_allclose(piecewise_linear_quantiles(x, scale * density, levels),
                                   reference, rtol=1e-12)
