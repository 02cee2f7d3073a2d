"""One place for the numba settings used by every compiled kernel.

``cache=True`` stores compiled machine code next to the sources so a second
process starts fast. ``error_model="numpy"`` makes a float division by zero
return ``inf`` instead of raising, which the bump kernel relies on at the edge
of its support (``exp(-1/0) == 0``). By default no fastmath flags are set.
``reassociate=True`` allows only reassociation and fused multiply-add (the
LLVM flags ``reassoc`` and ``contract``), which lets LLVM vectorise sums. It
never sets ``nnan`` or ``ninf``, so NaN and infinity keep their IEEE meaning
and the finiteness checks stay valid. Reassociated sums are still
deterministic for a given machine and input.
"""

import numba

_SETTINGS = {"cache": True, "nogil": True, "error_model": "numpy"}


def jit(function=None, *, parallel=False, reassociate=False, inline=False):
    """Compile ``function`` with the project's numba settings.

    ``inline=True`` inlines the function into its callers at the numba IR
    level, so that a loop calling it can still be vectorised.
    """
    fastmath = {"reassoc", "contract"} if reassociate else False
    options = dict(_SETTINGS, parallel=parallel, fastmath=fastmath)
    if inline:
        options["inline"] = "always"

    def decorate(inner):
        return numba.njit(**options)(inner)

    if function is None:
        return decorate
    return decorate(function)
