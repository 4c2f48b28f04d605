"""The mixing numbers on chains with known labels, and the classifier that supplies the labels."""

import math

import pytest
import torch

from uvb_lab.data.images import DataError
from uvb_lab.data.synthetic import gaussian, shapes
from uvb_lab.figures.classifier import cache_path, classify, load_or_train_classifier
from uvb_lab.figures.mixing import class_changes_per_100_jumps, classes_visited, jump_all_classes_seen, mixing_numbers


def test_mixing_numbers_of_a_known_chain():
    # 0..9 in order, each held for two jumps, then back to 3: 21 jumps, 20 transitions, 10 of them changes.
    labels = [c for c in range(10) for _ in range(2)] + [3]
    numbers = mixing_numbers(labels, num_classes=10)
    assert numbers == {
        "jumps": 21,
        "classes_visited": list(range(10)),
        "num_classes_visited": 10,
        "class_changes_per_100_jumps": 50.0,
        "jump_all_classes_seen": 19,  # class 9 first appears at the 19th jump
    }


def test_mixing_numbers_of_a_stuck_and_of_a_restless_chain():
    assert class_changes_per_100_jumps([7] * 50) == 0.0
    assert classes_visited([7] * 50) == [7]
    assert jump_all_classes_seen([7] * 50, 10) is None
    assert class_changes_per_100_jumps([1, 2] * 3) == 100.0
    assert jump_all_classes_seen([1, 2] * 3, 2) == 2
    with pytest.raises(ValueError, match="at least 2"):
        class_changes_per_100_jumps([4])


def test_classifier_is_trained_once_cached_and_reloaded(tmp_path):
    data = shapes(n_train=256, n_test=64, image_size=8)
    first = load_or_train_classifier(data, tmp_path, epochs=1)
    path = cache_path(tmp_path, data, epochs=1)
    assert path.is_file() and first.num_classes == 2
    again = load_or_train_classifier(data, tmp_path, epochs=1)  # from the file: same weights, same labels
    assert again.test_accuracy == first.test_accuracy
    labels = classify(again.model, data.test)
    assert labels.shape == (64,) and torch.equal(labels, classify(first.model, data.test))
    # The accuracy it reports (and the mixing check trusts) is the fraction of test images it labels right.
    assert math.isclose(first.test_accuracy, (labels == data.test_labels).float().mean().item(), abs_tol=1e-6)
    with pytest.raises(DataError, match="no labels"):
        load_or_train_classifier(gaussian(n_train=8, n_test=8), tmp_path)
    path.write_bytes(b"truncated")  # a damaged cache file is trained over, not fatal
    repaired = load_or_train_classifier(data, tmp_path, epochs=1)
    assert torch.equal(classify(repaired.model, data.test), labels)  # same seed, same classifier


def test_a_classifier_cache_that_cannot_be_written_only_warns_and_the_classifier_is_used(tmp_path, caplog):
    data = shapes(n_train=256, n_test=64, image_size=8)
    blocked = tmp_path / "a file where the cache folder should be"
    blocked.write_text("not a folder")
    with caplog.at_level("WARNING", logger="uvb_lab.figures.classifier"):
        trained = load_or_train_classifier(data, blocked, epochs=1)
    assert trained.num_classes == 2 and trained.test_accuracy > 0.5
    assert "could not cache the" in caplog.text and "Traceback" not in caplog.text
    assert blocked.read_text() == "not a folder"
