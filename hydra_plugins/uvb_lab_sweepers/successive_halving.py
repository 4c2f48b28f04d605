"""uvb-lab's successive-halving sweeper where Hydra looks for sweepers: Hydra 1.3 instantiates a plugin only from
the hydra_plugins namespace (hydra.core.plugins.Plugins._instantiate). The sweeper is uvb_lab/launch/successive_halving.py."""

from uvb_lab.launch import successive_halving


class SuccessiveHalvingSweeper(successive_halving.SuccessiveHalvingSweeper):
    """hydra/sweeper=successive_halving (conf/hydra/sweeper/successive_halving.yaml)."""
