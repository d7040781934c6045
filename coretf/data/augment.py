"""The three training augmentations of Hutton (2025, §2.5) for sediment-core patches.

- GN, Gaussian colour shift: one random (dL*, da*, db*) shift per patch. Each component is
  drawn from N(0, (fraction * between-section SD)^2).
- CS, cluster switching: the section-mean colours form two clusters (the paper's Fig. 8). The
  patch is moved from its nearest cluster to the other one, keeping its place relative to the
  cluster mean.
- RF, flip across the core: reverses image axis 0 only. Depth runs along axis 1 (image width),
  and gravity and the drilling direction make depth order meaningful, so axis 1 is never
  reversed.

Each augmentation is applied with probability p (0.5 in the paper). All randomness comes from
stateless ops driven by an explicit seed, a (2,) int32/int64 tensor. Results are reproducible,
and the functions run inside `tf.data.Dataset.map` in graph mode:

    stats = ColourStats.from_section_means(section_means_lab)  # (N, 3) L*a*b*, one per section

    def train_map(index, example):  # index from ds.enumerate(); 7 = the run's seed
        seed = tf.stack([index, tf.constant(7, tf.int64)])
        return augment(*example, seed, augmentations=("cs", "rf"), stats=stats)

    ds = ds.enumerate().map(train_map)  # ds yields (image, mask) pairs

Tensors: `image` float32 (H, W, 3) sRGB in [0, 1]; `mask` integer (H, W, 1), 1 = undisturbed
sediment, 0 = disturbed or background.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from sklearn.cluster import KMeans

from coretf.data.colour import lab_to_rgb, rgb_to_lab

AUGMENTATIONS = ("gn", "cs", "rf")
"""Names `augment` accepts. The position of each name also fixes its seed stream."""

# The public coreclean code's between-section SDs of section-mean L*, a*, b*.
_PAPER_SECTION_SD = (2.38, 0.76, 1.37)


@dataclasses.dataclass(frozen=True, eq=False)
class ColourStats:
    """Dataset colour statistics that GN and CS need.

    Attributes:
      section_sd: (3,) float64, the between-section SD (ddof=1) of the section-mean L*, a*, b*.
      cluster_means: (2, 3) float64, the two cluster centres of the section means in L*a*b*,
        sorted by a* (the paper finds the clusters "mostly distinguishable by redness"). NaN
        when unknown (see `paper`).
    """

    section_sd: np.ndarray
    cluster_means: np.ndarray

    def __post_init__(self) -> None:
        sd = np.array(self.section_sd, dtype=np.float64)
        means = np.array(self.cluster_means, dtype=np.float64)
        if sd.shape != (3,) or not np.all(np.isfinite(sd)) or np.any(sd < 0):
            raise ValueError(f"section_sd must be 3 finite values >= 0, got {self.section_sd!r}")
        if means.shape != (2, 3):
            raise ValueError(f"cluster_means must have shape (2, 3), got {means.shape}")
        sd.setflags(write=False)
        means.setflags(write=False)
        # Frozen dataclass: private, read-only copies so that callers cannot mutate the stats.
        object.__setattr__(self, "section_sd", sd)
        object.__setattr__(self, "cluster_means", means)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ColourStats):
            return NotImplemented
        return np.array_equal(self.section_sd, other.section_sd) and np.array_equal(
            self.cluster_means, other.cluster_means, equal_nan=True
        )

    @property
    def has_clusters(self) -> bool:
        """True if both cluster means are known (CS needs them)."""
        return bool(np.all(np.isfinite(self.cluster_means)))

    @classmethod
    def from_section_means(cls, means: np.ndarray, seed: int = 0) -> ColourStats:
        """Computes the statistics from one mean L*a*b* colour per core section.

        Args:
          means: (N, 3) array of section-mean L*, a*, b*, N >= 2 with at least two distinct.
          seed: random_state of the 2-means clustering (scikit-learn KMeans, n_init=10).

        Returns:
          ColourStats with the sample SD (ddof=1) over sections and the two cluster centres.

        Raises:
          ValueError: if `means` is not (N, 3), not finite, or has fewer than 2 distinct rows.
        """
        means = np.asarray(means, dtype=np.float64)
        if means.ndim != 2 or means.shape[1] != 3:
            raise ValueError(f"means must have shape (N, 3) (L*, a*, b*), got {means.shape}")
        if not np.all(np.isfinite(means)):
            raise ValueError("means contains NaN or infinite values")
        if len(np.unique(means, axis=0)) < 2:
            raise ValueError(
                f"need at least 2 sections with distinct mean colours to estimate the SD and "
                f"two colour clusters, got {len(means)} section(s) with "
                f"{len(np.unique(means, axis=0))} distinct mean(s)"
            )
        kmeans = KMeans(n_clusters=2, n_init=10, random_state=seed).fit(means)
        centres = kmeans.cluster_centers_
        # KMeans labels clusters arbitrarily. Sorting by a* makes the order reproducible.
        centres = centres[np.argsort(centres[:, 1], kind="stable")]
        return cls(section_sd=means.std(axis=0, ddof=1), cluster_means=centres)

    @classmethod
    def paper(cls, cluster_means: np.ndarray | None = None) -> ColourStats:
        """The base SDs of the public coreclean code: 2.38 (L*), 0.76 (a*), 1.37 (b*).

        Those SDs are enough for GN. The code's cluster means came from its own data, so CS
        needs `cluster_means` from your sections (`from_section_means`). Without them, CS
        raises instead of guessing.

        Args:
          cluster_means: optional (2, 3) L*a*b* cluster centres. If None, they are NaN.

        Returns:
          ColourStats.
        """
        if cluster_means is None:
            cluster_means = np.full((2, 3), np.nan)
        return cls(section_sd=np.array(_PAPER_SECTION_SD), cluster_means=cluster_means)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict. Unknown cluster means are written as null."""
        return {
            "section_sd": self.section_sd.tolist(),
            "cluster_means": self.cluster_means.tolist() if self.has_clusters else None,
        }

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> ColourStats:
        """Inverse of `to_dict`."""
        unknown = set(config) - {"section_sd", "cluster_means", "provenance"}
        if unknown:
            raise ValueError(f"unknown ColourStats keys {sorted(unknown)}")
        means = config["cluster_means"]
        return cls(
            section_sd=np.asarray(config["section_sd"], dtype=np.float64),
            cluster_means=np.full((2, 3), np.nan) if means is None else np.asarray(means),
        )


