"""A sampled search space: Hydra's `interval(a, b)` and `tag(log, interval(a, b))` sweeps drawn into configurations.

    uvb-train -m hydra/sweeper=successive_halving 'trainer.lr=tag(log,interval(1e-4,3e-2))' hydra.sweeper.n_samples=9

`draw` is the one place a sweep's overrides become its jobs, for the `--dry-run` plan (uvb_lab/launch/plan.py) and
for the sweepers (successive_halving, tune_then_test) alike. The grid keys (`a=1,2`, `choice`, `range`) expand as
Hydra's basic sweeper expands them; the interval keys are drawn jointly, n_samples points each with a value for
every interval key, and every grid job is crossed with every point: `sigma=0.5,1 trainer.lr=interval(...)` with
n_samples 9 is 18 configurations, the same 9 rates at each sigma, so the grid's values are compared on equal draws.

Why a relaunch redoes nothing: a point comes from `random.Random(sample_seed).random()` alone, whose sequence
Python keeps across versions for an integer seed, so the same seed draws the same configurations in the preview,
in the sweep and in every relaunch, which then finds their runs done. The first k points do not depend on
n_samples: a larger n_samples adds points to the same ones. A float is rounded to 3 significant digits, so run
folders read `lr0.00123`; an integer key (its config value is an int, or `tag(int, ...)`) draws integers. A
point equal to an earlier one once rounded is drawn again.
"""

import math
import random
from dataclasses import dataclass

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from omegaconf import DictConfig, OmegaConf
from omegaconf.nodes import FloatNode, IntegerNode

from uvb_lab.hydra_internals import expand_sweeps

SIGNIFICANT_DIGITS = 3
LOG, INT = "log", "int"  # the tags an interval takes: log-uniform, integers
DRAWS_PER_POINT = 100  # draws tried per point before a space too small for n_samples distinct points is refused
# The most configurations a sampled search draws: each is a training run, and a float interval holds a few thousand
# values at 3 digits anyway. Up to it the draws end in seconds even at worst (a space too small: DRAWS_PER_POINT per
# point, 100,000 draws in about 2 s on a 2-core AMD EPYC, 2026-12-06).
MAX_SAMPLES = 1000


@dataclass(frozen=True)
class Space:
    jobs: list[list[str]]  # one override list per configuration, the grid's jobs crossed with the points
    points: list[list[str]]  # the drawn points, one override list each (key=value per interval key); [] for a grid

    @property
    def sampled_keys(self) -> list[str]:
        return [override.split("=", 1)[0].lstrip("+~") for override in self.points[0]] if self.points else []


def hydra_setting_swept(override: Override) -> str:
    """Why a sweep over a hydra.* key is refused: a Hydra setting is one per sweep, and a sweep over it would run
    the same job once per value (`hydra.sweeper.params.trainer.lr=a,b` reads like a grid, and made a cell per value)."""
    key, values = override.key_or_group, override.input_line.split("=", 1)[1]
    inner = key.removeprefix("hydra.sweeper.params.")
    way = f": to sweep {inner}, write {inner}={values} (the command's sweep replaces hydra.sweeper.params' entry)" if inner != key else ""
    return f"{override.input_line} sweeps a Hydra setting, which is one per sweep{way}"


def draw(parser: OverridesParser, overrides: list[str], n_samples: int | None, sample_seed: int | None, cfg: DictConfig) -> Space:
    """The jobs of these overrides: the grid's, crossed with n_samples points drawn from sample_seed over the
    interval keys. cfg: the composition without the sweeps, whose values say which keys are numbers and integers.
    n_samples None: the sweeper draws nothing (Hydra's basic one). ValueError, one line, on a space that cannot work."""
    parsed = parser.parse_overrides(overrides)
    for override in parsed:
        if override.is_sweep_override() and override.key_or_group.startswith("hydra."):
            raise ValueError(hydra_setting_swept(override))
    intervals = [o for o in parsed if o.is_interval_sweep()]
    grid = expand_sweeps(parser, [o.input_line for o in parsed if not o.is_interval_sweep()])
    if n_samples is None:
        if intervals:
            raise ValueError(f"{intervals[0].input_line} draws values, which this sweeper cannot: use hydra/sweeper=successive_halving or tune_then_test (hydra.sweeper.n_samples), or optuna")
        return Space(grid, [])
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"hydra.sweeper.n_samples={n_samples}: draw at least 1 configuration from the intervals")
    if n_samples > MAX_SAMPLES:
        raise ValueError(f"hydra.sweeper.n_samples={n_samples}: a sampled search draws at most {MAX_SAMPLES} configurations, each a training run")
    if isinstance(sample_seed, bool) or not isinstance(sample_seed, int):
        raise ValueError(f"hydra.sweeper.sample_seed={sample_seed}: the seed of the draws is an integer")
    if not intervals:
        return Space(grid, [])
    points = _points(intervals, n_samples, sample_seed, cfg)
    return Space([[*job, *point] for job in grid for point in points], points)


