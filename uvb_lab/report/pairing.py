"""Which runs a report may compare on their test numbers, and which of them pair seed by seed.

Every run since paired evaluation records test_noise_fingerprint, a digest of the noisy test images it was scored
on (uvb_lab/paired_noise.py). A difference between two models' cells is shown where all their runs share one
fingerprint. Where two fingerprints differ (another eval_seed, other test images, another sigma) the report refuses
the difference and says why; where a run has none it was made before paired evaluation, when the test noise shared
a random stream with the model's z draws: the difference is shown, with a note naming those runs
(docs/comparing_runs.md, "Paired noise").

The same test noise is the same for every seed: it takes the noise of the test images out of every comparison, but
gives no reason to set seed k of one model beside seed k of the other. Runs since the training stream also record
train_stream_fingerprint (uvb_lab/training_stream.py), a digest of the batches and training noise they trained on,
which depend on trainer.seed, the data and the batch size alone: two models of seed k with equal fingerprints saw the
same training randomness, and their per-seed differences cancel it. A comparison is called paired (`seeds_pair`) only
where both fingerprints are equal seed by seed; a run without a training-stream fingerprint (made before it existed,
or continued from a checkpoint older than it) never pairs.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from uvb_lab.report.runs import Run
from uvb_lab.run.summary import TEST_NOISE_FINGERPRINT as FINGERPRINT
from uvb_lab.run.summary import TRAIN_STREAM_FINGERPRINT

PAIRED = "paired: same test noise and training stream, seed by seed"
SAME_TEST_NOISE = "same test noise, seeds not paired"


def by_fingerprint(scored: Iterable[tuple[str, Mapping[str, Any]]]) -> dict[str | None, list[str]]:
    """(where, summary) pairs by the fingerprint each summary records: {fingerprint: [where, ...]}; None: none recorded."""
    found: dict[str | None, list[str]] = {}
    for where, summary in scored:
        found.setdefault(summary.get(FINGERPRINT), []).append(where)
    return found


def _scored(runs: Iterable[Run]) -> list[tuple[str, Mapping[str, Any]]]:
    return [(str(run.folder), run.summary) for run in runs]


def unpaired_note(runs: Iterable[Run]) -> str | None:
    """The note naming runs scored before paired evaluation; None where every run has a fingerprint."""
    old = sorted(set(by_fingerprint(_scored(runs)).get(None, [])))
    if not old:
        return None
    return (f"scored on unpaired noise (made before uvb-lab drew one noisy test set for every model, no {FINGERPRINT}): "
            f"a difference with these runs includes the difference of their noisy test images: {', '.join(old)}")


def refusal(runs: Iterable[Run], consequence: str = "so no difference is shown") -> str | None:
    """Why these runs cannot be paired (their fingerprints differ), or None where they can."""
    recorded = {fingerprint: folders for fingerprint, folders in by_fingerprint(_scored(runs)).items() if fingerprint is not None}
    if len(recorded) < 2:
        return None
    listing = "; ".join(f"{fingerprint} in {', '.join(folders)}" for fingerprint, folders in sorted(recorded.items()))
    return f"not paired, {consequence}: these runs were scored on different noisy test images ({FINGERPRINT} {listing})"


@dataclass(frozen=True)
class Pairing:
    """How two sets of runs, by trainer.seed, may be compared: paired (both fingerprints equal, seed by seed), or not,
    in words for a table; refused: why no difference may be shown (they were scored on different noisy test images)."""

    paired: bool
    words: str
    refused: str | None = None


def seeds_pair(a: Mapping[int, Mapping[str, Any]], b: Mapping[int, Mapping[str, Any]]) -> Pairing:
    """Whether the runs of a and b (seed -> summary.json) pair seed by seed: every run scored on one set of noisy test
    images, and at every seed both ran, one training stream."""
    scored = [(f"{side} seed {seed}", summary) for side, runs in (("A", a), ("B", b)) for seed, summary in runs.items()]
    prints = by_fingerprint(scored)
    if len(set(prints) - {None}) > 1:
        listing = "; ".join(f"{fingerprint} in {', '.join(where)}" for fingerprint, where in sorted(prints.items(), key=str) if fingerprint)
        return Pairing(False, "not compared: different noisy test images",
                       f"scored on different noisy test images ({FINGERPRINT} {listing})")
    if None in prints:
        return Pairing(False, f"not paired: no {FINGERPRINT} (runs made before paired evaluation)")
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return Pairing(False, f"{SAME_TEST_NOISE}: no seed ran in both")
    streams = {seed: (a[seed].get(TRAIN_STREAM_FINGERPRINT), b[seed].get(TRAIN_STREAM_FINGERPRINT)) for seed in seeds}
    if any(None in pair for pair in streams.values()):
        return Pairing(False, f"{SAME_TEST_NOISE}: no {TRAIN_STREAM_FINGERPRINT} (runs made before uvb-lab recorded it)")
    if other := [seed for seed, (first, second) in streams.items() if first != second]:
        return Pairing(False, f"{SAME_TEST_NOISE}: other training streams at seed {', '.join(map(str, other))} "
                              "(another dataset, batch size or device)")
    return Pairing(True, f"{PAIRED} ({', '.join(map(str, seeds))})")


@dataclass(frozen=True)
class Compared:
    """Two sets of runs to compare: their values by trainer.seed, how they pair, and where the row stands."""

    label: str  # "UVB − DEEN"
    at: str  # "Table 2, MNIST, σ = 0.3", "sigma=0.3"
    a: dict[int, float]
    b: dict[int, float]
    pairing: Pairing
    notes: tuple[str, ...] = ()  # footnotes of the row (the parameter counts compared)
    where: dict[str, Any] = field(default_factory=dict)  # CSV columns: dataset, sigma


def compared(label: str, at: str, a: Mapping[int, Mapping[str, Any]], b: Mapping[int, Mapping[str, Any]],
             value: Callable[[Mapping[str, Any]], float | None], notes: Iterable[str] = (), where: Mapping[str, Any] | None = None) -> Compared:
    """The comparison of the runs of a and b (trainer.seed -> summary.json) on value(summary), over the runs that have one."""
    values = [{seed: v for seed, summary in runs.items() if (v := value(summary)) is not None} for runs in (a, b)]
    pairing = seeds_pair({seed: a[seed] for seed in values[0]}, {seed: b[seed] for seed in values[1]})
    return Compared(label, at, values[0], values[1], pairing, tuple(notes), dict(where or {}))
