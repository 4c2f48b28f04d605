"""Experiment trackers: W&B, TensorBoard, several at once, or none. The run folder is the record; a tracker
is a mirror of it that may fail (protocol.py: what the loop calls; guard.py: what happens when one fails).

conf/logger/*.yaml build them by these names (`_target_: uvb_lab.trackers.WandbLogger`, ...).
"""

from uvb_lab.trackers.fanout import Loggers
from uvb_lab.trackers.guard import GuardedTracker, guarded, tracker_guard
from uvb_lab.trackers.none import NoLogger
from uvb_lab.trackers.protocol import Tracker
from uvb_lab.trackers.tensorboard import TensorBoardLogger, identity_hparams
from uvb_lab.trackers.wandb import WandbLogger

__all__ = [
    "GuardedTracker",
    "Loggers",
    "NoLogger",
    "TensorBoardLogger",
    "Tracker",
    "WandbLogger",
    "guarded",
    "identity_hparams",
    "tracker_guard",
]
