"""How well a sampler mixes, as numbers: which classes a chain of jump samples visits, and how fast.

Beyond the paper, which shows "all ten digits in a single run" by eye (Fig. 3): given the class of every
jump sample of one chain (from uvb_lab/figures/classifier.py), these pure functions say how many classes the
chain visited, how often it changed class, and by which jump it had seen them all.
"""

import logging
from collections.abc import Sequence
from typing import Any

import torch

from uvb_lab.data.images import ImageData
from uvb_lab.figures.classifier import classify, load_or_train_classifier

log = logging.getLogger(__name__)

# Mixing numbers count digit classes: they need labelled data with at least this many classes, and a classifier
# that tells them apart (test accuracy at least MIN_ACCURACY), else they would count the classifier's mistakes.
MIN_CLASSES = 10
MIN_ACCURACY = 0.9


def classes_visited(labels: Sequence[int]) -> list[int]:
    """The distinct classes in the chain, sorted."""
    return sorted(set(int(c) for c in labels))


def class_changes_per_100_jumps(labels: Sequence[int]) -> float:
    """100 * (number of consecutive jumps with different classes) / (number of consecutive pairs).

    A chain that never leaves one class scores 0; one that changes class at every jump scores 100.
    """
    if len(labels) < 2:
        raise ValueError(f"class changes need a chain of at least 2 jumps, got {len(labels)}")
    changes = sum(int(a) != int(b) for a, b in zip(labels[:-1], labels[1:]))
    return 100.0 * changes / (len(labels) - 1)


def jump_all_classes_seen(labels: Sequence[int], num_classes: int) -> int | None:
    """The jump (1-based, as counted in Fig. 3) at which the last of num_classes classes first appeared; None if never."""
    seen: set[int] = set()
    for jump, label in enumerate(labels, start=1):
        seen.add(int(label))
        if len(seen) == num_classes:
            return jump
    return None


def mixing_numbers(labels: Sequence[int], num_classes: int) -> dict[str, Any]:
    """All three numbers of one chain, as saved in RUN_DIR/figures/numbers.json."""
    visited = classes_visited(labels)
    return {
        "jumps": len(labels),
        "classes_visited": visited,
        "num_classes_visited": len(visited),
        "class_changes_per_100_jumps": class_changes_per_100_jumps(labels),
        "jump_all_classes_seen": jump_all_classes_seen(labels, num_classes),
    }


def no_mixing_reason(data: ImageData, jumps: int) -> str | None:
    """Why mixing numbers would mean nothing for this data, or None where they mean something."""
    if data.train_labels is None:
        return f"{data.name} has no labels, so no classes to count"
    if data.num_classes < MIN_CLASSES:
        return f"{data.name} has {data.num_classes} classes, fewer than {MIN_CLASSES}"
    if jumps < 2:
        return "one jump has no class changes to count"
    return None


def chain_mixing(
    jumps: torch.Tensor,
    data: ImageData,
    name: str,
    delta: float,
    steps_per_jump: int,
    classifier_epochs: int,
    cache_dir: str,
    device: torch.device,
) -> dict[str, Any]:
    """{"mixing": numbers} of walk-jump chains, jumps of shape (J, chains, C, H, W), from a classifier's labels;
    {"mixing_skipped": why} where the classifier is not good enough to count classes with."""
    num_jumps, chains = jumps.shape[:2]
    judge = load_or_train_classifier(data, cache_dir, classifier_epochs, device)
    if judge.test_accuracy < MIN_ACCURACY:
        why = f"the classifier reached {100 * judge.test_accuracy:.1f}% test accuracy, below {100 * MIN_ACCURACY:.0f}%"
        log.info("%s: no mixing numbers: %s", name, why)
        return {"mixing_skipped": why}
    # The classifier saw images in [0, 1]; a jump can overshoot slightly, so it is shown the clipped image.
    labels = classify(judge.model, jumps.flatten(0, 1).clamp(0, 1)).view(num_jumps, chains).cpu()
    per_chain = [mixing_numbers(labels[:, c].tolist(), judge.num_classes) for c in range(chains)]
    mixing = {
        "classifier_test_accuracy": judge.test_accuracy,
        "num_classes": judge.num_classes,
        "delta": delta,
        "steps_per_jump": steps_per_jump,
        "mean_num_classes_visited": sum(c["num_classes_visited"] for c in per_chain) / chains,
        "mean_class_changes_per_100_jumps": sum(c["class_changes_per_100_jumps"] for c in per_chain) / chains,
        "chains_that_saw_all_classes": sum(c["jump_all_classes_seen"] is not None for c in per_chain),
        "chains": per_chain,
    }
    first = per_chain[0]
    all_seen = first["jump_all_classes_seen"]
    when = f"all {judge.num_classes} seen by jump {all_seen}" if all_seen is not None else f"not all {judge.num_classes} seen in {num_jumps} jumps"
    print(
        f"{name}: walk-jump chain 0 visited {first['num_classes_visited']} of {judge.num_classes} classes "
        f"({when}), {first['class_changes_per_100_jumps']:.1f} class changes per 100 jumps; over {chains} chains: "
        f"{mixing['mean_num_classes_visited']:.2f} classes, {mixing['mean_class_changes_per_100_jumps']:.1f} changes "
        f"per 100 jumps (classifier test accuracy {100 * judge.test_accuracy:.2f}%)"
    )
    return {"mixing": mixing}