def _check_p(p: float) -> float:
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p}")
    return float(p)


def _split(seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Splits a (2,) seed into independent seeds for the coin flip and the parameters."""
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    return seeds[0], seeds[1]


def _coin(seed: tf.Tensor, p: float) -> tf.Tensor:
    """A scalar bool that is True with probability p (never for p=0, always for p=1)."""
    return tf.random.stateless_uniform([], seed=seed) < p


def _as_image(image: tf.Tensor) -> tf.Tensor:
    image = tf.convert_to_tensor(image)
    if image.dtype != tf.float32:
        raise TypeError(f"image must be float32 sRGB in [0, 1], got dtype {image.dtype.name}")
    return image


def gaussian_shift(
    image: tf.Tensor,
    seed: tf.Tensor,
    stats: ColourStats,
    fraction: float = 0.1,
    *,
    p: float = 0.5,
) -> tf.Tensor:
    """GN: with probability p, adds one random L*a*b* shift to every pixel of the patch.

    Args:
      image: float32 (H, W, 3) sRGB in [0, 1].
      seed: (2,) int32/int64 tensor.
      stats: the dataset's `ColourStats`. Only `section_sd` is used.
      fraction: the shift SD as a fraction of `stats.section_sd` (the paper's "GN0.1").
      p: probability of applying the shift.

    Returns:
      float32 (H, W, 3) sRGB in [0, 1]. Shifted colours outside the gamut are clipped.
    """
    image = _as_image(image)
    p = _check_p(p)
    if not fraction >= 0:
        raise ValueError(f"fraction must be >= 0, got {fraction}")
    coin_seed, shift_seed = _split(seed)
    sd = tf.constant(fraction * stats.section_sd, tf.float32)
    shift = tf.random.stateless_normal([3], seed=shift_seed) * sd

    def shifted() -> tf.Tensor:
        return lab_to_rgb(rgb_to_lab(image) + shift)

    # tf.cond, not tf.where: an unapplied augmentation returns the input bit for bit, with no
    # Lab round-trip rounding.
    return tf.cond(_coin(coin_seed, p), shifted, lambda: image)


def cluster_switch(
    image: tf.Tensor,
    mask: tf.Tensor,
    seed: tf.Tensor,
    stats: ColourStats,
    *,
    p: float = 0.5,
) -> tf.Tensor:
    """CS: with probability p, moves the patch's colour from its cluster to the other one.

    The patch's mean L*a*b* is taken over undisturbed pixels (mask == 1), or over all pixels
    if there are none. Every pixel is shifted by (other_mean - nearest_mean). The patch then
    sits in the same place relative to the other cluster as it did to its own.

    Args:
      image: float32 (H, W, 3) sRGB in [0, 1].
      mask: integer (H, W, 1), 1 = undisturbed sediment.
      seed: (2,) int32/int64 tensor. Only the coin flip uses it; the shift is deterministic.
      stats: the dataset's `ColourStats`. Its cluster means must be known.
      p: probability of applying the switch.

    Returns:
      float32 (H, W, 3) sRGB in [0, 1]. Shifted colours outside the gamut are clipped.

    Raises:
      ValueError: if `stats` has no cluster means (e.g. `ColourStats.paper()`).
    """
    if not stats.has_clusters:
        raise ValueError(
            "cluster switching needs the two cluster means of your section colours; build "
            "stats with ColourStats.from_section_means(...) or pass cluster_means to paper()"
        )
    image = _as_image(image)
    mask = tf.convert_to_tensor(mask)
    if mask.shape.rank is not None and mask.shape.rank != 3:
        # An (H, W) mask would broadcast against (H, W, 3) Lab without error when W == 3.
        raise ValueError(f"mask must have shape (H, W, 1), got {mask.shape}")
    p = _check_p(p)
    coin_seed, _ = _split(seed)
    centres = tf.constant(stats.cluster_means, tf.float32)

    def switched() -> tf.Tensor:
        lab = rgb_to_lab(image)
        weights = tf.cast(tf.equal(mask, 1), tf.float32)
        count = tf.reduce_sum(weights)
        # A fully disturbed patch still gets switched, judged by all its pixels.
        weights = tf.cond(count > 0, lambda: weights, lambda: tf.ones_like(weights))
        mean = tf.reduce_sum(lab * weights, axis=[0, 1]) / tf.reduce_sum(weights)
        nearest = tf.argmin(tf.reduce_sum(tf.square(centres - mean), axis=-1))
        shift = tf.gather(centres, 1 - nearest) - tf.gather(centres, nearest)
        return lab_to_rgb(lab + shift)

    return tf.cond(_coin(coin_seed, p), switched, lambda: image)


def flip_across_core(
    image: tf.Tensor, mask: tf.Tensor, seed: tf.Tensor, *, p: float = 0.5
) -> tuple[tf.Tensor, tf.Tensor]:
    """RF: with probability p, reverses axis 0 (across the core) of image and mask together.

    Axis 1 is depth and is never reversed: gravity and the drilling direction give the
    features their shape (the paper uses no horizontal flip for this reason).

    Args:
      image: (H, W, C) tensor.
      mask: (H, W, 1) tensor.
      seed: (2,) int32/int64 tensor.
      p: probability of flipping.

    Returns:
      (image, mask), both flipped or both unchanged.
    """
    p = _check_p(p)
    coin_seed, _ = _split(seed)
    return tf.cond(
        _coin(coin_seed, p),
        lambda: (tf.reverse(image, axis=[0]), tf.reverse(mask, axis=[0])),
        lambda: (tf.identity(image), tf.identity(mask)),
    )


def augment(
    image: tf.Tensor,
    mask: tf.Tensor,
    seed: tf.Tensor,
    *,
    augmentations: Sequence[str] = (),
    stats: ColourStats | None = None,
    gn_fraction: float = 0.1,
    p: float = 0.5,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Applies the selected augmentations, each independently with probability p.

    They run in the order given. Each name draws from its own stream split off `seed`, keyed
    by its position in `AUGMENTATIONS`. So whether GN is applied for a given seed does not
    depend on whether CS or RF were also selected.

    Args:
      image: float32 (H, W, 3) sRGB in [0, 1].
      mask: integer (H, W, 1), 1 = undisturbed sediment.
      seed: (2,) int32/int64 tensor, e.g. one per example from `Dataset.enumerate`.
      augmentations: names from `AUGMENTATIONS`: "gn", "cs", "rf".
      stats: required for "gn" and "cs".
      gn_fraction: GN's SD as a fraction of the between-section SD.
      p: probability of applying each augmentation.

    Returns:
      (image, mask) with the input shapes and dtypes.

    Raises:
      ValueError: for unknown or repeated names, for "gn"/"cs" without stats, for p outside
        [0, 1].
      TypeError: if augmentations is a bare string.
    """
    if isinstance(augmentations, str):
        raise TypeError(f"augmentations must be a sequence of names, e.g. ({augmentations!r},)")
    names = [str(name).lower() for name in augmentations]
    for name in names:
        if name not in AUGMENTATIONS:
            raise ValueError(f"unknown augmentation {name!r}; allowed: {', '.join(AUGMENTATIONS)}")
    if len(set(names)) != len(names):
        raise ValueError(f"augmentation listed twice in {list(augmentations)}")
    if stats is None and {"gn", "cs"} & set(names):
        raise ValueError("augmentations 'gn' and 'cs' need stats=ColourStats(...)")
    p = _check_p(p)
    seeds = tf.random.experimental.stateless_split(seed, num=len(AUGMENTATIONS))
    for name in names:
        own_seed = seeds[AUGMENTATIONS.index(name)]
        if name == "gn":
            image = gaussian_shift(image, own_seed, stats, gn_fraction, p=p)
        elif name == "cs":
            image = cluster_switch(image, mask, own_seed, stats, p=p)
        else:
            image, mask = flip_across_core(image, mask, own_seed, p=p)
    return image, mask
