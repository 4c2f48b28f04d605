"""How well a sampler mixes, as numbers: which classes a chain of jump samples visits, and how fast.

Beyond the paper, which shows "all ten digits in a single run" by eye (Fig. 3): given the class of every
jump sample of one chain (from uvb_lab/classifier.py), these pure functions say how many classes the
chain visited, how often it changed class, and by which jump it had seen them all.
"""

from collections.abc import Sequence
from typing import Any


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
