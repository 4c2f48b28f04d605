"""Files read from disk are data, never code: a crafted run config or CIFAR-10 batch runs nothing."""

import pickle
import shutil

import pytest
from test_data import write_cifar_batches
from test_run_folders import FIXTURE_ARGS, tree

import uvb_lab
from conftest import REPO, run_uvb_train_in_process
from uvb_lab.data import DataError
from uvb_lab.data.cifar10 import load_cifar10
from uvb_lab.figures import cli as figures_cli
from uvb_lab.report import main as report

FIXTURE = REPO / "tests" / "fixtures" / "run_made_by_v0.1.0"


class TouchMarker:
    """What a crafted pickle does: call a function of its choice when loaded (here: create a file)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_crafted_cifar10_batch_runs_no_code(tmp_path):
    write_cifar_batches(tmp_path / "cifar-10-batches-py")
    marker = tmp_path / "pwned"
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_3", "wb") as f:
        pickle.dump({b"data": TouchMarker(marker), b"labels": [0]}, f, protocol=2)
    with pytest.raises(DataError, match="data_batch_3 is not a CIFAR-10 python batch.*refused to load io.open"):
        load_cifar10(str(tmp_path))
    assert not marker.exists()


def crafted_run(tmp_path, old: str, new: str, name: str = "run"):
    """A copy of the 0.1.0 fixture whose config.yaml has `old` replaced by `new` (as someone handing it over might)."""
    run_dir = tmp_path / name
    shutil.copytree(FIXTURE, run_dir)
    config = (run_dir / "config.yaml").read_text()
    crafted = config.replace(old, new, 1)
    assert crafted != config
    (run_dir / "config.yaml").write_text(crafted)
    return run_dir


def figures_refuse(run_dir, capsys, *extra) -> str:
    """uvb-figures on run_dir exits 2 with one line on stderr, and writes no figures; that line."""
    assert figures_cli.main([str(run_dir), "--device", "cpu", "--no-mixing", *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("uvb-figures: error: ") and "Traceback" not in err, err
    assert not (run_dir / "figures").exists()
    return err


def test_a_run_config_naming_code_outside_uvb_lab_builds_nothing(tmp_path, capsys):
    marker = tmp_path / "pwned"
    run_dir = crafted_run(tmp_path, "_target_: uvb_lab.models.UVB", f"_target_: subprocess.call\n  args: [touch, {marker}]")
    err = figures_refuse(run_dir, capsys)
    assert "model._target_=subprocess.call is not one of uvb-lab's model constructors" in err and "--trust-target" in err
    assert not marker.exists()

    # Nested targets are checked too: only the likelihood may be a node of the model.
    run_dir = crafted_run(tmp_path, "  hidden: 16\n", f"  hidden:\n    _target_: os.system\n    command: touch {marker}\n", "nested")
    assert "model.hidden holds a node to build" in figures_refuse(run_dir, capsys) and not marker.exists()
    run_dir = crafted_run(tmp_path, "  image_size: 16\n", "  image_size: 16\n  helper: 1\n", "unknown")
    assert "model.helper is not a setting of uvb_lab.models.UVB" in figures_refuse(run_dir, capsys)


def test_an_interpolation_in_a_run_config_is_never_evaluated(tmp_path, capsys, monkeypatch):
    # The attack of issue 23: a plain string that becomes a node to build once OmegaConf resolves it.
    marker = tmp_path / "pwned"
    evil = "  evil: '${oc.create:{_target_: subprocess.call, args: [touch, %s]}}'\n" % marker  # noqa: UP031 - the braces are the attack's
    run_dir = crafted_run(tmp_path, "  image_size: 16\n", "  image_size: 16\n" + evil)
    assert "holds an interpolation at model.evil" in figures_refuse(run_dir, capsys)
    assert not marker.exists()
    # A notebook's load_run reads the same file the same way: nothing resolved, not even the environment.
    monkeypatch.setenv("UVB_SECRET", "s3cret")
    run_dir = crafted_run(tmp_path, "  seed: 0\n", "  seed: 0\n  leak: ${oc.env:UVB_SECRET}\n", "leaky")
    with pytest.raises(ValueError, match="holds an interpolation at data.leak"):
        uvb_lab.load_run(run_dir)
    with pytest.raises(ValueError, match="interpolation"):
        uvb_lab.load_run(tmp_path / "run", model=True)
    assert not marker.exists()


def test_a_uvb_lab_function_named_by_a_run_config_is_not_called(tmp_path, capsys):
    # Inside uvb_lab is not safe either: prune would delete another run's checkpoints.
    victim = tmp_path / "victim"
    shutil.copytree(FIXTURE, victim)
    before = (victim / "checkpoints" / "last.pt").read_bytes()
    run_dir = crafted_run(
        tmp_path, "model:\n  _target_: uvb_lab.models.UVB\n",
        f"model:\n  _target_: uvb_lab.run.checkpoint.prune\n  run_dir: {victim}\n  keep: none\n",
    )
    assert "model._target_=uvb_lab.run.checkpoint.prune is not one of uvb-lab's model constructors" in figures_refuse(run_dir, capsys)
    assert (victim / "checkpoints" / "last.pt").read_bytes() == before
    # Hydra's own keys would change what is called and how: refused too.
    run_dir = crafted_run(tmp_path, "  _target_: uvb_lab.data.synthetic.shapes\n", "  _target_: uvb_lab.data.synthetic.shapes\n  _args_: [1]\n", "args")
    assert "data._args_ is not allowed" in figures_refuse(run_dir, capsys)


@pytest.mark.parametrize(
    "damage, says",
    [
        (lambda text: text.replace("  seed: 0", "  seed: !!python/object/apply:os.system ['touch pwned']", 1), "could not determine a constructor"),
        (lambda text: text[: len(text) // 3] + "  conv_channels: [4,", "is not valid YAML of plain values"),
        (lambda text: text.replace("model:", "model: !!python/name:os.system", 1), "is not valid YAML of plain values"),
        (lambda text: "", "has no model to build"),
    ],
    ids=["python-tag", "truncated", "python-name", "empty"],
)
def test_a_damaged_or_tagged_run_config_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, damage, says):
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    (run_dir / "config.yaml").write_text(damage((FIXTURE / "config.yaml").read_text()))
    monkeypatch.chdir(tmp_path)
    before = tree(run_dir)
    assert says in figures_refuse(run_dir, capsys)
    assert not (tmp_path / "pwned").exists()
    # uvb-report reads the folder's identity from the same file (a 0.1.0 folder has no identity.json).
    out = tmp_path / "report"
    code = report(["--out", str(out), str(run_dir)])
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err
    assert tree(run_dir) == before


def test_a_first_format_folder_whose_config_was_edited_does_not_continue(tmp_path, capsys):
    # Format 1 has no identity.json: its config.yaml is the only record, and an edited lr would continue the
    # checkpoint at a rate it was not trained at. The checkpoint's Adam state says what the rate was.
    run_dir = crafted_run(tmp_path, "  lr: 0.0001\n", "  lr: 0.001\n")
    before = tree(run_dir)
    code, err = run_uvb_train_in_process([*FIXTURE_ARGS, "trainer.lr=0.001", f"hydra.run.dir={run_dir}"], capsys)
    assert code == 2, err
    assert "was edited after the run trained (trainer.lr: 0.001 in config.yaml, 0.0001 in its checkpoint)" in err
    assert tree(run_dir) == before


def test_figures_refuse_a_device_that_does_not_exist(capsys):
    assert figures_cli.main([str(FIXTURE), "--device", "banana"]) == 2
    err = capsys.readouterr().err
    assert "--device='banana' is not a device" in err and "Traceback" not in err
