"""Which run is this: a run's identity, the folder name it gives, and whether a folder's run is this one.

A run's identity is its resolved config less the keys that do not change its result (NOT_IDENTITY: how
long it trains, where, how it is watched and drawn, where its data files live). Two commands with the
same identity are the same run: they land in the same folder, and the second continues or skips it.
Every key not listed is identity, keys added later included, so a new setting is safe by default. A setting
added with a value that computes what runs made before it computed (NEUTRAL: no warm-up, no clipping) is part
of the identity only where set away from that value, so every earlier run keeps its identity, digest and name.

The folder name is `<model>-<data>-sigma<sigma>` followed by the identity keys whose value differs from
the defaults of the chosen model, data and experiment (or hparams_search), e.g. `uvb-mnist-sigma0.5-lr0.001-seed1`;
a trial of an Optuna search, by the keys that differ from the settings its trials share (what it tries). It
depends only on resolved values: `sigma=1` and `sigma=1.0`, `lr=1e-4` and `lr=0.0001`, or an override
equal to the default, all give one name. Where that name would be longer than MAX_NAME (the file system's limit on
one name) or hold a character unsafe in a path, the differing keys become a hash of the whole identity instead. Before
2026-12-06 the limit was EARLIER_MAX_NAME: a run named then by a hash keeps its folder (uvb_lab/compose.py finds it).
"""

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

# The keys (and whole sections) that do not change what a run computes. Everything else is identity.
NOT_IDENTITY = (
    "run.name",  # derived from the identity itself
    "trainer.epochs",  # more epochs continue the same run
    "trainer.max_steps",
    "trainer.device",  # where it trains; the numbers agree up to the device's arithmetic
    "trainer.progress",
    "trainer.log_every_steps",  # how often the curves are sampled, not what is trained
    "trainer.eval_every_steps",  # evaluation draws from its own fixed seed and leaves the training RNG untouched
    "trainer.evaluate_test",  # which splits are scored, not what is trained
    "sizes",  # per-model settings (uvb_lab/compose.py, apply_model_settings): what they change is model.*, identity
    "trainer.resume",
    "trainer.checkpoint_every_steps",
    "trainer.keep_checkpoints",
    "trainer.skip_nonfinite",  # the remedy for a run that hit a NaN: continuing with it is the same run
    "trainer.preemption_signals",
    "trainer.compile",  # the same arithmetic, traced
    # How products are rounded, like the device: auto picks per machine (bf16 on this CPU, tf32 on a GPU), and a
    # run continues on another; bf16 is checked to reach the fp32 test loss (docs/performance.md).
    # summary.json records the precision used.
    "trainer.precision",
    "logger",
    "figures",
    "data.root",  # where the files are, not what they hold (md5-checked where the format has published sums)
    "data.path",
    "data.download",
    "data.check_md5",
)
# Settings added later whose value here trains as the runs made before them did: left out of the identity at that
# value, so a run that does not set them has the identity (and the hashed folder name) it had before they existed.
NEUTRAL: dict[str, Any] = {
    "trainer.warmup_steps": 0,  # no warm-up of the rate (uvb_lab/lr_schedule.py)
    "trainer.grad_clip": None,  # no clipping of the gradients (uvb_lab/train_step.py)
}
# Config groups chosen by name; a choice other than the defaults' is named in the folder as `<group>_<choice>`.
NAMED_GROUPS = ("model", "data")
# Groups whose option, where it is not the model's default, is named instead of its keys: `likelihood_laplace`.
CHOSEN_GROUPS = ("loss", "model/likelihood")
# Groups added with `+group=option` that fix a sweep's settings: a run's name lists what differs from those.
SETTINGS_GROUPS = ("experiment", "hparams_search")
MAX_NAME = 255  # bytes in one name of a path (ext4, xfs, btrfs, tmpfs); a name is ASCII (SAFE)
EARLIER_MAX_NAME = 100  # the limit before 2026-12-06: longer names were hashed
SAFE = re.compile(r"^[A-Za-z0-9._+-]+$")
HASH_CHARS = 8


def is_identity_key(key: str) -> bool:
    return not any(key == skip or key.startswith(skip + ".") for skip in NOT_IDENTITY)


def _flatten(node: DictConfig, prefix: str, out: dict[str, Any], derived: set[str] | None) -> None:
    for key in node.keys():
        path = f"{prefix}{key}"
        if path == "hydra" or not is_identity_key(path):
            continue
        if derived is not None and OmegaConf.is_interpolation(node, key):
            derived.add(path)
        value = node[key]
        if isinstance(value, DictConfig):
            _flatten(value, f"{path}.", out, derived)
        else:
            out[path] = OmegaConf.to_container(value, resolve=True) if isinstance(value, ListConfig) else value


def identity(cfg: DictConfig, derived: set[str] | None = None) -> dict[str, Any]:
    """The run's identity: its resolved config less NOT_IDENTITY and the NEUTRAL keys at their neutral value, as flat
    dotted keys in sorted order.

    derived, if given, receives the keys whose value is an interpolation (model.sigma: ${sigma}).
    """
    flat: dict[str, Any] = {}
    _flatten(cfg, "", flat, derived)
    return dict(sorted((key, value) for key, value in flat.items() if not (key in NEUTRAL and value == NEUTRAL[key])))


