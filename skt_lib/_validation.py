"""Small input checks shared by the public functions.

Each check raises ``ValueError`` or ``TypeError`` whose message names the
argument, shows the value received and states what is allowed.
"""

import math
import numbers

import numpy as np


def check_real(name, value):
    """Return ``value`` as a finite float, or raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"{name} must be a real number, got {value!r} of type {type(value).__name__}"
        raise TypeError(msg)
    value = float(value)
    if not math.isfinite(value):
        msg = f"{name} must be finite, got {value!r}"
        raise ValueError(msg)
    return value


def check_positive(name, value):
    """Return ``value`` as a float if it is finite and > 0."""
    value = check_real(name, value)
    if value <= 0:
        msg = f"{name} must be > 0, got {value!r}"
        raise ValueError(msg)
    return value


def check_nonnegative(name, value):
    """Return ``value`` as a float if it is finite and >= 0."""
    value = check_real(name, value)
    if value < 0:
        msg = f"{name} must be >= 0, got {value!r}"
        raise ValueError(msg)
    return value


def check_positive_int(name, value):
    """Return ``value`` as an int if it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        msg = f"{name} must be an integer >= 1, got {value!r} of type {type(value).__name__}"
        raise TypeError(msg)
    if value < 1:
        msg = f"{name} must be an integer >= 1, got {value!r}"
        raise ValueError(msg)
    return int(value)


def check_choice(name, value, allowed):
    """Return ``value`` if it is one of ``allowed``."""
    if value not in allowed:
        options = ", ".join(repr(option) for option in allowed)
        msg = f"{name} must be one of {options}, got {value!r}"
        raise ValueError(msg)
    return value


def as_finite_array(name, value, *, ndim=None):
    """Convert ``value`` to a float64 array, rejecting non-numeric or non-finite entries."""
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError) as error:
        msg = f"{name} must contain only numbers, got {value!r}"
        raise TypeError(msg) from error
    if ndim is not None and array.ndim != ndim:
        msg = f"{name} must be a {ndim}-dimensional array, got shape {array.shape}"
        raise ValueError(msg)
    if not np.all(np.isfinite(array)):
        msg = f"{name} must contain only finite numbers, got {value!r}"
        raise ValueError(msg)
    return array
