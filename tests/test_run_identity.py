"""Which run is this: the identity of a command's config and the folder name it gives."""

import pytest
from omegaconf import OmegaConf

from conftest import compose_config
from uvb_lab import compose
from uvb_lab.run import identity


def name(overrides):
    return compose_config(overrides).run.name


@pytest.mark.parametrize(
    "same",
    [
        (["sigma=1"], ["sigma=1.0"], []),
        (["trainer.lr=1e-4"], ["trainer.lr=0.0001"], []),
        (["model.latent_dim=100"], ["trainer.epochs=3", "trainer.device=cpu", "logger=none", "figures.jumps=3"], []),
        (["+experiment=smoke", "sigma=0.5"], ["+experiment=smoke", "sigma=0.50", "trainer.seed=0"]),
    ],
)
def test_the_name_depends_only_on_the_resolved_identity(same):
    assert len({name(overrides) for overrides in same}) == 1


def test_the_name_reads_model_data_sigma_then_what_differs_from_the_defaults():
    assert name([]) == "uvb-mnist-sigma1.0"
    assert name(["model=deen", "sigma=0.5", "trainer.lr=1e-3"]) == "deen-mnist-sigma0.5-lr0.001"
    assert name(["model=vae", "model.conv_channels=[16,32]"]) == "vae-mnist-sigma1.0-conv_channels16_32"
    assert name(["loss=negative_elbo"]) == "uvb-mnist-sigma1.0-loss_negative_elbo"
    # An experiment's own settings are its defaults; a key two sections share is named in full.
    assert name(["+experiment=smoke", "sigma=0.5"]) == "uvb-synthetic-sigma0.5"
    assert name(["+experiment=smoke", "trainer.seed=2"]) == "uvb-synthetic-sigma1.0-trainer.seed2"


LONG = ["data=synthetic", "data.n_train=128", "data.n_test=32", "model.conv_channels=[4,8]", "model.hidden=16",
        "model.latent_dim=8", "model.decoder_hidden=32", "trainer.batch_size=64", "trainer.eval_batch_size=64"]


def test_a_name_is_readable_up_to_the_file_systems_limit_and_a_hash_past_it():
    # 126 characters: a hash before 2026-12-06 (names were cut at 100), readable now.
    assert name(LONG) == ("uvb-synthetic-sigma1.0-n_test32-n_train128-conv_channels4_8-decoder_hidden32-hidden16-latent_dim8-"
                          "batch_size64-eval_batch_size64")
    longer = [*LONG, f"model.conv_channels=[{','.join(['4'] * 120)}]"]
    cfg = compose_config(longer)
    assert len(cfg.run.name.encode()) <= identity.MAX_NAME == 255
    assert cfg.run.name == "uvb-synthetic-sigma1.0-" + identity.digest(identity.identity(cfg))[: identity.HASH_CHARS]
    assert name([*longer, "trainer.seed=1"]) != cfg.run.name


def test_a_run_named_by_a_hash_before_names_grew_is_found_in_its_folder(tmp_path):
    from conftest import QUICK, uvb_train_here

    overrides = [*LONG, *QUICK[1:], "logger=none"]
    cfg = compose_config(overrides)
    earlier = identity.run_name(cfg, compose.group_choices(), compose.defaults_identity, None, identity.EARLIER_MAX_NAME)
    assert earlier == "uvb-synthetic-sigma1.0-" + identity.digest(identity.identity(cfg))[: identity.HASH_CHARS]
    made = uvb_train_here([*overrides, f"hydra.run.dir=outputs/{earlier}"], cwd=tmp_path)  # as made before
    assert made.returncode == 0, made.stderr
    planned = uvb_train_here(["--dry-run", *overrides], cwd=tmp_path)
    assert planned.returncode == 0 and f"  skip      {tmp_path / 'outputs' / earlier}: already finished" in planned.stdout, planned.stdout
    again = uvb_train_here(["--dry-run", "-m", *overrides, "sigma=1.0,0.5", "hydra.sweep.dir=outputs"], cwd=tmp_path)
    assert f"  skip      {earlier}: already finished" in again.stdout and "start     uvb-synthetic-sigma0.5-n_test32" in again.stdout, again.stdout


def test_every_key_but_the_listed_ones_is_identity():
    cfg = compose_config(["model=deen"])
    keys = identity.identity(cfg)
    assert {"sigma", "trainer.lr", "trainer.seed", "trainer.batch_size", "model.hidden", "loss._target_"} <= set(keys)
    # precision is how products are rounded, like the device: a run started in bf16 on a CPU continues on a GPU
    assert not {"trainer.epochs", "trainer.device", "trainer.precision", "logger.mode", "figures.jumps", "data.root", "run.name"} & set(keys)


def test_a_key_added_later_keeps_older_runs_while_it_has_its_default():
    cfg = compose_config([])
    current = identity.identity(cfg)
    defaults, _ = compose.defaults_identity(compose.group_choices())
    older = {k: v for k, v in current.items() if k != "model.z_samples"}  # a folder made before z_samples existed
    assert identity.differences(older, current, defaults) == []
    changed = identity.identity(compose_config(["model.z_samples=4"]))
    assert [key for key, *_ in identity.differences(older, changed, defaults)] == ["model.z_samples"]
    assert [key for key, *_ in identity.differences(current, identity.identity(compose_config(["trainer.lr=3e-4"])), defaults)] == ["trainer.lr"]


