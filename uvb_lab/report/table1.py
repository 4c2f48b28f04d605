"""Table 1, dim(theta), straight from the configs: each model built at paper size without running anything.

The models are built on PyTorch's meta device, so no weights are allocated or initialised: counting the
parameters of the 4e7-parameter CIFAR-10 UVB takes no memory and no time.
"""

import torch
from hydra.utils import instantiate

from uvb_lab import paper
from uvb_lab.compose import compose_config
from uvb_lab.models.names import SIGMA_TABLE_PAIR, display_name
from uvb_lab.report.tables import DATASET_NAMES, Table, delta_percent

MODELS = SIGMA_TABLE_PAIR  # Table 1 counts the parameters of the models Tables 2 and 3 compare
DATASETS = ("mnist", "cifar10")


def count_parameters(model: str, dataset: str, overrides: tuple[str, ...] = ()) -> int:
    """dim(theta) of conf/model/<model>.yaml sized for conf/data/<dataset>.yaml, plus any overrides."""
    cfg = compose_config([f"model={model}", f"data={dataset}", *overrides])  # as uvb-train composes it
    with torch.device("meta"):
        network = instantiate(cfg.model)
    return sum(p.numel() for p in network.parameters())


def table1(overrides: tuple[str, ...] = ()) -> Table:
    """Rows UVB / DEEN, a column per dataset; each cell 'ours / paper (delta %)', ours exact."""
    table = Table("table1", "Table 1: dim(θ), counted from the configs (ours exact, docs/reproduction.md's exact counts unless marked)", ["model", *(DATASET_NAMES[d] for d in DATASETS)])
    for model in MODELS:
        row = [display_name(model)]
        for dataset in DATASETS:
            ours, reference = count_parameters(model, dataset, overrides), paper.TABLE1_PAPER[(model, dataset)]
            exact = paper.TABLE1_EXACT[(model, dataset)]
            notes = [] if ours == exact else [f"differs from the exact count in docs/reproduction.md, {exact:,}"]
            delta = delta_percent(ours, reference)
            table.record(display_name(model), "dim_theta", ours, reference, notes, delta_percent=delta, model=model, dataset=dataset)
            paper_text = f"{reference:.1e}".replace("e+0", "e")  # 2.7e7, as the paper prints it
            row.append(f"{ours:,} / {paper_text} ({delta:+.1f}%){table.mark(notes)}")
        table.rows.append(row)
    return table
