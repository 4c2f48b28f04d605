"""The end of `uvb-train`: the figures of the trained model into the run folder and to the tracker."""

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from uvb_lab.data.images import ImageData
from uvb_lab.figures.paper_figures import FIGURES, make_figures
from uvb_lab.models.score import ScoreModel
from uvb_lab.run.summary import FIGURES_DONE, STEPS_DONE, TEST_LOSS, RunSummary
from uvb_lab.trackers import Tracker

log = logging.getLogger(__name__)


def trained_for(summary: Mapping[str, Any] | None) -> str:
    """How far the model of the figures was trained, for their titles: "step 469, test loss 25.85"."""
    if not summary or summary.get(STEPS_DONE) is None:
        return ""
    loss = summary.get(TEST_LOSS)
    return f"step {summary[STEPS_DONE]}" + (f", test loss {loss:.4g}" if isinstance(loss, int | float) else "")


def figures_after_training(
    run_dir: Path, model: ScoreModel, data: ImageData, name: str, settings: Mapping[str, Any], logger: Tracker, step: int, trained: str = ""
) -> None:
    """The end-of-training hook of uvb-train: figures into the run folder and to the tracker; a failure only warns."""
    try:
        pngs, numbers = make_figures(run_dir / FIGURES, model, data, settings, name=name, trained=trained)
        logger.log_images({f"figures/{key}": path for key, path in pngs.items()}, step=step)
        scalars = {f"figures/{key}": value for key, value in numbers.get("mixing", {}).items() if key.startswith("mean_")}
        if "x_hat_max_abs_diff_1_vs_K" in numbers:
            scalars["figures/x_hat_max_abs_diff_1_vs_K"] = numbers["x_hat_max_abs_diff_1_vs_K"]
        logger.log(scalars, step=step)
    except Exception as error:  # noqa: BLE001 - the trained model and its files matter more than its pictures
        log.warning("figures failed (%r); the run is complete, retry with: uvb-figures %s", error, run_dir, exc_info=True)


def figures_of_finished_run(
    run_dir: Path, model: ScoreModel, data: ImageData, name: str, settings: Mapping[str, Any], logger: Tracker, summary: RunSummary
) -> None:
    """The one route of a finished run's figures: figures_done false in its summary.json while they are drawn, true after,
    so that a kill while drawing them leaves a run whose relaunch draws them (runs made before the flag count as drawn)."""
    summary.write({FIGURES_DONE: False})
    figures_after_training(run_dir, model, data, name, settings, logger, summary.get(STEPS_DONE) or 0, trained_for(summary.as_dict()))
    summary.write({FIGURES_DONE: True})
