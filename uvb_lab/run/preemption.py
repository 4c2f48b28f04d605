"""Preemption: a signal becomes a request that the training loop honours at the end of its current step.

A cluster announces the end of a job with a signal ahead of the kill: SLURM sends SIGTERM on preemption
or scancel and, with `--signal`, a warning such as SIGUSR1 before the time limit; submitit asks for SIGUSR2
ahead of the time limit (Hydra's submitit launcher: signal_delay_s, 120 s by default). Dying at once would
lose everything since the last checkpoint, so the handler only records the request; the loop then saves a
checkpoint, writes summary status "preempted" and stops, and `uvb-train` exits with EXIT_CODE.

Under hydra/launcher=submitit_slurm, submitit has installed its own handler for its signal (call the
launcher's `checkpoint()`, which resubmits the same Hydra job, then requeue it and exit). `hand_over()`
calls that handler once our checkpoint is on disk: the job is requeued into the same folder and
continues there through trainer.resume=auto.
"""

import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from uvb_lab.run.files import RunStatus

log = logging.getLogger(__name__)

# uvb-train's exit status after a preemption: not 0 (the run is not finished), not 1 (failed) or 2 (bad input).
EXIT_CODE = 3
# After Ctrl-C: the shell's convention for a process ended by SIGINT (128 + 2).
INTERRUPTED_EXIT_CODE = 130


class Preemption:
    """Handlers for the given signals (names such as "SIGTERM") and Ctrl-C while installed (`with Preemption(...)`);
    `requested` says one came.

    Ctrl-C (SIGINT) is a preemption the user asked for: the step ends, a checkpoint is written and the run
    stops as `interrupted`. A second Ctrl-C raises KeyboardInterrupt at once.
    """

    def __init__(self, names: Sequence[str]):
        self.signals = [signal.Signals[name] for name in names if signal.Signals[name] != signal.SIGINT]
        self.received: signal.Signals | None = None
        self.previous: dict[signal.Signals, Any] = {}

    @property
    def requested(self) -> bool:
        return self.received is not None

    @property
    def interrupted(self) -> bool:
        return self.received == signal.SIGINT

    @property
    def reason(self) -> RunStatus:
        """How the run stops: interrupted (Ctrl-C) or preempted."""
        return RunStatus.INTERRUPTED if self.interrupted else RunStatus.PREEMPTED

    def _interrupt(self, signum: int, frame: Any) -> None:
        if self.received is not None:
            raise KeyboardInterrupt  # Ctrl-C again: stop now
        print("uvb-train: interrupted: finishing this step and saving a checkpoint (Ctrl-C again to stop at once)", file=sys.stderr)
        self.received = signal.SIGINT

    def _request(self, signum: int, frame: Any) -> None:
        # The first signal is the one handed over: under submitit SIGUSR2 (its warning) requeues, while the
        # SIGTERM that may follow it only logs.
        if self.received is None:
            log.warning("%s received: stopping after this step, with a checkpoint", signal.Signals(signum).name)
            self.received = signal.Signals(signum)

    def install(self) -> "Preemption":
        # Python delivers signals to the main thread only; elsewhere (a launcher's worker thread) we cannot listen.
        if threading.current_thread() is not threading.main_thread():
            log.warning("not in the main thread: %s will not checkpoint the run", ", ".join(s.name for s in self.signals))
            return self
        for sig in self.signals:
            self.previous[sig] = signal.signal(sig, self._request)
        self.previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._interrupt)
        return self

    def uninstall(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def __enter__(self) -> "Preemption":
        return self.install()

    def __exit__(self, *exc_info: Any) -> None:
        self.uninstall()

    def hand_over(self) -> None:
        """Pass the received signal to whoever handled it before us (submitit: requeue and exit); no-op otherwise."""
        handler = self.previous.get(self.received) if self.requested and not self.interrupted else None
        if callable(handler):
            log.info("handing %s over to %r", self.received.name, handler)
            handler(int(self.received), None)
