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


def check_bool(name, value):
    """Return ``value`` if it is ``True`` or ``False``, or raise ``TypeError`` naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        msg = f"{name} must be True or False, got {value!r} of type {type(value).__name__}"
        raise TypeError(msg)
    return bool(value)


def _short_repr(value, limit=200):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def as_finite_array(name, value, *, ndim=None):
    """Convert ``value`` to a float64 array, rejecting non-numeric or non-finite entries.

    Strings, complex numbers and objects that are not numbers raise
    ``TypeError``. A non-finite entry raises ``ValueError`` with its index and
    the number of such entries, not the whole array.
    """
    if isinstance(value, (str, bytes)):
        kind = "U"
    else:
        try:
            kind = np.asarray(value).dtype.kind
        except ValueError as error:
            msg = f"{name} must be a rectangular array of numbers, got {_short_repr(value)}"
            raise ValueError(msg) from error
    if kind not in "biuf":
        description = "complex numbers" if kind == "c" else "no numbers"
        msg = (f"{name} must contain only real numbers, got {description}: "
               f"{_short_repr(value)} of type {type(value).__name__}")
        raise TypeError(msg)
    array = np.array(value, dtype=float)
    if ndim is not None and array.ndim != ndim:
        msg = f"{name} must be a {ndim}-dimensional array, got shape {array.shape}"
        raise ValueError(msg)
    bad = ~np.isfinite(array)
    if np.any(bad):
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at index {first}" if first else ""
        msg = (f"{name} must contain only finite numbers, got {float(array[first])!r}{where} "
               f"({int(bad.sum())} non-finite of {array.size} entries)")
        raise ValueError(msg)
    return array
