"""Whether a run's learning curve had flattened when it stopped: the relative change of a test metric over its
last epoch, read from the epoch-end evaluations of metrics.jsonl (uvb_lab/run/files.py).

-0.05 reads "fell 5% in its last epoch"; near 0, the curve is flat at the learning rate it trained with. A run
stopped mid-epoch is measured over its last two completed epochs.
"""

from pathlib import Path

from uvb_lab.run import files as run_files

SUFFIX = "_last_epoch_change"  # runs.csv's column for a metric: test_loss_last_epoch_change


def last_epoch_change(folder: Path, metric: str) -> float | None:
    """last / before - 1 of the metric at the run's last two epoch ends; None with fewer than two, or a zero before."""
    ends = [row[metric] for row in run_files.evaluations(run_files.read_metrics(folder), "epoch_end")
            if row.get(metric) is not None]
    if len(ends) < 2 or ends[-2] == 0:
        return None
    return ends[-1] / ends[-2] - 1