@pytest.mark.parametrize(("override", "key", "value"), [("trainer.grad_clip=1", "trainer.grad_clip", 1.0), ("trainer.warmup_steps=100", "trainer.warmup_steps", 100)])
def test_a_stabiliser_is_part_of_the_identity_and_the_name_only_when_set(override, key, value):
    cfg = compose_config(["data=synthetic", "data.n_train=128", "data.n_test=32", "model.conv_channels=[4,8]", "model.hidden=16",
                          "model.latent_dim=8", "model.decoder_hidden=32", "trainer.batch_size=64", "trainer.eval_batch_size=64"])
    unset = identity.identity(cfg)
    before_it_existed = OmegaConf.to_container(cfg, resolve=True)  # the config.yaml of a run made before the key
    del before_it_existed["trainer"][key.split(".")[1]]
    assert unset == identity.identity_of_saved_config(before_it_existed) and key not in unset  # and so its hashed name
    assert name([]) == "uvb-mnist-sigma1.0" and name([override]) == f"uvb-mnist-sigma1.0-{key.split('.')[1]}{value}"
    set_ = identity.identity(compose_config([override]))
    assert set_[key] == value
    # A folder without it (at its neutral value) is another run than one with it set, and the other way round.
    defaults, _ = compose.defaults_identity(compose.group_choices())
    default = identity.identity(compose_config([]))
    assert identity.differences(default, set_, defaults) == [(key, identity.NEUTRAL[key], value)]
    assert identity.differences(set_, default, defaults) == [(key, value, identity.NEUTRAL[key])]
    assert identity.differences(set_, set_, defaults) == identity.differences(default, default, defaults) == []


def test_per_model_settings_size_each_model_of_a_sweep_and_only_it(tmp_path, capsys):
    from conftest import QUICK, run_uvb_train_in_process

    stdout: list[str] = []
    quick = ["-m", *QUICK, "logger=none", "--dry-run", "model=uvb,deen"]
    assert run_uvb_train_in_process([*quick, "++sizes.uvb.latent_dim=16", "++sizes.deen.hidden=64"], capsys, stdout)[0] == 0
    assert "uvb-synthetic-sigma1.0-latent_dim16: new run" in stdout[-1] and "deen-synthetic-sigma1.0-hidden64: new run" in stdout[-1]
    # A DEEN-only size leaves the UVB runs' identity, and so their folders, as they were.
    assert run_uvb_train_in_process([*quick, "++sizes.deen.hidden=64"], capsys, stdout)[0] == 0
    assert "start     uvb-synthetic-sigma1.0: new run" in stdout[-1]
    # A key one model lacks: refused, naming the job by its overrides and saying how to set a key per model.
    code, _ = run_uvb_train_in_process([*quick, "model.latent_dim=16"], capsys, stdout)
    assert code == 2 and "refuse    " in stdout[-1] and "model=deen model.latent_dim=16: model.latent_dim is not a setting" in stdout[-1]
    assert "++sizes.<model>.latent_dim=VALUE" in stdout[-1] and "refuse    None" not in stdout[-1]
    code, _ = run_uvb_train_in_process([*quick, "++sizes.deen.latent_dim=16"], capsys, stdout)
    assert code == 2 and "sizes.deen.latent_dim: deen has no setting latent_dim" in stdout[-1]


@pytest.mark.parametrize("overrides", [
    ["+experiment=smoke", "model=deen", "sigma=0.5", "trainer.seed=1"],  # model.sigma: ${sigma}, not an override
    ["model=uvb", "data=synthetic", "++sizes.uvb.latent_dim=16"],  # a per-model setting, applied to the job
])
def test_cfg_job_resolve_names_the_run_as_dry_run_and_its_folder_do(overrides, tmp_path):
    from conftest import uvb_train_here

    shown = uvb_train_here(["--cfg", "job", "--resolve", *overrides], cwd=tmp_path)
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr
    planned = uvb_train_here(["--dry-run", *overrides], cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    (folder,) = [line.split()[1].rstrip(":") for line in planned.stdout.splitlines() if line.startswith("  start")]
    names = [line.split(": ", 1)[1] for line in shown.stdout.splitlines() if line.startswith("  name: ")]
    assert names == [folder.rsplit("/", 1)[1]], shown.stdout
    assert "${" not in shown.stdout and list(tmp_path.iterdir()) == []  # resolved; and neither wrote anything


def test_cfg_of_a_sweep_is_one_line_and_exit_2(tmp_path):
    from conftest import uvb_train_here

    shown = uvb_train_here(["-m", "--cfg", "job", "model=deen", "sigma=0.3,1.0"], cwd=tmp_path)
    assert shown.returncode == 2 and shown.stderr.count("\n") == 1 and "drop -m" in shown.stderr, shown.stderr
