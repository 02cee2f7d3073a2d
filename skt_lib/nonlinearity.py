"""The nonlinearity ``f`` of the SKT pressure and its Lipschitz cut-off ``f_eta``.

``f`` acts on a kernel sum ``S >= 0`` (in the particle system) or on
``a_ij u_j`` (in the local PDE). Supported forms are ``f(s) = s`` and
``f(s) = s^p`` with ``p > 0``. The cut-off keeps ``f`` up to a threshold
``s_c`` and continues it linearly:

.. math::

    f_\\eta(s) = f(s) \\; (s \\le s_c), \\qquad
    f_\\eta(s) = f(s_c) + L (s - s_c) \\; (s > s_c),
    \\qquad L = \\min(f'(s_c), \\eta^{-\\alpha}).

Its Lipschitz constant is ``max(max_{[0, s_c]} f', L)``, reported by
:meth:`Nonlinearity.lipschitz_constant`.
"""

from dataclasses import dataclass

from skt_lib._jit import jit
from skt_lib._validation import check_nonnegative, check_positive

LINEAR = 0
POWER = 1


@dataclass(frozen=True)
class Nonlinearity:
    """A nonlinearity ``f``, optionally with the Lipschitz cut-off ``f_eta``.

    Parameters
    ----------
    power : float
        Exponent ``p > 0`` of ``f(s) = s^p``; ``1`` is the linear SKT case.
    threshold : float or None
        Cut-off point ``s_c >= 0`` (dimensionless); ``None`` means no cut-off.
    alpha : float
        Exponent of the slope cap ``eta^-alpha`` beyond ``threshold``
        (dimensionless, ``>= 0``). Used only with a threshold.
    """

    power: float = 1.0
    threshold: float | None = None
    alpha: float = 0.0

    def __post_init__(self):
        check_positive("power", self.power)
        if self.threshold is not None:
            check_nonnegative("threshold", self.threshold)
        check_nonnegative("alpha", self.alpha)

    @classmethod
    def from_config(cls, value):
        """Build from ``"linear"``, ``{"power": p}``, optionally with ``"cutoff"``.

        The cut-off is ``{"threshold": s_c, "alpha": alpha}``, given either
        as a ``"cutoff"`` entry next to ``"power"`` or as the only entry.
        """
        if value == "linear":
            return cls()
        if not isinstance(value, dict):
            msg = (
                "nonlinearity must be 'linear' or a mapping such as {power: 2} or "
                f"{{power: 2, cutoff: {{threshold: 50, alpha: 0.5}}}}, got {value!r}"
            )
            raise ValueError(msg)
        unknown = set(value) - {"power", "cutoff"}
        if unknown:
            msg = f"nonlinearity has unknown keys {sorted(unknown)}; allowed: power, cutoff"
            raise ValueError(msg)
        power = value.get("power", 1.0)
        cutoff = value.get("cutoff")
        if cutoff is None:
            return cls(power=power)
        if not isinstance(cutoff, dict) or set(cutoff) - {"threshold", "alpha"}:
            msg = f"nonlinearity.cutoff must be {{threshold: s, alpha: a}}, got {cutoff!r}"
            raise ValueError(msg)
        if "threshold" not in cutoff:
            msg = f"nonlinearity.cutoff is missing 'threshold', got {cutoff!r}"
            raise ValueError(msg)
        return cls(power=power, threshold=cutoff["threshold"], alpha=cutoff.get("alpha", 0.0))

    def to_config(self):
        """Return the configuration form accepted by :meth:`from_config`."""
        if self.threshold is None and self.power == 1.0:
            return "linear"
        config = {"power": self.power}
        if self.threshold is not None:
            config["cutoff"] = {"threshold": self.threshold, "alpha": self.alpha}
        return config

    def cutoff_slope(self, radius):
        """Return the slope ``min(f'(s_c), radius^-alpha)`` beyond the threshold."""
        if self.threshold is None:
            return 0.0
        check_positive("radius", radius)
        return min(self._derivative_at_threshold(), radius ** (-self.alpha))

    def _derivative_at_threshold(self):
        """Return ``f'(s_c)``, infinite for ``p < 1`` at ``s_c = 0``."""
        if self.threshold == 0.0 and self.power < 1.0:
            return float("inf")
        return self.power * self.threshold ** (self.power - 1.0)

    def lipschitz_constant(self, radius):
        """Return the Lipschitz constant of ``f_eta`` on ``[0, inf)`` (inf without cut-off)."""
        if self.threshold is None:
            return 1.0 if self.power == 1.0 else float("inf")
        # f' is increasing for p >= 1, so its maximum on [0, s_c] is f'(s_c).
        # For p < 1 it is unbounded near 0.
        inner = self._derivative_at_threshold() if self.power >= 1.0 else float("inf")
        return max(inner, self.cutoff_slope(radius))

    def compiled_parameters(self, radius):
        """Return ``(kind, power, threshold, slope)`` for :func:`apply_nonlinearity`."""
        kind = LINEAR if self.power == 1.0 else POWER
        threshold = float("inf") if self.threshold is None else float(self.threshold)
        return kind, float(self.power), threshold, float(self.cutoff_slope(radius))

    def __call__(self, s, *, radius=None):
        """Evaluate ``f_eta`` elementwise; ``radius`` (eta) is required with a cut-off."""
        import numpy as np

        if radius is None:
            if self.threshold is not None:
                msg = "radius is required to evaluate a nonlinearity with a cut-off"
                raise TypeError(msg)
            radius = 1.0
        kind, power, threshold, slope = self.compiled_parameters(radius)
        s = np.asarray(s, dtype=float)
        out = np.empty_like(s)
        flat_in, flat_out = s.reshape(-1), out.reshape(-1)
        for index in range(flat_in.size):
            flat_out[index] = apply_nonlinearity(flat_in[index], kind, power, threshold, slope)
        return out


@jit
def apply_nonlinearity(s, kind, power, threshold, slope):
    """Evaluate ``f_eta(s)`` for ``s >= 0`` from compiled parameters."""
    if s > threshold:
        base = threshold if kind == LINEAR else threshold**power
        return base + slope * (s - threshold)
    if kind == LINEAR:
        return s
    return s**power
