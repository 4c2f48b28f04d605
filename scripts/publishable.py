"""Whether a launch of a published experiment may write into docs/results/<experiment>/: only the experiment as its
config defines it (and as docs/results.md describes it), never a run whose overrides change it.

    python scripts/publishable.py EXPERIMENT [--folder SWEEP_DIR] [--allow PREFIX ...] [-- OVERRIDES ...]

Exit 0 (silent) where every override passed, and every task override the sweep folder's last launch recorded (its
multirun.yaml), only says how the runs are launched or watched (PRESENTATION), is the experiment itself, one the
published experiment was made with (PUBLISHED_WITH), or one the calling script sets itself (--allow, e.g. its own
split of the sigmas over two processes). Exit 2 with one line naming the first that is not: `data.n_train=600
trainer.epochs=2` is a toy, whatever it is called. The scripts behind docs/results.md (scripts/tune_then_test.sh,
bayes_gap.sh, table2_mnist_cpu.sh, tables45_cpu.sh, table2_mnist_tuned.sh, table2_mnist_protocol.sh) ask it before
they train when given --publish, and again, of the folder's record, before they copy anything.
"""

import argparse
import sys
from pathlib import Path

from uvb_lab.run import saved_config

# Overrides that change neither the runs' numbers nor the experiment's design: how jobs are launched, shown, logged,
# checkpointed. (Not trainer.device or trainer.precision: the published numbers are those of their arithmetic.)
PRESENTATION = (
    "hydra/launcher=", "hydra.launcher.", "trainer.progress=", "logger=", "logger.", "figures.after_training=",
    "trainer.checkpoint_every_steps=", "trainer.keep_checkpoints=",
)
# The overrides a published experiment was made with beyond its config (docs/results.md says so).
PUBLISHED_WITH = {
    "bayes_gap_tuned": ("hydra.sweeper.exhaustive=true",),  # the whole grid too, to measure halving against it
}


def changes(override: str, experiment: str, allowed: tuple[str, ...]) -> bool:
    """Whether override changes the experiment (or is not known not to)."""
    return not (override == f"+experiment={experiment}" or override in PUBLISHED_WITH.get(experiment, ())
                or override.startswith(PRESENTATION + allowed))


def recorded_overrides(folder: Path) -> list[str]:
    """The task overrides of the sweep folder's last launch (Hydra's multirun.yaml, read as data); none without one."""
    path = folder / "multirun.yaml"
    if not path.is_file():
        return []
    task = ((saved_config.read_plain(path, upgrade=False, interpolations=True).get("hydra") or {}).get("overrides") or {}).get("task") or []
    if not isinstance(task, list) or not all(isinstance(o, str) for o in task):
        raise saved_config.SavedConfigError(f"{path}: hydra.overrides.task is not a list of overrides")
    return task


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment")
    parser.add_argument("--folder", type=Path, help="the sweep folder whose last launch (multirun.yaml) is checked too")
    parser.add_argument("--allow", action="append", default=[], help="an override prefix the calling script sets itself")
    parser.add_argument("overrides", nargs="*", help="the overrides the script was given for uvb-train")
    args = parser.parse_args(argv)
    allowed = tuple(args.allow)
    given = [o for o in args.overrides if changes(o, args.experiment, allowed)]
    try:
        recorded = [o for o in recorded_overrides(args.folder) if changes(o, args.experiment, allowed)] if args.folder else []
    except saved_config.SavedConfigError as error:
        print(f"publishable: error: {error}; docs/results/{args.experiment}/ left as it was", file=sys.stderr)
        return 2
    if given or recorded:
        what = (f"{' '.join(given)} change{'s' * (len(given) == 1)} the experiment" if given else
                f"the last launch into {args.folder} had {' '.join(recorded)}, which change{'s' * (len(recorded) == 1)} the experiment")
        print(f"publishable: error: {what}, so its results are not published: docs/results/{args.experiment}/ left as it was "
              "(run it without --publish: its report stays in its sweep folder; give a changed experiment its own "
              "hydra.sweep.dir)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
