"""Physical validation of an ice-core segmentation model: `python -m coretf.analysis.ice_validation`.

Runs an exported ice_ct SavedModel (tiled, TensorFlow only) over every slice of an ice_ct dataset
and writes Table II (`table2.csv`, `table2.md`), Fig. 10 (`fig10_scatter.png`) and Fig. 11
(`fig11_overlays.png`) of Bagherzadeh et al. 2023 into --output: the network against the
thresholding methods, scores against the weak label (and the truth of synthetic specimens),
density, weight, 2-D specific surface area and intercept length. The method is in
`coretf.analysis.ice_evaluation`.

    python -m coretf.analysis.ice_validation --model=<SavedModel> --data_dir=<tfds dir> \\
        --dataset=synthetic --output=<dir>
"""

from __future__ import annotations

import os

from absl import flags

from coretf import flags as coretf_flags
from coretf.analysis import ice_evaluation


def define_flags() -> None:
    """Flags of `python -m coretf.analysis.ice_validation` (called under __main__ only)."""
    flags.DEFINE_string("model", None, "An ice_ct SavedModel folder (<model_dir>/export).",
                        required=True)
    flags.DEFINE_string("dataset", "synthetic", "ice_ct builder config (synthetic, manual, ...).")
    flags.DEFINE_string("data_dir", "runs/tensorflow_datasets", "TFDS data directory.")
    flags.DEFINE_string("manual_dir", None, "A lab's specimens folder, for the manual config.")
    flags.DEFINE_string("output", None, "Where Table II and the figures go.", required=True)
    flags.DEFINE_integer("tile", 0, "Tile side; 0 = the model's training tile.")


def main(argv) -> None:
    del argv
    from coretf.data import builders  # TFDS only when the command runs
    from coretf.data import ice_ct as ice_data

    values = flags.FLAGS
    predict = ice_evaluation.saved_model_predictor(values.model, values.tile or None)
    builder = builders.get_builder("ice_ct", values.dataset, values.data_dir, values.manual_dir)
    rows = ice_evaluation.validate(ice_data.iter_slices(builder), predict, values.output)
    print(ice_evaluation.markdown_table(rows))
    print(f"Table II, Fig. 10 and Fig. 11 in {os.path.abspath(values.output)}")


def cli() -> None:
    """`coretf-ice-validation` (console script) and `python -m coretf.analysis.ice_validation`."""
    coretf_flags.run_command(main, define_flags)


if __name__ == "__main__":
    cli()
