"""uvb-lab: Unnormalized Variational Bayes (Saremi), DEEN and VAE energy models, reproduced."""

__version__ = "0.1.0"
