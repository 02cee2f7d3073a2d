"""Particle simulators and tools for the Shigesada-Kawasaki-Teramoto system."""

__version__ = "0.1.0"

from skt_lib.density import DensityEstimate, histogram_density, overlap_matrix  # noqa: E402
from skt_lib.kernels import (  # noqa: E402
    BUMP_INTEGRAL_1D,
    BUMP_INTEGRAL_2D,
    evaluate_kernel,
    kernel_weights,
)
from skt_lib.nonlinearity import Nonlinearity  # noqa: E402
from skt_lib.parameters import ModelParameters  # noqa: E402
from skt_lib.particles import (  # noqa: E402
    NonFiniteStateError,
    ParticleSimulation,
    sample_gaussian_initial,
    simulate_particles,
)

__all__ = [
    "BUMP_INTEGRAL_1D",
    "BUMP_INTEGRAL_2D",
    "DensityEstimate",
    "ModelParameters",
    "NonFiniteStateError",
    "Nonlinearity",
    "ParticleSimulation",
    "evaluate_kernel",
    "histogram_density",
    "kernel_weights",
    "overlap_matrix",
    "sample_gaussian_initial",
    "simulate_particles",
]
