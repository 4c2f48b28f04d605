"""A sampled search space (uvb_lab/launch/sampled_space.py): `interval(a, b)` sweeps drawn from hydra.sweeper.sample_seed
the same way in the `--dry-run` preview, in the successive-halving and tune-then-test sweeps, and in a relaunch,
which then trains nothing; a mixed grid crosses its lists with the drawn points; a space that cannot be drawn is
refused before anything is written."""

import json
import re
import shutil
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from test_untrusted_records import within

from conftest import TINY, compose_config, run_uvb_train_in_process, uvb_train_here
from uvb_lab.hydra_internals import expand_sweeps
from uvb_lab.launch.sampled_space import draw
from uvb_lab.launch.successive_halving import TABLE, read_table
from uvb_lab.launch.tune_then_test import RECORD
from uvb_lab.run import summary as run_summary

# 128 synthetic images, a quarter held out: 96 train at batch 32, 3 steps an epoch.
TINY_UVB = [
    "model=uvb", "data=synthetic", "data.n_train=128", "data.n_test=32", "data.val_fraction=0.25", "trainer.batch_size=32",
    "trainer.device=cpu", "trainer.progress=false", "figures.after_training=false", "logger=none", *TINY["uvb"],
]
LOG_LR = "trainer.lr=tag(log,interval(1e-7,3e-2))"
# Three rates drawn from seven decades: eta 3 keeps the best of the three after one epoch and continues it to 3.
SEARCH = ["-m", "hydra/sweeper=successive_halving", *TINY_UVB, "trainer.epochs=3", LOG_LR, "hydra.sweeper.n_samples=3"]


def drawn(stdout: str) -> list[str]:
    """The points a --dry-run plan lists, as the overrides that name them."""
    (line,) = [line for line in stdout.splitlines() if line.startswith("  drawn with hydra.sweeper.sample_seed=")]
    return line.split(": ", 2)[2].split(", ")


def runs_by_lr(sweep: Path) -> dict[float, Path]:
    return {json.loads((path / "identity.json").read_text())["identity"]["trainer.lr"]: path for path in sweep.iterdir() if (path / "summary.json").is_file()}


@pytest.fixture(scope="module")
def search(tmp_path_factory) -> tuple[Path, list[str]]:
    """The search above: its --dry-run preview, then its launch into a folder of its own."""
    folder = tmp_path_factory.mktemp("sampled") / "lr"
    preview = uvb_train_here(["--dry-run", *SEARCH, f"hydra.sweep.dir={folder}"])
    assert preview.returncode == 0 and not folder.exists(), preview.stderr
    done = uvb_train_here([*SEARCH, f"hydra.sweep.dir={folder}"])
    assert done.returncode == 0, done.stdout + done.stderr
    return folder, drawn(preview.stdout)


def test_the_sweep_trains_the_configurations_its_preview_drew_and_continues_only_the_best(search):
    folder, points = search
    assert len(points) == 3
    rates = [float(point.removeprefix("trainer.lr=")) for point in points]
    assert all(1e-7 <= lr <= 3e-2 and lr == float(f"{lr:.3g}") for lr in rates)  # within the interval, 3 digits
    table = read_table(folder / TABLE, "trainer.epochs")
    assert list(table) == points  # the table's configurations are the preview's points, in its order
    runs = runs_by_lr(folder)
    assert sorted(runs) == sorted(rates)  # and each is a run folder of that rate
    # The rate with the lowest first-rung loss continued to the full budget; the two others stopped after one epoch.
    best = min(points, key=lambda point: table[point][1])
    assert {lr: run_summary.read(path)["epochs_done"] for lr, path in runs.items()} == {
        lr: 3 if point == best else 1 for lr, point in zip(rates, points)
    }
    assert set(table[best]) == {1, 3} and [row for row in (folder / TABLE).read_text().splitlines() if ",yes," in row][0].startswith(best + ",")


