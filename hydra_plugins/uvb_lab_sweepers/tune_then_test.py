"""uvb-lab's tune-then-test protocol where Hydra looks for sweepers (see successive_halving.py beside it).
The sweeper is uvb_lab/launch/tune_then_test.py."""

from uvb_lab.launch import tune_then_test


class TuneThenTestSweeper(tune_then_test.TuneThenTestSweeper):
    """hydra/sweeper=tune_then_test (conf/hydra/sweeper/tune_then_test.yaml)."""
