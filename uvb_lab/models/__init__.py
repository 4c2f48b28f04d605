"""The models of the noisy variable y: energy models DEEN (a ConvNet) and UVB (a VAE's negative ELBO), and the direct
denoiser (a ConvNet's unconstrained score); every one a ScoreModel, whose score gives the denoiser x_hat."""

from uvb_lab.models.deen import DEEN
from uvb_lab.models.denoiser import Denoiser
from uvb_lab.models.energy import EnergyModel
from uvb_lab.models.score import ScoreModel
from uvb_lab.models.uvb import UVB

__all__ = ["DEEN", "UVB", "Denoiser", "EnergyModel", "ScoreModel"]
