"""Records read back from run and sweep folders, as data: the one error their readers raise, and the checks they share.

uvb-lab reads back what it wrote (summary.json, metrics.jsonl, identity.json, config.yaml, protocol.json, search.json),
and a folder may be a colleague's copy, a download, or damaged: any field may hold anything. Each file's schema lives
where its format is defined (run/summary.py, run/files.py, run/folder.py, run/saved_config.py,
launch/protocol_record.py, launch/plan.py); a reader refuses a record that breaks it with a RecordError naming the
file and the field, which every command prints as one line and exits 2 on. Reading is bounded: a size per file and
the depth Python's parsers reach, so a crafted file can neither exhaust memory nor end in a RecursionError traceback.
"""

import json
import math
from pathlib import Path
from typing import Any

# A record of uvb-lab is at most a few MB (protocol.json of a large comparison); a larger file is not one it wrote.
MAX_BYTES = 64 << 20
# float32's largest finite value: every loss a run records was computed in float32 or bfloat16 (uvb_lab/training/train_step.py's
# precisions) and summed in float64, so a number beyond it is not a finite result of a run.
LARGEST = 3.4028234663852886e38
LARGEST_COUNT = 2**63 - 1  # steps, epochs, parameters: what a 64-bit counter holds


class RecordError(ValueError):
    """A file of a run or sweep folder that is not as uvb-lab writes it; the message names the file and the field.
    Nothing was built or written from it."""


def shown(value: Any, width: int = 60) -> str:
    """A value as a refusal quotes it: its repr, cut to `width` characters (a crafted field may be megabytes long)."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def read_json(path: Path, max_bytes: int = MAX_BYTES) -> Any:
    """The JSON value in path; RecordError where it cannot be read as JSON (FileNotFoundError where it is missing,
    for the callers to whom a missing record means something)."""
    try:
        if path.stat().st_size > max_bytes:
            raise RecordError(f"{path} is larger than {max_bytes} bytes; not a record of uvb-lab")
        text = path.read_text()
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError) as error:
        raise RecordError(f"cannot read {path} ({getattr(error, 'strerror', None) or error})") from None
    return parse_json(text, str(path))


def parse_json(text: str, where: str) -> Any:
    """json.loads of text, whose errors (a truncated file, nesting deeper than the parser recurses, an integer of
    thousands of digits) are a RecordError naming `where`."""
    try:
        return json.loads(text)
    except RecursionError:
        raise RecordError(f"{where} nests its values deeper than a record of uvb-lab can; not one it wrote") from None
    except ValueError as error:  # json.JSONDecodeError, and the integer-digits limit
        raise RecordError(f"{where} is not valid JSON ({str(error).splitlines()[0]}); it may be truncated or damaged") from None


def is_number(value: Any) -> bool:
    """A JSON number (never true/false, which Python counts as integers)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_finite(value: Any) -> bool:
    """A number a run could have computed: finite and within float32's range (LARGEST)."""
    return is_number(value) and math.isfinite(value) and abs(value) <= LARGEST


def is_count(value: Any) -> bool:
    """An integer >= 0 that a 64-bit counter holds (steps, epochs, parameters)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= LARGEST_COUNT


def measured(value: Any) -> float | int | None:
    """A measured number (a loss, a risk, a time) as readers take it: one that is not finite is None, as uvb-train
    writes a diverged loss (uvb_lab/run/files.py, jsonable). Only for values is_number already accepted."""
    return value if is_finite(value) else None


def folder_name(folder: Path, name: Any, where: str) -> Path:
    """folder/name for a run folder a record names, refused where the name would lead outside folder: it must be one
    plain folder name (no separator, not . or .., not absolute)."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise RecordError(f"{where} is {shown(name)}, not the name of a folder inside {folder}; nothing outside it is read")
    return folder / name
