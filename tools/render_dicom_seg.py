"""Render a DICOM-SEG over its cine images, from the DICOM files alone (pydicom + highdicom + matplotlib), as a
check that what cardiomm writes is what a viewer shows (README "Your own scanner data").

    .venv/bin/python tools/render_dicom_seg.py results/<cohort>/dicom/<subject>/cine_<method>_<mask> docs/img/x.png

The folder is one MR image series (``IM_<frame>_<slice>.dcm``); its ``<folder>_SEG/SEG_<frame>.dcm`` are the
segmentations. Shown: the first frame's slices, the images with their rescale and window applied, each SEG
segment in its recommended display colour (converted from CIELab), filled and outlined.
"""

from __future__ import annotations

import sys
from pathlib import Path

import highdicom as hd
import matplotlib
import numpy as np
import pydicom

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from skimage.color import lab2rgb  # noqa: E402


def _rgb(seg: object, number: int) -> tuple[float, float, float]:
    item = seg.SegmentSequence[number - 1]
    lab = np.array(item.RecommendedDisplayCIELabValue, float) / 65535.0 * [100, 255, 255] - [0, 128, 128]
    return tuple(lab2rgb(lab[None, None])[0, 0])


def render(series: Path, out: Path, frame: int = 0, max_slices: int = 4) -> None:
    images = sorted((pydicom.dcmread(p) for p in series.glob(f"IM_{frame:03d}_*.dcm")),
                    key=lambda d: float(d.SliceLocation))
    seg = hd.seg.segread(Path(f"{series}_SEG") / f"SEG_{frame:03d}.dcm")
    step = max(1, len(images) // max_slices)
    picks = images[::step][:max_slices]
    fig, axes = plt.subplots(1, len(picks), figsize=(3.2 * len(picks), 3.6), squeeze=False)
    for ax, ds in zip(axes[0], picks):
        img = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        lo, hi = np.percentile(img, [1, 99.5])
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
        lab = seg.get_pixels_by_source_instance(source_sop_instance_uids=[ds.SOPInstanceUID],
                                                segment_numbers=[1, 2, 3], combine_segments=True, relabel=True,
                                                assert_missing_frames_are_empty=True)[0]
        over = np.zeros((*lab.shape, 4))
        for n in (2, 1, 3):  # myocardium first: its inner outline is the LV blood pool's
            if (lab == n).any():
                over[lab == n] = (*_rgb(seg, n), 0.35)
                ax.contour(lab == n, levels=[0.5], colors=[_rgb(seg, n)], linewidths=1.0)
        ax.imshow(over, interpolation="nearest")
        ax.set_title(f"slice at {float(ds.SliceLocation):.0f} mm", fontsize=9)
        ax.axis("off")
    names = [s.SegmentLabel for s in seg.SegmentSequence]
    handles = [plt.Line2D([], [], color=_rgb(seg, n), lw=2) for n in (1, 2, 3)]
    fig.legend(handles, names, loc="lower center", ncol=3, fontsize=9, frameon=False)
    fig.suptitle(f"{picks[0].SeriesDescription}, frame {frame} (trigger {float(picks[0].TriggerTime):.0f} ms): "
                 f"DICOM-SEG over the MR images, read back from DICOM", fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)


if __name__ == "__main__":
    render(Path(sys.argv[1]), Path(sys.argv[2]))
