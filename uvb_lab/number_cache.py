"""A number that is costly to compute and the same for every run that asks for it (a baseline denoiser's loss on a
split's noisy images): computed once, then kept in this process and in one small JSON file per key under the cache
folder (figures.cache_dir, default ~/.cache/uvb-lab).

The key is a digest of everything the number depends on (the images' content, sigma, the noise's seed and split), so no
other input can hit it. A file read back is data: its JSON is parsed and its number checked (a finite float, under
the same key); a damaged file is computed over, and a cache folder that cannot be written only warns.
"""

import hashlib
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from uvb_lab.run.files import write_atomic

log = logging.getLogger(__name__)

VALUE = "risk"  # the number's field in a cache file


def key_of(*parts: Any) -> str:
    """The sha256 of the JSON of what a number depends on (digests, sigma, seed, split)."""
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def read_cached(file: Path, key: str) -> float | None:
    """The number in a cache file written under `key`; None where there is none, or the file is not one we wrote."""
    if not file.is_file():
        return None
    try:
        cached = json.loads(file.read_text())
    except (OSError, ValueError) as error:  # a damaged cache file is computed over, not a reason to fail
        log.warning("cached number %s is unreadable (%r); computing it again", file, error)
        return None
    value = cached.get(VALUE) if isinstance(cached, dict) and cached.get("key") == key else None
    return value if isinstance(value, float) and math.isfinite(value) else None


def cached_number(memory: dict[str, float], key: str, compute: Callable[[], float], cache_dir: str | Path | None,
                  folder: str, what: str, **record: Any) -> float:
    """memory[key] if this process has it, else the cache file's, else compute() (then kept in both).

    folder: the cache folder's subfolder (one <key[:32]>.json per number); what: the number's name in warnings;
    record: what the file says besides the number, for a person reading it (sigma, seed, split, digests).
    """
    if key in memory:
        return memory[key]
    file = Path(cache_dir).expanduser() / folder / f"{key[:32]}.json" if cache_dir is not None else None
    if file is not None and (value := read_cached(file, key)) is not None:
        memory[key] = value
        return value
    memory[key] = float(compute())
    if file is not None:
        text = json.dumps({"key": key, VALUE: memory[key], **record})
        try:
            write_atomic(file, lambda tmp: tmp.write_text(text))
        except OSError as error:  # a read-only or full cache folder: the number is known, only not kept
            log.warning("cannot cache the %s in %s (%s); it is computed again next time", what, file, error)
    return memory[key]
