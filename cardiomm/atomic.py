"""Atomic output: write to a temporary name in the same folder, then rename.

An interrupted job therefore never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on error delete it.

    ``suffix`` defaults to the final file's suffix so that libraries that infer the format
    from the extension (nibabel, matplotlib) keep working.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sfx = "".join(path.suffixes) if suffix is None else suffix
    # temporaries of an earlier attempt that was killed (SIGKILL leaves no chance to clean up)
    for stale in path.parent.glob(f".{path.name}.*.tmp*"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{sfx}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600; give the final file the permissions a plain open() would (shared clusters)
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically write a text file."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_csv(df, path: str | os.PathLike) -> None:  # noqa: ANN001 - pandas DataFrame
    """Atomically write a pandas DataFrame as CSV without its index."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
