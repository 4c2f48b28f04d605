"""The one rule for a tracker that fails: warn once, switch it off, let training go on.

A failure may come from anywhere in a tracker's library (a lost wandb service, a full disk under
TensorBoard's files), so any exception counts; the run folder keeps every metric whatever a tracker does.
"""

import functools
import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

log = logging.getLogger(__name__)

Method = TypeVar("Method", bound=Callable[..., Any])


@contextmanager
def tracker_guard(label: str, doing: str, off: Callable[[], None], at_end: bool = False) -> Iterator[None]:
    """Runs the block; if it raises, warns "<label> logging is off for this run: <doing> (<error>)" and calls off().

    at_end (finish): the run is over, there is nothing left to turn off for, so the failure is only logged.
    """
    try:
        yield
    except Exception as error:  # noqa: BLE001 - any tracker failure must leave training running
        if at_end:
            log.warning("%s: %s (%r); the run folder is complete", label, doing, error)
            return
        # stacklevel 3: past this generator and contextlib, at the tracker code that failed.
        warnings.warn(f"{label} logging is off for this run: {doing} ({error!r}). The run folder keeps every metric.", stacklevel=3)
        off()


class GuardedTracker:
    """A tracker whose calls go through tracker_guard: `on` says whether it still logs, `_off` switches it off."""

    label = "tracker"

    @property
    def on(self) -> bool:
        raise NotImplementedError

    def _off(self) -> None:
        raise NotImplementedError

    def _guard(self, doing: str, at_end: bool = False) -> Any:
        return tracker_guard(self.label, doing, self._off, at_end)


def guarded(doing: str) -> Callable[[Method], Method]:
    """A GuardedTracker method that does nothing once the tracker is off, and switches it off if it fails."""

    def wrap(method: Method) -> Method:
        @functools.wraps(method)
        def call(self: GuardedTracker, *args: Any, **kwargs: Any) -> None:
            if not self.on:
                return
            with self._guard(doing):
                method(self, *args, **kwargs)

        return call  # type: ignore[return-value]

    return wrap
