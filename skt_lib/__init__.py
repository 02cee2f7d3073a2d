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
from skt_lib.pde import (  # noqa: E402
    NonFiniteDensityError,
    ParabolicityError,
    PDESolution,
    cell_centers,
    gaussian_density,
    solve_cross_diffusion,
)
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
    "NonFiniteDensityError",
    "NonFiniteStateError",
    "PDESolution",
    "ParabolicityError",
    "Nonlinearity",
    "ParticleSimulation",
    "cell_centers",
    "evaluate_kernel",
    "gaussian_density",
    "histogram_density",
    "kernel_weights",
    "overlap_matrix",
    "sample_gaussian_initial",
    "simulate_particles",
    "solve_cross_diffusion",
]
