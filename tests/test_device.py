"""cardiomm.device: thread limits reach torch whether it is imported before or after, and cost no torch import."""

import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PATH": "/usr/bin:/bin"}).stdout.strip()


def test_limit_threads_before_torch_is_imported():
    out = _run("import sys; from cardiomm.device import limit_threads; limit_threads(1); "
               "print('torch' in sys.modules); import torch; print(torch.get_num_threads())")
    assert out.split() == ["False", "1"]


def test_limit_threads_after_torch_is_imported():
    out = _run("import torch; torch.set_num_threads(2); from cardiomm.device import limit_threads; "
               "limit_threads(1); print(torch.get_num_threads())")
    assert out == "1"
