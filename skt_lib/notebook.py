"""Helpers for the book's notebooks: parameter checks run first in each notebook.

papermill passes ``-p name value`` on the command line as typed: ``-p progress
false`` arrives as the string ``"false"``. :func:`check_parameters` reports such
values with the correct spelling instead of letting them fail later.
"""

import numbers


def check_parameters(values, types):
    """Validate notebook parameters and return them unchanged.

    Parameters
    ----------
    values : dict
        Parameter names and values, usually ``{name: globals()[name]}``.
    types : dict
        For each name, one of ``"positive int"``, ``"positive float"``,
        ``"nonnegative int"``, ``"bool"``, ``"str"``, or a tuple of allowed
        strings.

    Raises
    ------
    TypeError or ValueError
        Naming the parameter, the value received and what is allowed.
    """
    for name, kind in types.items():
        value = values[name]
        if isinstance(kind, tuple):
            if value not in kind:
                msg = f"parameter {name}: got {value!r}; allowed: {', '.join(map(repr, kind))}"
                raise ValueError(msg)
        elif kind == "bool":
            if not isinstance(value, bool):
                msg = (f"parameter {name}: got {value!r} ({type(value).__name__}); expected "
                       "True or False (with papermill: -p name True, or -y 'name: true')")
                raise TypeError(msg)
        elif kind == "str":
            if not isinstance(value, str) or not value:
                msg = f"parameter {name}: got {value!r}; expected a non-empty string"
                raise TypeError(msg)
        elif kind in ("positive int", "nonnegative int"):
            minimum = 1 if kind == "positive int" else 0
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
                msg = f"parameter {name}: got {value!r}; expected an integer >= {minimum}"
                raise TypeError(msg) if not isinstance(value, numbers.Integral) else ValueError(msg)
        elif kind == "positive float":
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                msg = f"parameter {name}: got {value!r} ({type(value).__name__}); expected a number > 0"
                raise TypeError(msg)
            if not value > 0 or value != value or value == float("inf"):
                msg = f"parameter {name}: got {value!r}; expected a finite number > 0"
                raise ValueError(msg)
        else:
            msg = f"unknown parameter kind {kind!r} for {name}"
            raise ValueError(msg)
    return values
