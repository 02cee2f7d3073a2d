"""Model parameters shared by the particle simulators and the PDE solvers."""

from dataclasses import dataclass, field

import numpy as np

from skt_lib._validation import as_finite_array, check_choice, check_positive, check_real
from skt_lib.kernels import DIMENSIONS, NORMALIZATIONS, kernel_weights
from skt_lib.nonlinearity import Nonlinearity


@dataclass(frozen=True, eq=False)
class ModelParameters:
    """Coefficients of an ``n``-species cross-diffusion model.

    Parameters
    ----------
    diffusion : array_like of shape (n_species,)
        Diffusion constants ``sigma_i > 0`` (length^2 / time).
    interaction : array_like of shape (n_species, n_species)
        Interaction strengths ``a_ij >= 0``; row ``i`` acts on species ``i``.
    radius : float
        Interaction radius ``eta > 0`` of the kernel ``B_ij^eta`` (length).
    normalization : {"unit-mass", "literal"}
        Kernel normalisation, see :mod:`skt_lib.kernels`.
    nonlinearity : Nonlinearity
        ``f`` and its optional cut-off ``f_eta``; linear by default.
    potential : float
        Coefficient ``c`` of the environmental potential ``U(x) = c |x|^2 / 2``
        (drift ``-c x``). ``0`` means no potential, ``-1`` disperses as in the
        theory, ``+1`` confines.
    dimension : {1, 2}
        Space dimension.
    """

    diffusion: np.ndarray
    interaction: np.ndarray
    radius: float
    normalization: str = "unit-mass"
    nonlinearity: Nonlinearity = field(default_factory=Nonlinearity)
    potential: float = 0.0
    dimension: int = 1

    def __post_init__(self):
        diffusion = as_finite_array("diffusion", self.diffusion, ndim=1)
        if diffusion.size == 0:
            msg = "diffusion must list one value per species, got an empty list"
            raise ValueError(msg)
        if np.any(diffusion <= 0):
            msg = f"diffusion must be > 0 for every species, got {diffusion.tolist()}"
            raise ValueError(msg)
        interaction = as_finite_array("interaction", self.interaction, ndim=2)
        n_species = diffusion.size
        if interaction.shape != (n_species, n_species):
            msg = (
                f"interaction must be a {n_species} x {n_species} matrix to match the "
                f"{n_species} diffusion constants, got shape {interaction.shape}"
            )
            raise ValueError(msg)
        if np.any(interaction < 0):
            msg = f"interaction must have entries >= 0, got {interaction.tolist()}"
            raise ValueError(msg)
        if not isinstance(self.nonlinearity, Nonlinearity):
            msg = f"nonlinearity must be a Nonlinearity, got {self.nonlinearity!r}"
            raise TypeError(msg)
        diffusion.setflags(write=False)
        interaction.setflags(write=False)
        object.__setattr__(self, "diffusion", diffusion)
        object.__setattr__(self, "interaction", interaction)
        object.__setattr__(self, "radius", check_positive("radius", self.radius))
        check_choice("normalization", self.normalization, NORMALIZATIONS)
        object.__setattr__(self, "potential", check_real("potential", self.potential))
        check_choice("dimension", self.dimension, DIMENSIONS)

    @property
    def n_species(self):
        """Number of species."""
        return self.diffusion.size

    def kernel_weights(self):
        """Return ``c_ij`` with ``B_ij^eta(x) = c_ij B(|x| / eta)``."""
        return kernel_weights(
            self.interaction,
            radius=self.radius,
            normalization=self.normalization,
            dimension=self.dimension,
        )

    def swapped(self, permutation):
        """Return the parameters with the species reordered by ``permutation``."""
        permutation = np.asarray(permutation)
        return ModelParameters(
            diffusion=self.diffusion[permutation],
            interaction=self.interaction[np.ix_(permutation, permutation)],
            radius=self.radius,
            normalization=self.normalization,
            nonlinearity=self.nonlinearity,
            potential=self.potential,
            dimension=self.dimension,
        )


def check_parameters(parameters):
    """Return ``parameters`` if it is a :class:`ModelParameters`, or raise ``TypeError``."""
    if not isinstance(parameters, ModelParameters):
        msg = f"parameters must be a ModelParameters, got {type(parameters).__name__}"
        raise TypeError(msg)
    return parameters


def check_species_density(name, density, parameters, *, nonnegative=False):
    """Return ``density`` as a float array of shape (n_species, cells) that fits ``parameters``.

    Raises ``TypeError`` when ``parameters`` is not a :class:`ModelParameters`
    and ``ValueError`` naming ``name`` when the array is not finite and
    two-dimensional, has another number of species along axis 0 than
    ``parameters``, or (with ``nonnegative``) has a negative value.
    """
    check_parameters(parameters)
    density = as_finite_array(name, density, ndim=2)
    if density.shape[0] != parameters.n_species:
        msg = (f"{name} has {density.shape[0]} species (axis 0) but parameters describe "
               f"{parameters.n_species}")
        raise ValueError(msg)
    if nonnegative and np.any(density < 0):
        species, cell = np.argwhere(density < 0)[0]
        msg = (f"{name} must be >= 0, got {float(density[species, cell])!r} for species {species} "
               f"in cell {cell}")
        raise ValueError(msg)
    return density
