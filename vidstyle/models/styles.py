"""The styles vidstyle ships, and loading a style (bundled or trained) as a model to run.

A style model is a remaster generator fine-tuned on one exemplar (:mod:`vidstyle.train.style`):
it restores, upscales and stylizes in one pass, so it takes the remaster model's place in the
pipeline. Bundled styles live beside the remaster weights as ``style-NAME-xS.safetensors``, with
their card (``.json``) and a thumbnail of the exemplar (``.png``).

``strength`` below 1 interpolates the style model's weights with those of the remaster model it
was fine-tuned from (network interpolation, as ESRGAN does between its PSNR and GAN models,
Wang et al. 2018): the picture moves smoothly from the plain remaster (0) to the full style (1),
and a partial strength costs nothing at run time, unlike running both models and mixing their
outputs. Strength 0 gives the remaster model's output exactly.

A style's card may name the blend tolerance of ``--temporal reuse`` and ``blend``
(``temporal.blend_tolerance``): successive stylized frames differ more than restored ones (a
stroke drawn a little differently), so a style mixes in the earlier output over larger
differences than the remaster models' default. ``--blend-tolerance`` overrides it. A style's
blend also keeps the contrast of its strokes (:func:`vidstyle.temporal.blend.keep_contrast`),
which mixing two drawings of them would otherwise fade, and with ``--temporal reuse`` a frame
between keyframes warps the keyframe's residual as a picture
(:func:`vidstyle.temporal.warp.warp_shuffled`), which keeps strokes finer than the network's
pixel cells; the remaster models warp it in cell space, as their fusion was trained. All three
travel in the model's :class:`~vidstyle.models.descriptor.TemporalHints`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ..config import DEFAULT_BLEND_TOLERANCE
from ..errors import StyleError
from .descriptor import ModelDescriptor, TemporalHints
from .generator import RemasterGenerator
from .registry import generator_traits, shipped_weights, temporal_hints
from .weights import load_weights

__all__ = ["StyleEntry", "bundled_styles", "load_style"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StyleEntry:
    """A bundled style: ``name`` for ``--style``, its weights, card and exemplar thumbnail."""

    name: str
    scale: int
    summary: str
    weights: Path
    card: dict[str, Any]
    thumbnail: Path | None


def _weights_dir() -> Path:
    return Path(str(resources.files("vidstyle.weights")))


def bundled_styles() -> list[StyleEntry]:
    """The shipped styles, by name then scale."""
    entries = []
    for card_path in sorted(_weights_dir().glob("style-*-x*.json")):
        card = json.loads(card_path.read_text())
        weights = card_path.with_suffix(".safetensors")
        if not weights.is_file():
            continue
        thumb = card_path.with_suffix(".png")
        name = card_path.stem[len("style-") :].rsplit("-x", 1)[0]
        entries.append(StyleEntry(name, int(card["scale"]), card.get("summary", ""), weights, card,
                                  thumb if thumb.is_file() else None))
    return entries


def _resolve(name_or_path: str, scale: int) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".safetensors" or path.parent != Path("."):
        if not path.is_file():
            raise StyleError(f"style model not found: {path}")
        return path
    styles = bundled_styles()
    matches = [s for s in styles if s.name == name_or_path]
    if not matches:
        known = ", ".join(sorted({s.name for s in styles})) or "none installed"
        raise StyleError(f"unknown style {name_or_path!r}; bundled styles: {known} "
                         "(or pass a .safetensors file made by `vidstyle train-style`)")
    for entry in matches:
        if entry.scale == scale:
            return entry.weights
    scales = ", ".join(f"x{s.scale}" for s in matches)
    raise StyleError(f"style {name_or_path} works at {scales}, but --scale {scale} was asked for")


def load_style(name_or_path: str, *, scale: int, strength: float = 1.0,
               device: torch.device | str = "cpu") -> ModelDescriptor:
    """A style model, bundled (by name) or trained (a ``.safetensors`` file), ready to run.

    Raises:
        StyleError: unknown name (the message lists the bundled ones), a file that is not a style
            model, a scale other than the model's, a strength outside [0, 1].
        ModelError: a weights file that cannot be loaded.
    """
    if not 0.0 <= strength <= 1.0:
        raise StyleError(f"style strength must be between 0 and 1, got {strength:g}")
    path = _resolve(name_or_path, scale)
    module, card = load_weights(path)
    if "style" not in card:
        raise StyleError(f"{path.name} is not a style model (its card has no style); "
                         "use it with --model instead")
    model_scale = int(card.get("scale", 0))
    if model_scale != scale:
        raise StyleError(f"style {card.get('name', path.stem)} upscales x{model_scale}, "
                         f"but --scale {scale} was asked for")
    base = TemporalHints(residual_warp="picture")
    if strength < 1.0:
        base = _interpolate(module, card, path, strength)
    name = card.get("name", path.stem)
    hints = _style_hints(temporal_hints(module), card, strength, base)
    # The hints are facts of the run too: the report shows them, as it always has.
    meta = {"kind": "learned", "file": str(path), "sha256": card.get("sha256"), "style": name,
            "style_strength": strength, "blend_contrast": hints.blend_contrast,
            "reuse_warp": hints.residual_warp}
    if hints.blend_tolerance is not None:
        meta["blend_tolerance"] = hints.blend_tolerance
    return ModelDescriptor(
        name if strength == 1.0 else f"{name}@{strength:g}",
        module,
        model_scale,
        size_multiple=int(getattr(module, "size_multiple", 1)),
        meta=meta,
        temporal=hints,
        **generator_traits(module, bfloat16=False, card=card),
    ).to(device)


def _style_hints(hints: TemporalHints, card: dict[str, Any], strength: float,
                 base: TemporalHints | None = None) -> TemporalHints:
    """``hints`` (the architecture's) with how a style at ``strength`` blends: above 0 it keeps its
    contrast and warps the keyframe's residual as a picture; at 0, where it is the remaster model it
    started from, it reuses features as that model does (``base``, from its card: the residual's
    warp and the gates on the fusion's correction, which a style's strokes never get); the card's blend
    tolerance, if it names one, is scaled by ``strength`` between the default (the remaster model)
    and its own."""
    tolerance = (card.get("temporal") or {}).get("blend_tolerance")
    if tolerance is not None:
        # Between remaster-x2 (strength 0) and the style, as the weights are.
        span = float(tolerance) - DEFAULT_BLEND_TOLERANCE
        tolerance = round(DEFAULT_BLEND_TOLERANCE + strength * span, 2)
    base = base or TemporalHints()
    if strength == 0:
        hints = replace(hints, grain_gate=base.grain_gate, change_gate=base.change_gate, blend_gate=base.blend_gate)
    return replace(hints, residual_warp="picture" if strength > 0 else base.residual_warp, blend_contrast=strength > 0,
                   blend_tolerance=tolerance)


#: Earlier remaster models kept because bundled styles were fine-tuned from them, by scale (shipped
#: as ``weights/NAME.safetensors`` with their cards). A style blends (``--style-strength`` below 1)
#: with the network it started from: weights of two separately trained networks do not
#: interpolate. None today: the four bundled x2 styles were all fine-tuned from today's remaster-x2
#: (halftone, the last on remaster-x2-v3, retrained on 2026-12-06). A new remaster-xS that ships
#: before its styles are retrained keeps the file before under a name of its own, listed here.
STYLE_BASES: dict[int, tuple[str, ...]] = {}


def style_base(card: dict[str, Any]) -> tuple[str, torch.nn.Module, dict[str, Any]]:
    """The shipped remaster weights a style was fine-tuned from, found by the sha256 of its card's
    ``fine_tuned_from``; the current ``remaster-xS`` when none matches (or the card names none)."""
    scale = int(card["scale"])
    origin = (card.get("fine_tuned_from") or {}).get("sha256")
    for name in (f"remaster-x{scale}", *STYLE_BASES.get(scale, ())):
        path = shipped_weights(name)
        if origin and path.is_file() and json.loads(path.with_suffix(".json").read_text()).get("sha256") == origin:
            module, base_card = load_weights(path)
            return name, module, base_card
    name = f"remaster-x{scale}"
    module, base_card = load_weights(shipped_weights(name))
    return name, module, base_card


def _interpolate(module: torch.nn.Module, card: dict[str, Any], path: Path, strength: float) -> TemporalHints:
    """Weights <- strength * style + (1 - strength) * base, in place; the base is the shipped
    remaster model the style was fine-tuned from (:func:`style_base`), the layers a style adds
    (colour skip, output blur) at the weights where they change nothing
    (:meth:`~vidstyle.models.generator.RemasterGenerator.neutral_state`). Returns how the base
    reuses features with ``--temporal reuse``, as its card says (:func:`temporal_hints`)."""
    base_name, base, base_card = style_base(card)
    origin = (card.get("fine_tuned_from") or {}).get("sha256")
    if origin and origin != base_card.get("sha256"):
        log.warning("%s was fine-tuned from a %s that is not installed; --style-strength "
                    "blends with the installed one", path.name, base_name)
    base_state = base.state_dict()
    neutral = module.neutral_state() if isinstance(module, RemasterGenerator) else {}
    with torch.no_grad():
        for key, value in module.state_dict().items():
            if key in base_state and base_state[key].shape == value.shape:
                start = base_state[key]
            elif key in neutral:
                start = neutral[key]
            else:
                raise StyleError(f"{path.name} does not share {base_name}'s architecture, so "
                                 "--style-strength below 1 cannot blend them; use 1")
            value.copy_(torch.lerp(start, value, strength))
    return temporal_hints(base, base_card)

