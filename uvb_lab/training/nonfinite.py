"""What a run does about a non-finite loss or gradient (trainer.skip_nonfinite).

The default stops the run at the next training-curve row (every trainer.log_every_steps) or evaluation with the
first bad step named, and keeps the last good checkpoint: a NaN model is worth nothing to continue from. The step
is noted on the device and read only where the loop reads the device anyway, so the default costs no GPU wait per
step. skip_nonfinite=true instead skips the
update (the train step does) and counts it, which reads a flag every step.
"""

import logging
from pathlib import Path

import torch

from uvb_lab.run import checkpoint

log = logging.getLogger(__name__)


class NonFinitePolicy:
    def __init__(self, skip: bool, run_dir: Path, device: torch.device):
        self.skip = skip
        self.run_dir = run_dir
        self.first_bad_step = torch.full((), -1, dtype=torch.long, device=device)  # -1: none yet

    def counts(self, finite: torch.Tensor, step: int) -> bool:
        """Whether the step's loss goes into the curves. finite: the step's flag; step: its number (1-based)."""
        if self.skip and not finite.item():  # a CPU tensor when skipping: no second wait
            log.warning("step %d: non-finite loss or gradient, step skipped (trainer.skip_nonfinite)", step)
            return False
        self.first_bad_step = torch.where((self.first_bad_step < 0) & ~finite, step, self.first_bad_step)
        return True

    def stop_if_seen(self, step: int) -> None:
        """FloatingPointError naming the first bad step and the way on, if a non-finite step was noted."""
        bad_step = int(self.first_bad_step.item())
        if bad_step < 0:
            return
        # skip_nonfinite does not change which run this is; another lr is another run, in its own folder.
        where = (
            f"The last good checkpoint is in {self.run_dir / checkpoint.FOLDER}: continue it with trainer.skip_nonfinite=true, "
            "or start another run with a smaller trainer.lr"
            if checkpoint.exists(self.run_dir)
            else "No checkpoint was saved before it: run again with trainer.skip_nonfinite=true or a smaller trainer.lr"
        )
        raise FloatingPointError(f"the training loss was not finite at step {bad_step}; stopped at step {step}. {where}")
