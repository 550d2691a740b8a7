"""Figure: the old phantom (issue-15 realism switches off) beside the new one; cine mid slice at ED and ES, the
basal slice at ES (the base has descended: atria) and the last T1 (MOLLI) image, RSS of the fully sampled k-space.

    OMP_NUM_THREADS=1 python docs/phantom_figure.py      # writes docs/img/phantom_old_new.png
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from cardiomm.cohort import Subject  # noqa: E402
from cardiomm.io.cmrxrecon import read_kspace  # noqa: E402
from cardiomm.phantom.generate import REALISM_OFF, PhantomConfig, cohort_specs, write_subject  # noqa: E402
from cardiomm.physics.coils import rss  # noqa: E402
from cardiomm.physics.fft import ifft2c  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    cfg = PhantomConfig.from_dict(yaml.safe_load((REPO / "config.yaml").read_text())["phantom"])
    spec = cohort_specs(cfg)[1]
    fig, axes = plt.subplots(2, 4, figsize=(10, 5.2))
    with tempfile.TemporaryDirectory() as tmp:
        for row, (name, c) in enumerate((("old", dataclasses.replace(cfg, **REALISM_OFF)), ("new", cfg))):
            write_subject(spec, c, Path(tmp) / name)
            subj = Subject(spec.subject, Path(tmp) / name, spec.split)
            cine = rss(ifft2c(torch.from_numpy(read_kspace(subj.kspace_path("cine"))))).numpy()
            t1 = rss(ifft2c(torch.from_numpy(read_kspace(subj.kspace_path("t1map"))))).numpy()
            es = int(round(spec.heart.es_phase * cfg.nt))
            for col, (img, title) in enumerate(((cine[0, cfg.nz // 2], "cine ED"), (cine[es, cfg.nz // 2], "cine ES"),
                                                (cine[es, 0], "cine ES, basal"), (t1[-1, 1], "MOLLI, last TI"))):
                ax = axes[row, col]
                ax.imshow(img[20:92, 34:110], cmap="gray", vmax=np.percentile(img, 99.5))
                ax.set_title(f"{name}: {title}", fontsize=9)
                ax.axis("off")
    fig.tight_layout()
    out = REPO / "docs" / "img" / "phantom_old_new.png"
    fig.savefig(out, dpi=90)
    print(out, out.stat().st_size)


if __name__ == "__main__":
    main()
