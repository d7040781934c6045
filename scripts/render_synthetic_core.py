"""Renders a preview of synthetic split-core sections and their disturbance labels.

Each section is shown whole (photograph above its label map) and, below, its top 40 cm at full
resolution, where the disturbance shapes can be judged. Used for the README picture:

  python scripts/render_synthetic_core.py --output=/tmp/synthetic_preview.png

Sections come from `coretf.synthetic.make_section` (Hutton 2025 disturbance types, §1.1.5).
"""

from __future__ import annotations

from absl import app
from absl import flags
import matplotlib

matplotlib.use("Agg")
from matplotlib import patches  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from coretf import synthetic  # noqa: E402
from coretf.plots import save_figure  # noqa: E402

FLAGS = flags.FLAGS

# Label colours: background black, undisturbed sediment pale, one colour per disturbance type.
_BACKGROUND, _UNDISTURBED = (0.05, 0.05, 0.05), (0.93, 0.93, 0.88)
_CODE_COLOURS = plt.get_cmap("tab10").colors


def define_flags() -> None:
    flags.DEFINE_string("output", None, "Path of the PNG to write.", required=True)
    flags.DEFINE_integer("num_sections", 3, "How many consecutive sections to show.")
    flags.DEFINE_integer("first_index", 0, "Index of the first section.")
    flags.DEFINE_integer("seed", 0, "Hole seed passed to make_section.")
    flags.DEFINE_float("px_per_cm", 40.0, "Rendering resolution.")
    flags.DEFINE_float("length_cm", 150.0, "Section length.")
    flags.DEFINE_float("detail_cm", 40.0, "Length of the full-resolution detail from the top.")


def label_rgb(section: synthetic.SyntheticSection) -> np.ndarray:
    """Colour-coded label map of a section.

    Args:
      section: a rendered section.

    Returns:
      (H, W, 3) float32 in [0, 1]: background black, undisturbed pale, disturbance by type.
    """
    out = np.empty(section.disturbance.shape + (3,), np.float32)
    out[:] = _BACKGROUND
    out[section.mask == 1] = _UNDISTURBED
    for code in range(1, len(synthetic.DISTURBANCE_CODES)):
        out[section.disturbance == code] = _CODE_COLOURS[code % len(_CODE_COLOURS)]
    return out


def render_preview(sections: list[synthetic.SyntheticSection], detail_cm: float,
                   output: str) -> None:
    """Writes the preview figure for `sections` to `output` (PNG)."""
    rows = []
    for s in sections:
        x0 = s.core_box[0]
        detail = slice(0, x0 + int(detail_cm * s.px_per_cm))
        x0, y0, x1, y1 = s.core_box
        fraction = 1 - s.mask[y0:y1, x0:x1].mean()
        title = f"{s.section_id}: {s.top_depth_cm:.0f}-{s.top_depth_cm + s.length_cm:.0f} cm, " \
                f"{100 * fraction:.0f} % disturbed"
        rows += [(s.image, title), (label_rgb(s), None)]
        rows += [(s.image[:, detail], f"{s.section_id}: top {detail_cm:.0f} cm"),
                 (label_rgb(s)[:, detail], None)]
    aspects = [img.shape[0] / img.shape[1] for img, _ in rows]
    width = 16.0
    fig, axes = plt.subplots(len(rows), 1, figsize=(width, width * sum(aspects) * 1.25 + 0.8),
                             gridspec_kw={"height_ratios": aspects})
    for ax, (img, title) in zip(axes, rows):
        ax.imshow(img, interpolation="antialiased")
        ax.set_axis_off()
        if title:
            ax.set_title(title, loc="left", fontsize=9)
    handles = [patches.Patch(color=_UNDISTURBED, label="undisturbed (mask 1)")]
    handles += [patches.Patch(color=_CODE_COLOURS[c % len(_CODE_COLOURS)], label=name)
                for name, c in synthetic.DISTURBANCE_CODES.items() if c > 0]
    fig.legend(handles=handles, loc="lower center", ncol=5, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    save_figure(fig, output, dpi=150, tight=False)


def main(argv: list[str]) -> None:
    del argv
    sections = [synthetic.make_section(i, seed=FLAGS.seed, length_cm=FLAGS.length_cm,
                                       px_per_cm=FLAGS.px_per_cm)
                for i in range(FLAGS.first_index, FLAGS.first_index + FLAGS.num_sections)]
    render_preview(sections, FLAGS.detail_cm, FLAGS.output)


if __name__ == "__main__":
    define_flags()
    app.run(main)
