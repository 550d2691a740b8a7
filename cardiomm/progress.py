"""Progress bars that write to the job's log, not to a terminal a cluster job does not have.

tqdm draws on stderr with carriage returns; a Snakemake job's stderr is the terminal of the session that
started it (or a Slurm output file), while its own record is the rule's ``log:`` file. :class:`LogStream` is a
file-like object for ``tqdm(file=...)`` that turns every redraw into one line of the ``cardiomm`` logger, which
:func:`cardiomm.stages.job.logged` sends to that log file.
"""

from __future__ import annotations

import io
import logging


class LogStream(io.TextIOBase):
    """Text stream whose complete lines (``\\n`` or ``\\r`` terminated) become ``logger.info`` records."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        super().__init__()
        self.logger = logger or logging.getLogger("cardiomm")
        self._buf = ""

    def write(self, text: str) -> int:
        self._buf += text.replace("\r", "\n")
        *lines, self._buf = self._buf.split("\n")
        for line in lines:
            if line.strip():
                self.logger.info(line.strip())
        return len(text)

    def flush(self) -> None:
        if self._buf.strip():
            self.logger.info(self._buf.strip())
        self._buf = ""

    def isatty(self) -> bool:
        return False


def tqdm_to_log(**kwargs: object) -> dict:
    """``tqdm`` keyword arguments that send the bar to the log: plain ASCII, fixed width, one line per update."""
    return {"file": LogStream(), "ascii": True, "ncols": 100, "dynamic_ncols": False, **kwargs}
