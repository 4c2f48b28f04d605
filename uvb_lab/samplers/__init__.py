"""Samplers of a trained model: plain functions of a ScoreModel and tensors (no Hydra, no W&B). They call its score
alone (-grad f of an energy model), so the direct denoiser, which has no energy, samples with them too.

    jump             the empirical Bayes jump y -> x_hat(y) (Eq. 2 / 3 / 20), seeded, optionally averaged over K z draws
    nebula           n gradient steps of size sigma^2 on f ("poor man's NEBULA", Sec. 3.3.1)
    langevin_walk    overdamped Langevin MCMC on f (Eq. 19)
    underdamped_walk underdamped Langevin MCMC on f, BAOAB (the author's later walk-jump samplers)
    walk_jump        a batch of Langevin chains with a jump (Eq. 20) every k steps (Sec. 3.4)
    decoder_samples  mu_y(z), z ~ N(0, I), for models with a decoder (Fig. 4)

Every function takes a seed (None: the caller's random stream) and keeps no parameter gradients.
"""

from uvb_lab.samplers.decoder_samples import decoder_samples
from uvb_lab.samplers.jump import jump
from uvb_lab.samplers.langevin import langevin_walk
from uvb_lab.samplers.nebula import nebula
from uvb_lab.samplers.underdamped import underdamped_walk
from uvb_lab.samplers.walk_jump import WalkJump, walk_jump

__all__ = ["WalkJump", "decoder_samples", "jump", "langevin_walk", "nebula", "underdamped_walk", "walk_jump"]