def with_neutral(identity_: Mapping[str, Any]) -> dict[str, Any]:
    """An identity with the NEUTRAL keys it leaves out at their neutral value: every key a run trains with."""
    return dict(sorted({**NEUTRAL, **identity_}.items()))


REFERENCE = re.compile(r"^\$\{[A-Za-z_][\w.]*\}$")  # ${sigma}, ${data.channels}: another key's value, not a resolver's


def copies(node: Any, prefix: str = "") -> set[str]:
    """The keys whose value is another key's (model.sigma: ${sigma}, model.channels: ${data.channels}), as flat keys:
    the same value twice, which a table of settings shows once."""
    raw = OmegaConf.to_container(node, resolve=False) if isinstance(node, DictConfig) else node
    found: set[str] = set()
    for key, value in raw.items():
        if isinstance(value, dict):
            found |= copies(value, f"{prefix}{key}.")
        elif isinstance(value, str) and REFERENCE.match(value):
            found.add(f"{prefix}{key}")
    return found


def identity_of_saved_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The identity of a run folder's resolved config.yaml (folders made before identity.json existed)."""
    return identity(OmegaConf.create(dict(config)))


def digest(identity_: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity_, sort_keys=True).encode()).hexdigest()


def defaults_choice(choices: Mapping[str, str | None], also: tuple[str, ...] = ()) -> tuple[tuple[str, str], ...]:
    """Which defaults a run is named against: the chosen model, data, experiment and search (and the groups in `also`)."""
    return tuple((k, choices[k]) for k in (*NAMED_GROUPS, *SETTINGS_GROUPS, *also) if choices.get(k))


# The identity and group choices of the defaults of these choices, with no other override (uvb_lab/compose.py composes them).
Defaults = Callable[..., tuple[dict[str, Any], dict[str, str | None]]]


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, list):
        return "_".join(_text(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def _short_names(keys: list[str], all_keys: list[str]) -> dict[str, str]:
    """The last part of each key, or the whole dotted key where another identity key ends the same way."""
    last = [k.rsplit(".", 1)[-1] for k in all_keys]
    return {k: k.rsplit(".", 1)[-1] if last.count(k.rsplit(".", 1)[-1]) == 1 else k for k in keys}


def run_name(cfg: DictConfig, group_choices: Mapping[str, str | None], defaults: Defaults,
             search: Mapping[str, Any] | None = None, max_name: int = MAX_NAME) -> str:
    """The run folder's name: model, data, sigma, then what differs from the defaults (or a hash of it).

    group_choices: the options chosen for cfg's composition; defaults(choices, also=()): the identity and group
    choices of the defaults of those choices (uvb_lab/compose.py, defaults_identity). search: in a trial of a
    search, the settings its trials share; the name then lists what differs from those, which is what the trial tries.
    """
    derived: set[str] = set()
    current = identity(cfg, derived)
    base, base_choices = defaults(group_choices)
    base = with_neutral(base if search is None else search)  # a neutral key set by the defaults and unset here is named
    head = f"{current.get('run.model')}-{current.get('run.data')}-sigma{_text(current.get('sigma'))}"
    groups = [g for g in CHOSEN_GROUPS if group_choices.get(g) != base_choices.get(g)]
    parts = [f"{g.rsplit('/', 1)[-1]}_{group_choices.get(g)}" for g in groups]
    packages = tuple(g.replace("/", ".") + "." for g in groups)  # where each group's keys sit in the config
    group_base = defaults(group_choices, tuple(groups))[0] if groups else base  # a named option's own values
    named = with_neutral(current)
    changed = [
        key for key, value in named.items()
        if key not in derived and key not in ("sigma", "run.model", "run.data")
        and (key not in (reference := group_base if key.startswith(packages) else base) or reference[key] != value)
    ]
    short = _short_names(changed, list(named))
    parts += [f"{short[key]}{_text(named[key])}" for key in changed]
    name = "-".join([head, *parts])
    if len(name) > max_name or not SAFE.match(name):
        name = f"{head}-{digest(current)[:HASH_CHARS]}" if SAFE.match(head) else f"run-{digest(current)[:HASH_CHARS]}"
    return name


def differences(recorded: Mapping[str, Any], current: Mapping[str, Any], defaults_: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, recorded value, current value) for each identity key that makes `current` another run.

    A key the folder does not record was added to uvb-lab after the run was made; it is the same run while
    the key keeps its default (the value that keeps the old behaviour). A NEUTRAL key absent from either side
    has its neutral value. A recorded key that no longer exists is ignored: no code reads it any more.
    """
    found = [(key, recorded.get(key, neutral), current.get(key, neutral))
             for key, neutral in NEUTRAL.items() if recorded.get(key, neutral) != current.get(key, neutral)]
    for key, value in current.items():
        if key in NEUTRAL:
            continue
        if key in recorded:
            if recorded[key] != value:
                found.append((key, recorded[key], value))
        elif key in defaults_ and defaults_[key] != value:
            found.append((key, "(absent: the default " + _text(defaults_[key]) + ")", value))
    return found