def test_a_relaunch_draws_the_same_configurations_and_trains_nothing(search, tmp_path):
    original, points = search
    folder = tmp_path / "lr"
    shutil.copytree(original, folder)

    def files():
        return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file() and p.name != "multirun.yaml"}

    before = files()
    done = uvb_train_here([*SEARCH, f"hydra.sweep.dir={folder}"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert drawn(done.stdout) == points
    assert "Launching" not in done.stdout and done.stdout.count("(0 launched, ") == 2
    assert files() == before

    # More samples keep the first ones: a larger search of the same seed extends this one.
    more = uvb_train_here(["--dry-run", *SEARCH, "hydra.sweeper.n_samples=5", f"hydra.sweep.dir={folder}"])
    assert more.returncode == 0, more.stderr
    assert drawn(more.stdout)[:3] == points and len(set(drawn(more.stdout))) == 5
    other = uvb_train_here(["--dry-run", *SEARCH, "hydra.sweeper.sample_seed=1", f"hydra.sweep.dir={tmp_path / 'other'}"])
    assert other.returncode == 0 and not set(drawn(other.stdout)) & set(points), other.stderr


def test_a_mixed_grid_crosses_its_lists_with_points_drawn_jointly_over_its_intervals():
    cfg = compose_config(["model=deen"])
    parser = OverridesParser.create()
    space = draw(parser, ["sigma=0.5,1.0", "trainer.lr=tag(log,interval(1e-4,1e-2))", "model.hidden=interval(16,64)", "trainer.epochs=3"], 4, 0, cfg)
    assert space.sampled_keys == ["trainer.lr", "model.hidden"] and len(space.points) == 4
    assert space.jobs == [["sigma=0.5", "trainer.epochs=3", *point] for point in space.points] + [
        ["sigma=1.0", "trainer.epochs=3", *point] for point in space.points
    ]
    for lr, hidden in space.points:
        assert 1e-4 <= float(lr.split("=")[1]) <= 1e-2 and re.fullmatch(r"model\.hidden=\d+", hidden)  # an int key draws ints
        assert 16 <= int(hidden.split("=")[1]) <= 64
    assert draw(parser, ["sigma=0.5,1.0", "trainer.lr=tag(log,interval(1e-4,1e-2))", "model.hidden=interval(16,64)"], 4, 0, cfg).points == space.points
    # A key whose default is null draws by its schema's type: a float rate half-life, an integer step count.
    ((half_life, max_steps),) = draw(parser, ["trainer.lr_half_life_epochs=interval(1,10)", "trainer.max_steps=interval(10,100)"], 1, 0, cfg).points
    assert re.fullmatch(r"trainer\.lr_half_life_epochs=\d\.\d+", half_life) and re.fullmatch(r"trainer\.max_steps=\d+", max_steps)
    # A grid alone is the basic sweeper's expansion, whatever n_samples says.
    grid = ["sigma=0.5,1.0", "trainer.lr=choice(1e-3,1e-2)"]
    assert draw(parser, grid, 4, 0, cfg).jobs == expand_sweeps(parser, grid) and len(expand_sweeps(parser, grid)) == 4


@pytest.mark.parametrize(
    "overrides, reason",
    [
        (["hydra/sweeper=successive_halving", "trainer.lr=interval(1e-4,1e-2)", "hydra.sweeper.n_samples=0"],
         "hydra.sweeper.n_samples=0: draw at least 1 configuration from the intervals"),
        (["hydra/sweeper=successive_halving", "trainer.lr=tag(log,interval(0,1e-2))"], "a log interval needs bounds > 0"),
        (["hydra/sweeper=successive_halving", "trainer.device=interval(0,1)"], "trainer.device is not a number in this config"),
        (["hydra/sweeper=successive_halving", "model=interval(0,1)"], "model is not a number in this config"),
        (["hydra/sweeper=successive_halving", "trainer.lr=interval(1e-2,1e-4)"], "needs its lower bound below its upper one"),
        (["trainer.lr=interval(1e-4,1e-2)"], "draws values, which this sweeper cannot: use hydra/sweeper=successive_halving"),
        (["hydra/sweeper=successive_halving", "model.hidden=interval(16,17)", "hydra.sweeper.n_samples=3"],
         "model.hidden=interval(16,17) holds fewer than hydra.sweeper.n_samples=3 distinct points"),
        (["hydra/sweeper=tune_then_test", "trainer.lr=interval(1e-4,1e-2)", "sigma=interval(0.5,2)"],
         "sigma is drawn from an interval but is not tuned (hydra.sweeper.tune)"),
        (["hydra/sweeper=tune_then_test", "hydra.sweeper.params.trainer.lr=1e-4,1e-2"],
         "sweeps a Hydra setting, which is one per sweep: to sweep trainer.lr, write trainer.lr=1e-4,1e-2"),
        (["hydra.job.chdir=false,true"], "hydra.job.chdir=false,true sweeps a Hydra setting, which is one per sweep"),
    ],
)
def test_a_space_that_cannot_be_drawn_is_refused_in_one_line_before_anything_is_written(overrides, reason, tmp_path, capsys):
    for dry_run in (["--dry-run"], []):
        code, err = run_uvb_train_in_process([*dry_run, "-m", *TINY_UVB, *overrides, f"hydra.sweep.dir={tmp_path / 'search'}"], capsys)
        assert code == 2 and reason in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sweeper", ["successive_halving", "tune_then_test"])
def test_more_samples_than_a_search_can_draw_are_refused_at_once(sweeper, tmp_path, capsys):
    # 100000 points of a log interval hung the preview: the draws compared each point with every earlier one.
    command = ["-m", f"hydra/sweeper={sweeper}", *TINY_UVB, LOG_LR, "hydra.sweeper.n_samples=100000", f"hydra.sweep.dir={tmp_path / 'search'}"]
    for dry_run in (["--dry-run"], []):
        with within(30):
            code, err = run_uvb_train_in_process([*dry_run, *command], capsys)
        assert code == 2 and len(err.splitlines()) == 1, err
        assert "hydra.sweeper.n_samples=100000: a sampled search draws at most 1000 configurations" in err
    assert list(tmp_path.iterdir()) == []


def test_tune_then_test_tunes_every_cell_over_the_points_its_preview_drew(tmp_path, capsys):
    # One cell, two rates drawn, one rung of one epoch, one test seed: three tiny runs.
    command = ["-m", "hydra/sweeper=tune_then_test", *TINY_UVB, "trainer.epochs=1", "trainer.lr=tag(log,interval(1e-4,1e-2))",
               "hydra.sweeper.n_samples=2", "hydra.sweeper.sample_seed=3", "hydra.sweeper.seeds=1", f"hydra.sweep.dir={tmp_path / 'protocol'}"]
    out = []
    code, err = run_uvb_train_in_process(["--dry-run", *command], capsys, out)
    assert code == 0, err
    points = drawn(out[0])
    code, err = run_uvb_train_in_process(command, capsys)
    assert code == 0, err
    record = json.loads((tmp_path / "protocol" / RECORD).read_text())
    assert record["grid"] == points
    (cell,) = record["cells"].values()
    assert set(cell["val_loss"]) == set(points) and cell["chosen"] in points


def test_the_example_search_draws_nine_rates_log_uniformly_from_its_interval(tmp_path, capsys):
    out = []
    # conf/hparams_search/uvb_lr_sampled.yaml on tiny runs of synthetic data.
    command = ["--dry-run", "-m", "+hparams_search=uvb_lr_sampled", *TINY_UVB, f"hydra.sweep.dir={tmp_path / 'search'}"]
    code, err = run_uvb_train_in_process(command, capsys, out)
    assert code == 0, err
    rates = sorted(float(point.removeprefix("trainer.lr=")) for point in drawn(out[0]))
    assert len(set(rates)) == 9 and 1e-5 <= rates[0] and rates[-1] <= 3e-3
    assert rates[-1] / rates[0] > 10  # log-uniform: spread over decades, not bunched near the upper bound
    assert "rung 3: 1 configuration to trainer.epochs=9" in out[0] and list(tmp_path.iterdir()) == []
