"""Which runs a report may compare on their test numbers: those scored on the same noisy test images.

Every run since paired evaluation records test_noise_fingerprint, a digest of the noisy test images it was scored
on (uvb_lab/paired_noise.py). A difference between two models' cells is paired where all their runs share one
fingerprint. Where two fingerprints differ (another eval_seed, other test images, another sigma) the report refuses
the difference and says why; where a run has none it was made before paired evaluation, when the test noise shared
a random stream with the model's z draws: the difference is shown, with a note naming those runs
(docs/comparing_runs.md, "Paired noise"). The tune-then-test table (uvb_lab/report/protocol.py), whose runs are all
made since, reads the same fingerprints and refuses a pair where one is missing.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from uvb_lab.report.runs import Run
from uvb_lab.run.summary import TEST_NOISE_FINGERPRINT as FINGERPRINT


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
