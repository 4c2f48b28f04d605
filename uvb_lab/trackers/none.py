"""logger=none: no tracker, the run folder only."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any


class NoLogger:
    """logger=none: the run folder only."""

    def __init__(self, run_dir: Path, name: str, config: Mapping[str, Any], **_: Any):
        pass

    @property
    def run_id(self) -> str | None:
        return None

    def log(self, metrics: Mapping[str, Any], step: int) -> None:
        pass

    def log_summary(self, summary: Mapping[str, Any]) -> None:
        pass

    def log_images(self, images: Mapping[str, Path], step: int) -> None:
        pass

    def finish(self, exit_code: int = 0) -> None:
        pass
