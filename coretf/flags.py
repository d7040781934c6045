"""Command-line flags of `python -m coretf.train`, and the configuration they resolve to.

Flags are defined in `define_flags()` only (called by the app under `__main__`), and turned into
a plain `TrainConfig` that library code takes as an argument; nothing else reads FLAGS.
"""

from __future__ import annotations

import dataclasses
import pkgutil

from absl import flags

from coretf import jobs as jobs_package

JOBS = tuple(sorted(m.name for m in pkgutil.iter_modules(jobs_package.__path__)))  # coretf/jobs/*.py
MODELS = ("segnet", "unet", "fcn8")
AUGMENTATIONS = ("gn", "cs", "rf")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "auto")
STRATEGIES = ("default", "mirrored", "multi_worker")
ICE_NETWORKS = ("unet", "published")  # ice_ct: the paper's U-Net, or the published code's network
# --- sediment_grains --- (kept here, not imported from coretf.models, so flags load no Keras)
VAE_BACKBONES = ("small", "resnet18", "resnet50", "resnet152")
VAE_RECONSTRUCTIONS = ("sum", "mean")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs; see `define_flags` for the meaning of each field."""

    job: str = "sediment_cores"
    dataset: str = "synthetic"
    data_dir: str = "runs/tensorflow_datasets"
    manual_dir: str | None = None
    model: str = "segnet"
    kernel_size: int = 3
    filters: tuple[int, ...] = (64,)
    depth: int = 4
    upsampling: str = "transpose"
    activation: str = "relu"
    vgg16_weights: str | None = None
    batch_size: int = 16
    epochs: int = 3
    steps_per_epoch: int = 0
    validation_steps: int = 0
    learning_rate: float = 1e-3
    class_weights: tuple[float, ...] | None = None
    augment: tuple[str, ...] = ()
    gn_fraction: float = 0.1
    augment_p: float = 0.5
    seed: int = 0
    mixed_precision: str = "auto"
    strategy: str = "default"
    export_policy: str = "float32"
    image_summaries: int = 4
    # --- rock_ct ---
    rock_train_stacks: tuple[str, ...] = ()
    rock_train_slices: int = 0
    rock_iou_form: str = "pixel"
    rock_iou_alpha: float = 1.0
    rock_batch_fraction: float = 0.2
    rock_final_learning_rate: float = 1e-5
    rock_patch_size: int = 64
    rock_threshold: float = 0.5
    rock_overlap: int = 0
    # --- ice_ct ---
    ice_network: str = "unet"
    ice_batchnorm: bool = False
    ice_patch_size: int = 128
    ice_tile: int = 256
    # --- sediment_grains ---
    vae_backbone: str = "small"
    vae_shared_branches: bool = False
    vae_latent_dim: int = 512
    vae_beta: float = 1.0
    vae_reconstruction: str = "sum"
    vae_imagenet_weights: str | None = None
    vae_clusters: int = 100
    vae_dihedral: bool = True

    def __post_init__(self):
        checks = {"job": (self.job, JOBS), "model": (self.model, MODELS),
                  "mixed_precision": (self.mixed_precision, PRECISIONS),
                  "strategy": (self.strategy, STRATEGIES),
                  "export_policy": (self.export_policy, ("float32", "mixed_bfloat16"))}
        for name, (value, allowed) in checks.items():
            if value not in allowed:
                raise ValueError(f"--{name}={value!r}: must be one of {', '.join(allowed)}")
        bad = [a for a in self.augment if a not in AUGMENTATIONS]
        if bad:
            raise ValueError(f"--augment={','.join(self.augment)}: unknown {bad}; allowed {AUGMENTATIONS}")
        for name in ("batch_size", "epochs", "depth", "kernel_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name}={getattr(self, name)}: must be >= 1")
        # --- rock_ct ---
        object.__setattr__(self, "rock_train_stacks", tuple(self.rock_train_stacks))
        if self.rock_iou_form not in ("pixel", "patch"):
            raise ValueError(f"--rock_iou_form={self.rock_iou_form!r}: must be pixel or patch")
        if not 0 < self.rock_batch_fraction <= 1:
            raise ValueError(f"--rock_batch_fraction={self.rock_batch_fraction}: must be in (0, 1]")
        if not 0 < self.rock_threshold < 1:
            raise ValueError(f"--rock_threshold={self.rock_threshold}: must be in (0, 1)")
        if not 0 <= self.rock_overlap < self.rock_patch_size:
            raise ValueError(f"--rock_overlap={self.rock_overlap}: must be in [0, rock_patch_size)")
        if self.rock_train_slices < 0 or self.rock_final_learning_rate <= 0:
            raise ValueError("--rock_train_slices must be >= 0 and --rock_final_learning_rate > 0")
        # --- ice_ct ---
        if self.ice_network not in ICE_NETWORKS:
            raise ValueError(f"--ice_network={self.ice_network!r}: must be one of {', '.join(ICE_NETWORKS)}")
        for name in ("ice_patch_size", "ice_tile"):
            if getattr(self, name) < 16:
                raise ValueError(f"--{name}={getattr(self, name)}: must be >= 16")
        # --- sediment_grains ---
        grain_checks = {"vae_backbone": (self.vae_backbone, VAE_BACKBONES),
                        "vae_reconstruction": (self.vae_reconstruction, VAE_RECONSTRUCTIONS)}
        for name, (value, allowed) in grain_checks.items():
            if value not in allowed:
                raise ValueError(f"--{name}={value!r}: must be one of {', '.join(allowed)}")
        for name in ("vae_latent_dim", "vae_clusters"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name}={getattr(self, name)}: must be >= 1")
        if self.vae_beta < 0:
            raise ValueError(f"--vae_beta={self.vae_beta}: must be >= 0")


def define_flags() -> None:
    """Defines the training flags on absl's global FLAGS (call once, from the app)."""
    d = TrainConfig()
    flags.DEFINE_enum("job", d.job, JOBS, "Which job (dataset, metrics and export) to train.")
    flags.DEFINE_string("dataset", d.dataset, "Builder config, e.g. synthetic, synthetic_256, manual.")
    flags.DEFINE_string("data_dir", d.data_dir, "TFDS data directory (built there if missing).")
    flags.DEFINE_string("manual_dir", None, "A lab's data folder, for the manual configs.")
    flags.DEFINE_string("model_dir", None, "Where checkpoints, logs, metrics and export go.", required=True)
    flags.DEFINE_enum("model", d.model, MODELS, "Architecture.")
    flags.DEFINE_integer("kernel_size", d.kernel_size, "Convolution kernel size (3, 5 or 7).")
    flags.DEFINE_list("filters", [str(f) for f in d.filters],
                      "Filters: one base value, or one per level.")
    flags.DEFINE_integer("depth", d.depth, "Number of pooling levels (SegNet, U-Net).")
    flags.DEFINE_enum("upsampling", d.upsampling, ["transpose", "nearest"], "U-Net upsampling.")
    flags.DEFINE_string("activation", d.activation, "U-Net activation.")
    flags.DEFINE_string("vgg16_weights", None, "Local VGG16 weights file for FCN-8 (never downloaded).")
    flags.DEFINE_integer("batch_size", d.batch_size, "Global batch size.")
    flags.DEFINE_integer("epochs", d.epochs, "Epochs.")
    flags.DEFINE_integer("steps_per_epoch", d.steps_per_epoch, "Steps per epoch; 0 = one pass.")
    flags.DEFINE_integer("validation_steps", d.validation_steps, "Validation batches; 0 = all.")
    flags.DEFINE_float("learning_rate", d.learning_rate, "Adam learning rate.")
    flags.DEFINE_list("class_weights", None, "Cross-entropy weight per class, e.g. 2,1.")
    flags.DEFINE_list("augment", [], f"Augmentations among {','.join(AUGMENTATIONS)}.")
    flags.DEFINE_float("gn_fraction", d.gn_fraction, "GN sigma as a fraction of the between-section SD.")
    flags.DEFINE_float("augment_p", d.augment_p, "Probability of each augmentation.")
    flags.DEFINE_integer("seed", d.seed, "Seed of weights, shuffling and augmentation.")
    flags.DEFINE_enum("mixed_precision", d.mixed_precision, PRECISIONS,
                      "auto = mixed_float16 on a GPU, float32 on a CPU.")
    flags.DEFINE_enum("strategy", d.strategy, STRATEGIES, "tf.distribute strategy.")
    flags.DEFINE_enum("export_policy", d.export_policy, ["float32", "mixed_bfloat16"],
                      "Compute dtype of the exported SavedModel.")
    flags.DEFINE_integer("image_summaries", d.image_summaries, "Validation patches shown in TensorBoard.")
    # --- rock_ct ---
    flags.DEFINE_list("rock_train_stacks", [], "rock_ct: training stacks (default: the first "
                      "stack of each rock type).")
    flags.DEFINE_integer("rock_train_slices", d.rock_train_slices, "rock_ct: training slices in "
                         "all, shared equally by the training stacks (0 = the shortest stack's).")
    flags.DEFINE_enum("rock_iou_form", d.rock_iou_form, ["pixel", "patch"],
                      "rock_ct: IoU term of the loss per pixel (eq. 1 as written) or per patch.")
    flags.DEFINE_float("rock_iou_alpha", d.rock_iou_alpha, "rock_ct: weight alpha of the IoU term.")
    flags.DEFINE_float("rock_batch_fraction", d.rock_batch_fraction,
                       "rock_ct: fraction of the minibatches used per epoch (paper: 1/5).")
    flags.DEFINE_float("rock_final_learning_rate", d.rock_final_learning_rate,
                       "rock_ct: learning rate of the last epoch (multiplicative decay).")
    flags.DEFINE_integer("rock_patch_size", d.rock_patch_size, "rock_ct: training/inference patch side.")
    flags.DEFINE_float("rock_threshold", d.rock_threshold, "rock_ct: P(pore) threshold of the table.")
    flags.DEFINE_integer("rock_overlap", d.rock_overlap,
                         "rock_ct: minimum overlap of inference patches, px (0 = minimal overlap).")
    # --- ice_ct ---
    flags.DEFINE_enum("ice_network", d.ice_network, ICE_NETWORKS,
                      "ice_ct: unet = the paper's U-Net (--depth, --filters, --upsampling); "
                      "published = the published code's 6-level network (1,513,409 parameters).")
    flags.DEFINE_boolean("ice_batchnorm", d.ice_batchnorm, "ice_ct: BatchNorm in the U-Net's blocks.")
    flags.DEFINE_integer("ice_patch_size", d.ice_patch_size, "ice_ct: training crop side, low-res px.")
    flags.DEFINE_integer("ice_tile", d.ice_tile, "ice_ct: tile side of whole-slice inference, px.")
    # --- sediment_grains ---
    flags.DEFINE_enum("vae_backbone", d.vae_backbone, VAE_BACKBONES,
                      "Grain VAE branch: small (CPU default), resnet18, resnet50, resnet152 (the paper).")
    flags.DEFINE_boolean("vae_shared_branches", d.vae_shared_branches,
                         "One set of branch weights for all six focal layers.")
    flags.DEFINE_integer("vae_latent_dim", d.vae_latent_dim, "Grain VAE latent size (the paper: 512).")
    flags.DEFINE_float("vae_beta", d.vae_beta, "Weight of the KL term.")
    flags.DEFINE_enum("vae_reconstruction", d.vae_reconstruction, VAE_RECONSTRUCTIONS,
                      "sum: squared error summed per example (ELBO); mean: the paper's literal mean MSE.")
    flags.DEFINE_string("vae_imagenet_weights", None,
                        "Local ImageNet weights file (*_notop.h5) for resnet50/resnet152 branches.")
    flags.DEFINE_integer("vae_clusters", d.vae_clusters, "K of the K-means over the latent means.")
    flags.DEFINE_boolean("vae_dihedral", d.vae_dihedral,
                         "Train on random rotations by 90 degrees and mirror images of each particle, and "
                         "cluster latent means averaged over its eight views (a grain's orientation means nothing).")


def config_from_flags(values: flags.FlagValues) -> TrainConfig:
    """Resolves parsed flags into a TrainConfig, with errors that name the flag."""
    def ints(name):
        try:
            return tuple(int(v) for v in values[name].value)
        except ValueError:
            raise ValueError(f"--{name}={','.join(values[name].value)}: expected integers") from None

    weights = values["class_weights"].value
    try:
        class_weights = tuple(float(w) for w in weights) if weights else None
    except ValueError:
        raise ValueError(f"--class_weights={','.join(weights)}: expected numbers") from None
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    plain = {name: values[name].value for name in fields - {"filters", "class_weights", "augment"}}
    return TrainConfig(**plain, filters=ints("filters"), class_weights=class_weights,
                       augment=tuple(a.strip().lower() for a in values["augment"].value))
