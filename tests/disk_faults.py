"""A disk that says no, for the tests: a folder made read-only, and a checkpoint write that meets a full disk.

Read-only, two ways, since neither works everywhere: the folder's mode (chmod; root writes through any mode, so that
way is skipped for root) and a read-only bind mount of it (as a compute node's shared folders can be; root only,
skipped where mounting is not allowed). A test that takes the `read_only` fixture runs once per way.
"""

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch


def _chmod(folder: Path) -> Callable[[], None]:
    if os.geteuid() == 0:
        pytest.skip("root writes through a folder's mode")
    folders = [folder, *(p for p in folder.rglob("*") if p.is_dir())]
    for path in folders:
        path.chmod(0o555)

    def undo() -> None:
        for path in folders:
            path.chmod(0o755)

    return undo


def _mount(folder: Path) -> Callable[[], None]:
    def mount(*args: str) -> bool:
        return subprocess.run(["mount", *args], capture_output=True).returncode == 0

    if os.geteuid() != 0 or shutil.which("mount") is None or not mount("--bind", str(folder), str(folder)):
        pytest.skip("cannot bind-mount a folder here")
    if not mount("-o", "remount,bind,ro", str(folder)):
        subprocess.run(["umount", str(folder)], capture_output=True)
        pytest.skip("cannot remount a folder read-only here")
    return lambda: subprocess.run(["umount", str(folder)], capture_output=True)


@pytest.fixture(params=["chmod", "mount"])
def read_only(request) -> Iterator[Callable[[Path], None]]:
    """read_only(folder): from then on until the test ends, nothing can be written in folder or below it."""
    undo: list[Callable[[], None]] = []
    yield lambda folder: undo.append({"chmod": _chmod, "mount": _mount}[request.param](folder))
    for step in reversed(undo):
        step()


def torch_save_that_fills_the_disk(at_save: int, reported_as: str = "torch") -> Callable[..., None]:
    """torch.save whose at_save-th call writes half a checkpoint and stops, as on a full disk: with the OSError itself
    (reported_as="oserror"), or as torch's zip writer reports a short write: a RuntimeError ("unexpected pos"), the
    OSError only its context (measured on a 64 KiB tmpfs, torch 2.13)."""
    real_save, saves = torch.save, []

    def save(state, f, *rest, **kwargs):
        saves.append(1)
        if len(saves) != at_save:
            return real_save(state, f, *rest, **kwargs)
        f.write(b"half a checkpoint")
        try:
            raise OSError(28, "No space left on device")
        except OSError:
            if reported_as == "torch":
                raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")  # noqa: B904
            raise

    return save
