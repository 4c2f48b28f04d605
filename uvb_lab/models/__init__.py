"""Energy models of the noisy variable y: DEEN (a ConvNet) and UVB (a VAE's negative ELBO)."""

from uvb_lab.models.deen import DEEN
from uvb_lab.models.energy import EnergyModel
from uvb_lab.models.uvb import UVB

__all__ = ["DEEN", "EnergyModel", "UVB"]
