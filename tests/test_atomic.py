"""Atomic writes: nothing under the final name until complete; stale temporaries of a killed attempt removed."""

from __future__ import annotations

import os

import pytest

from cardiomm.atomic import atomic_path, write_text


def test_error_leaves_no_file(tmp_path):
    p = tmp_path / "out.csv"
    with pytest.raises(RuntimeError), atomic_path(p) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_final_file_appears_complete_with_normal_permissions(tmp_path):
    p = tmp_path / "sub" / "out.txt"
    write_text(p, "done\n")
    assert p.read_text() == "done\n"
    umask = os.umask(0)
    os.umask(umask)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_stale_temporaries_of_a_killed_attempt_are_removed(tmp_path):
    stale = tmp_path / ".out.nii.gz.abc123.tmp.nii.gz"
    stale.write_bytes(b"partial")
    other = tmp_path / ".other.nii.gz.abc.tmp.nii.gz"
    other.write_bytes(b"someone else's")
    with atomic_path(tmp_path / "out.nii.gz") as tmp:
        tmp.write_bytes(b"ok")
    assert not stale.exists() and other.exists()
    assert (tmp_path / "out.nii.gz").read_bytes() == b"ok"
