"""The settings of a paper table's cell: what `uvb-train -m +experiment=E model=M sigma=S` runs.

A run fills a paper cell only where its identity, trainer.seed aside, is that command's: the paper's sizes,
data, loss, lr, batch size, ... exactly as conf/experiment/ sets them, and where it was asked for that
command's epochs (not identity: more epochs continue a run; its summary says how many it was asked for).
"""

import functools
from collections.abc import Mapping
from typing import Any

from uvb_lab.compose import compose_config, hydra_state_kept
from uvb_lab.run import identity as run_identity

SEED = "trainer.seed"

# The experiment behind each table: Table 2 / Table 3 by dataset, and Tables 4, 5 and Remark 4.
SIGMA_TABLE_EXPERIMENTS = {"mnist": "table2_mnist", "cifar10": "table3_cifar10"}
TABLES_4_5_EXPERIMENT = "table45_mnist"
# Smaller versions of a paper table that a CPU finishes, by dataset: reported in the table's layout, beside the
# paper's values, with the settings that differ from the paper's in a footnote (tables.sigma_table).
REDUCED_SIGMA_TABLE_EXPERIMENTS = {"mnist": ("table2_mnist_cpu",)}


def without_seed(identity: Mapping[str, Any]) -> dict[str, Any]:
    """The identity less trainer.seed: what runs that differ only by their seed share."""
    return {key: value for key, value in identity.items() if key != SEED}


@functools.lru_cache(maxsize=128)
def _composed(experiment: str, model: str, sigma: float) -> tuple[tuple[tuple[str, Any], ...], int]:
    with hydra_state_kept():  # compose_config sets Hydra's config to its composition: the caller's comes back
        cfg = compose_config([f"+experiment={experiment}", f"model={model}", f"sigma={sigma!r}"])
        return tuple(run_identity.identity(cfg).items()), int(cfg.trainer.epochs)


def table_settings(experiment: str, model: str, sigma: float) -> tuple[dict[str, Any], int]:
    """The identity and the epochs of the experiment's run of this model at this sigma (composed once per process)."""
    identity, epochs = _composed(experiment, model, round(float(sigma), 6))
    return dict(identity), epochs


def settings_differences(experiment: str, paper_experiment: str, model: str, sigma: float) -> list[str]:
    """What `+experiment=experiment` sets differently from the paper's `+experiment=paper_experiment` for this model
    and sigma: "model.hidden 32 (paper 200)", ..., and the epochs."""
    ours, ours_epochs = table_settings(experiment, model, sigma)
    paper, paper_epochs = table_settings(paper_experiment, model, sigma)
    differ = [f"{key} {value} (paper {wanted})" for key, value, wanted in run_identity.differences(ours, paper, paper)]
    if ours_epochs != paper_epochs:
        differ.append(f"{ours_epochs} epochs (paper {paper_epochs})")
    return differ