def _points(intervals: list[Override], n_samples: int, sample_seed: int, cfg: DictConfig) -> list[list[str]]:
    """n_samples distinct points, each a value per interval, in the order random.Random(sample_seed) draws them."""
    draws = [_checked(interval, cfg) for interval in intervals]
    rng, points, seen = random.Random(sample_seed), [], set()
    for _ in range(DRAWS_PER_POINT * n_samples):
        point = [f"{o.get_key_element()}={value!r}" for o, (low, high, log, integer) in zip(intervals, draws)
                 for value in [_value(rng.random(), low, high, log, integer)]]
        if tuple(point) not in seen:
            seen.add(tuple(point))
            points.append(point)
            if len(points) == n_samples:
                return points
    listing = " ".join(o.input_line for o in intervals)
    raise ValueError(f"{listing} holds fewer than hydra.sweeper.n_samples={n_samples} distinct points at {SIGNIFICANT_DIGITS} significant digits: draw fewer")


def _checked(interval: Override, cfg: DictConfig) -> tuple[float, float, bool, bool]:
    """(low, high, log, integer) of an interval sweep, or ValueError where it cannot be drawn."""
    sweep, key = interval.value(), interval.key_or_group
    low, high, tags = sweep.start, sweep.end, set(sweep.tags)
    kind = _number_kind(cfg, key)
    if kind is None:
        raise ValueError(f"{interval.input_line}: {key} is not a number in this config, so an interval cannot be drawn for it; list its values (a,b,c)")
    if tags - {LOG, INT}:
        raise ValueError(f"{interval.input_line}: an interval takes the tags {LOG} and {INT}, not {', '.join(sorted(tags - {LOG, INT}))}")
    if not low < high:
        raise ValueError(f"{interval.input_line}: an interval needs its lower bound below its upper one")
    log, integer = LOG in tags, INT in tags or kind is int
    if log and low <= 0:
        raise ValueError(f"{interval.input_line}: a log interval needs bounds > 0")
    if integer and math.ceil(low) > math.floor(high):
        raise ValueError(f"{interval.input_line}: {key} takes integers, and none lies in the interval")
    return low, high, log, integer


def _number_kind(cfg: DictConfig, key: str) -> type | None:
    """int or float where cfg's key holds (or its schema types) a number; None where it holds anything else."""
    parent, _, leaf = key.rpartition(".")
    container = OmegaConf.select(cfg, parent) if parent else cfg
    if not isinstance(container, DictConfig) or leaf not in container:
        return None
    node = container._get_node(leaf)  # the schema's type where the value is null (lr_half_life_epochs); no public API has it
    if isinstance(node, IntegerNode):
        return int
    if isinstance(node, FloatNode):
        return float
    value = OmegaConf.select(cfg, key)
    return None if isinstance(value, bool) else int if isinstance(value, int) else float if isinstance(value, float) else None


def _value(u: float, low: float, high: float, log: bool, integer: bool) -> int | float:
    """The value at u in [0, 1) of the interval: uniform, or uniform in log where `log`; an integer widens the
    interval by half a unit each side and rounds, so that every integer in it is as likely."""
    if integer:
        low, high = math.ceil(low) - 0.5, math.floor(high) + 0.5
    x = math.exp(math.log(low) + u * (math.log(high) - math.log(low))) if log else low + u * (high - low)
    if integer:
        return min(max(round(x), math.ceil(low)), math.floor(high))
    return float(f"{x:.{SIGNIFICANT_DIGITS}g}")
