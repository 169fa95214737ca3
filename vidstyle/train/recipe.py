"""The recipe of a remaster training run: a TOML file that fixes everything the run depends on.

A recipe (see ``pipelines/recipes/``) names the scale, the generator and discriminator, the
patches, the damage mix, both phases, the schedule, the logging intervals and the seed.
:meth:`Recipe.load` reads it and checks every key; the networks check their own
hyperparameters. The recipe's text goes on the exported card and into the checkpoint, so that a
resumed run is known to use the same recipe.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from ..models.discriminator import MultiScaleDiscriminator
from ..models.generator import RemasterGenerator
from .losses import PerceptualLoss
from .pairs import DamageMix

__all__ = ["Recipe", "RecipeError"]


class RecipeError(ValueError):
    """A recipe file that is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Recipe:
    """A training recipe, read from TOML by :meth:`load`; every field is checked there."""

    name: str
    """Name of the exported weights (``NAME.safetensors``)."""
    scale: int
    """1, 2 or 4."""
    seed: int
    """Fixes the data, the initial weights and everything else random."""
    generator: dict[str, Any]
    """Keyword hyperparameters of RemasterGenerator except ``scale``."""
    discriminator: dict[str, Any]
    """Keyword hyperparameters of MultiScaleDiscriminator."""
    patch_size: int
    """Side of the low-resolution training patch, a multiple of 4."""
    batch_size: int
    h264_probability: float
    """Share of low-resolution patches also sent through an H.264 round trip."""
    overfit_batches: int
    """When above 0, cycle over this many batches only: a check that the model can fit (smoke)."""
    dead_leaves: int
    """How many procedural dead leaves pictures join the sources (vidstyle.train.data.dead_leaves_frames)."""
    mix: DamageMix
    """The damage mix (vidstyle.train.pairs.DamageMix): clean pairs, tone, second-order chains."""
    crf_range: tuple[int, int]
    """Inclusive range of the x264 CRF of the H.264 round trips."""
    phase1_steps: int
    phase1_lr: float
    phase1_perceptual_weight: float
    phase2_steps: int
    phase2_lr: float
    phase2_lr_discriminator: float
    phase2_perceptual_weight: float
    adversarial_weight: float
    feature_matching_weight: float
    warmup_steps: int
    """Linear warm-up of the phase-1 learning rate."""
    final_lr_fraction: float
    """Each phase decays its learning rate along a cosine to this fraction of its start."""
    ema_decay: float
    """Decay of the moving average of the generator's weights (evaluated and exported); 0: none."""
    perceptual: str
    """``auto``, ``vgg19`` or ``gradient`` (see vidstyle.train.losses.PerceptualLoss)."""
    log_every: int
    eval_every: int
    checkpoint_every: int
    eval_frame_stride: int
    """Every n-th held-out clip frame in the evaluations during training."""
    final_eval_frame_stride: int
    """The same for the final evaluation that goes on the card (1: every held-out frame)."""
    text: str = field(repr=False, default="")
    """The TOML source, for the card and to check a resume uses the same recipe."""

    @property
    def total_steps(self) -> int:
        return self.phase1_steps + self.phase2_steps

    _SECTIONS = {
        "": {"name", "scale", "seed"},
        "generator": None,  # free-form hyperparameters, checked by building the network
        "discriminator": None,
        "data": {"patch_size", "batch_size", "h264_probability", "overfit_batches", "dead_leaves",
                 "clean_probability", "tone_probability", "second_order_probability",
                 "lowest_jpeg_quality", "coded_clean_probability", "crf_range"},
        "phase1": {"steps", "lr", "perceptual_weight"},
        "phase2": {"steps", "lr", "lr_discriminator", "perceptual_weight", "adversarial_weight",
                   "feature_matching_weight"},
        "schedule": {"warmup_steps", "final_lr_fraction", "ema_decay"},
        "losses": {"perceptual"},
        "logging": {"log_every", "eval_every", "checkpoint_every", "eval_frame_stride",
                    "final_eval_frame_stride"},
    }

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recipe:
        """Read and check the recipe at ``path``.

        Raises:
            RecipeError: the file cannot be read, is not TOML, has unknown sections or keys,
                misses a key without a default, or holds a value of the wrong type or range.
        """
        path = Path(path)
        try:
            text = path.read_text()
            raw = tomllib.loads(text)
        except OSError as ex:
            raise RecipeError(f"cannot read recipe {path}: {ex.strerror or ex}") from ex
        except tomllib.TOMLDecodeError as ex:
            raise RecipeError(f"recipe {path} is not valid TOML: {ex}") from ex
        cls._check_sections(raw, path.name)
        recipe = cls._from_table(_Table(raw, path.name), text)
        recipe._check(path.name)
        return recipe

    @classmethod
    def _check_sections(cls, raw: dict[str, Any], file: str) -> None:
        for key, value in raw.items():
            if isinstance(value, dict):
                if key not in cls._SECTIONS:
                    raise RecipeError(f"{file}: unknown section [{key}]")
                allowed = cls._SECTIONS[key]
                if allowed is not None and set(value) - allowed:
                    unknown = ", ".join(sorted(set(value) - allowed))
                    raise RecipeError(f"{file}: unknown key(s) in [{key}]: {unknown}")
            elif key not in cls._SECTIONS[""]:
                raise RecipeError(f"{file}: unknown top-level key {key!r}")

    @classmethod
    def _from_table(cls, get: _Table, text: str) -> Recipe:
        """The recipe's fields from the checked TOML table, the defaults where a key is left out."""
        file = get.file
        scale = get("", "scale", int)
        if scale not in (1, 2, 4):
            raise RecipeError(f"{file}: scale must be 1, 2 or 4, got {scale}")
        patch_size = get("data", "patch_size", int, low=8)
        if patch_size % RemasterGenerator.size_multiple:
            raise RecipeError(
                f"{file}: data.patch_size should be divisible by "
                f"{RemasterGenerator.size_multiple}, instead got {patch_size}"
            )
        generator = dict(get.raw.get("generator", {}))
        if "scale" in generator:
            raise RecipeError(f"{file}: give the scale at the top level, not in [generator]")
        return cls(
            name=get("", "name", str),
            scale=scale,
            seed=get("", "seed", int, low=0),
            generator=generator,
            discriminator=dict(get.raw.get("discriminator", {})),
            patch_size=patch_size,
            batch_size=get("data", "batch_size", int, low=1),
            h264_probability=get("data", "h264_probability", float, 0.25, low=0.0, high=1.0),
            overfit_batches=get("data", "overfit_batches", int, 0, low=0),
            dead_leaves=get("data", "dead_leaves", int, 0, low=0),
            mix=DamageMix(
                clean_probability=get("data", "clean_probability", float, DamageMix.clean_probability,
                                      low=0.0, high=1.0),
                tone_probability=get("data", "tone_probability", float, DamageMix.tone_probability,
                                     low=0.0, high=1.0),
                second_order_probability=get("data", "second_order_probability", float,
                                             DamageMix.second_order_probability, low=0.0, high=1.0),
                lowest_jpeg_quality=get("data", "lowest_jpeg_quality", int, DamageMix.lowest_jpeg_quality,
                                        low=5, high=95),
                coded_clean_probability=get("data", "coded_clean_probability", float,
                                            DamageMix.coded_clean_probability, low=0.0, high=1.0),
            ),
            crf_range=tuple(get("data", "crf_range", list, [18, 38])),
            phase1_steps=get("phase1", "steps", int, low=0),
            phase1_lr=get("phase1", "lr", float, low=0.0),
            phase1_perceptual_weight=get("phase1", "perceptual_weight", float, 0.0, low=0.0),
            phase2_steps=get("phase2", "steps", int, 0, low=0),
            phase2_lr=get("phase2", "lr", float, 1e-4, low=0.0),
            phase2_lr_discriminator=get("phase2", "lr_discriminator", float, 1e-4, low=0.0),
            phase2_perceptual_weight=get("phase2", "perceptual_weight", float, 0.0, low=0.0),
            adversarial_weight=get("phase2", "adversarial_weight", float, 0.0, low=0.0),
            feature_matching_weight=get("phase2", "feature_matching_weight", float, 0.0, low=0.0),
            warmup_steps=get("schedule", "warmup_steps", int, 0, low=0),
            final_lr_fraction=get("schedule", "final_lr_fraction", float, 0.05, low=0.0, high=1.0),
            ema_decay=get("schedule", "ema_decay", float, 0.0, low=0.0, high=0.99999),
            perceptual=get("losses", "perceptual", str, "auto"),
            log_every=get("logging", "log_every", int, 25, low=1),
            eval_every=get("logging", "eval_every", int, 500, low=1),
            checkpoint_every=get("logging", "checkpoint_every", int, 250, low=1),
            eval_frame_stride=get("logging", "eval_frame_stride", int, 10, low=1),
            final_eval_frame_stride=get("logging", "final_eval_frame_stride", int, 1, low=1),
            text=text,
        )

    def _check(self, file: str) -> None:
        """The checks that span several keys, and the networks' own checks of their hyperparameters."""
        if (len(self.crf_range) != 2 or not all(isinstance(c, int) for c in self.crf_range)
                or not 0 <= self.crf_range[0] <= self.crf_range[1] <= 51):
            raise RecipeError(f"{file}: data.crf_range must be two CRFs 0 <= low <= high <= 51, "
                              f"got {list(self.crf_range)}")
        if self.total_steps < 1:
            raise RecipeError(f"{file}: phase1.steps + phase2.steps must be at least 1")
        if self.perceptual not in PerceptualLoss.KINDS:
            raise RecipeError(
                f"{file}: losses.perceptual must be one of {', '.join(PerceptualLoss.KINDS)}, "
                f"got {self.perceptual!r}"
            )
        try:  # the hyperparameters are checked by the networks themselves
            RemasterGenerator(scale=self.scale, **self.generator)
            if self.phase2_steps:
                MultiScaleDiscriminator(**self.discriminator)
        except (TypeError, ValueError) as ex:
            raise RecipeError(f"{file}: {ex}") from ex

    def as_card(self) -> dict[str, Any]:
        card = asdict(self)  # the mix becomes a dict of its probabilities
        card.pop("text")
        return card


class _Table:
    """``get(section, key, kind, default, low=, high=)`` on a recipe's TOML table: the value
    checked for its type and range, or the default when the key is left out (no default: an error)."""

    def __init__(self, raw: dict[str, Any], file: str) -> None:
        self.raw, self.file = raw, file

    def __call__(self, section: str, key: str, kind: type, default: Any = None, *, low=None, high=None):
        table = self.raw if not section else self.raw.get(section, {})
        where = f"{section}.{key}" if section else key
        if key not in table:
            if default is None:
                raise RecipeError(f"{self.file}: missing {where}")
            return default
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            raise RecipeError(f"{self.file}: {where} must be {kind.__name__}, got {value!r}")
        if low is not None and value < low or high is not None and value > high:
            raise RecipeError(f"{self.file}: {where} must be in [{low}, {high}], got {value!r}")
        return value
