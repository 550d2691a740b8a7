"""What every stage job shares: its log (and the provenance stamp of its outputs), and the series its named
entries list.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path

from cardiomm.workflow import named

log = logging.getLogger("cardiomm")


@contextlib.contextmanager
def logged(log_path: str | None, config: dict | None = None, threads: int | None = None
           ) -> Iterator[logging.Logger]:
    """Send the ``cardiomm`` logger (and uncaught errors with their traceback) to ``log_path`` and stderr.

    With ``threads`` (the rule's Snakemake ``threads``), torch, BLAS and numba use at most that many threads
    (:func:`cardiomm.device.limit_threads`).

    An exception is logged and re-raised, so the job fails with a non-zero exit and the message names the file.
    With ``config``, outputs written inside are stamped with the code version and config hash
    (:mod:`cardiomm.provenance`), and the log starts with them.
    """
    from cardiomm import provenance

    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    for h in handlers:
        h.setFormatter(fmt)
        log.addHandler(h)
    log.setLevel(logging.INFO)
    if threads is not None:
        from cardiomm.device import limit_threads

        limit_threads(threads)
    st = provenance.activate(config)
    if st:
        log.info("cardiomm %s, config sha256 %s", st["cardiomm_version"], st["config_sha256"])
    try:
        yield log
    except BaseException as err:
        log.error("FAILED: %s", err)
        log.debug("".join(traceback.format_exception(err)))
        raise
    finally:
        provenance.activate(None)
        for h in handlers:
            log.removeHandler(h)
            h.close()


def series(files: Mapping[str, str]) -> list[tuple[str, str]]:
    """The ``(modality, mask)`` series named in a rule's entries (``key(mod, mask, ...)``), in their order."""
    return list(dict.fromkeys(k[:2] for k in named(files)))
