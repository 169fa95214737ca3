"""Every model vidstyle can run, by name, in one explicit table.

Models are added to ``_REGISTRY`` by hand, one line each; there is no import-time
discovery. :func:`load_model` takes a registry name or a path to a weights file
and returns a :class:`ModelDescriptor`: our own weights with their card
(:mod:`.weights`), or any other file through spandrel (:mod:`.outside`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import torch
from torch import nn

from ..config import DEFAULT_SCALE
from ..errors import ModelError
from .baseline import Bicubic, Lanczos, opencv_resampler
from .descriptor import ModelDescriptor, TemporalHints
from .generator import RemasterGenerator
from .outside import MODEL_SUFFIXES, load_outside
from .weights import is_own_weights, load_weights

__all__ = [
    "AUTO_MODELS",
    "HALF_PRECISION_FLOOR_DB",
    "ModelEntry",
    "available_models",
    "card_of",
    "generator_traits",
    "is_model_file",
    "load_model",
    "resolve_device",
    "resolve_model_name",
    "shipped_weights",
    "temporal_hints",
]


@dataclass(frozen=True)
class ModelEntry:
    """A named model: what it does and how to build it for a scale."""

    name: str
    summary: str
    scales: tuple[int, ...]
    kind: str  # "baseline" or "learned"
    build: Callable[[int], ModelDescriptor]


def _resampler_memory(scale: int) -> float:
    """fp32 bytes per input pixel of a resampler: the input, and the output twice."""
    return 4.0 * 3 * (1 + 2 * scale * scale)


def _bicubic(scale: int) -> ModelDescriptor:
    return ModelDescriptor("bicubic", Bicubic(scale=scale), scale, supports_half=True, supports_bfloat16=True,
                           meta={"kind": "baseline"},
                           cpu_frames=opencv_resampler(scale, cv2.INTER_CUBIC),
                           context=2, memory_per_pixel=_resampler_memory(scale))


def _lanczos(scale: int) -> ModelDescriptor:
    return ModelDescriptor("lanczos", Lanczos(scale=scale), scale, supports_half=True, supports_bfloat16=True,
                           meta={"kind": "baseline"},
                           cpu_frames=opencv_resampler(scale, cv2.INTER_LANCZOS4),
                           context=4, memory_per_pixel=_resampler_memory(scale))


_REGISTRY: dict[str, ModelEntry] = {}


def _register(entry: ModelEntry) -> None:
    if entry.name in _REGISTRY:
        raise RuntimeError(f"model {entry.name!r} is registered twice")
    _REGISTRY[entry.name] = entry


_register(ModelEntry("bicubic", "bicubic resampling, the classic baseline (no restoration)",
                     (1, 2, 4), "baseline", _bicubic))
_register(ModelEntry("lanczos", "Lanczos (4 lobes) resampling, sharper than bicubic (no restoration)",
                     (1, 2, 4), "baseline", _lanczos))


def shipped_weights(name: str) -> Path:
    """Path of a shipped weights file, ``weights/NAME.safetensors`` (installed as vidstyle.weights)."""
    return Path(str(resources.files("vidstyle.weights").joinpath(f"{name}.safetensors")))


def _shipped(name: str) -> Callable[[int], ModelDescriptor]:
    def build(scale: int) -> ModelDescriptor:
        return _from_file(shipped_weights(name), scale)

    return build


_register(ModelEntry("remaster-x1", "restores film damage at the input's own resolution (trained here)",
                     (1,), "learned", _shipped("remaster-x1")))
_register(ModelEntry("remaster-x2", "restores film damage and upscales x2 in one pass (trained here)",
                     (2,), "learned", _shipped("remaster-x2")))
_register(ModelEntry("remaster-x4", "restores film damage and upscales x4 in one pass (trained here)",
                     (4,), "learned", _shipped("remaster-x4")))

#: What ``--model auto`` (the default) picks for each scale.
AUTO_MODELS = {1: "remaster-x1", 2: "remaster-x2", 4: "remaster-x4"}


def resolve_model_name(name: str, scale: int) -> str:
    """``auto`` -> the shipped model for ``scale``; other names unchanged.

    Raises:
        ModelError: ``auto`` at a scale no learned model covers.
    """
    if name != "auto":
        return name
    if scale not in AUTO_MODELS:
        raise ModelError(
            f"no learned model works at x{scale} yet; use --scale 2 or 4, or --model bicubic"
        )
    return AUTO_MODELS[scale]


def card_of(entry: ModelEntry) -> dict | None:
    """The JSON card of a learned model, or None for the baselines."""
    if entry.kind != "learned":
        return None
    path = shipped_weights(entry.name).with_suffix(".json")
    return json.loads(path.read_text()) if path.is_file() else None


def available_models() -> list[ModelEntry]:
    """The registered models, in registration order."""
    return list(_REGISTRY.values())


def is_model_file(name_or_path: str) -> bool:
    """Whether ``--model`` names a file rather than a registered model: not a registered name,
    and a weights file's extension or an existing path."""
    if name_or_path == "auto" or name_or_path in _REGISTRY:
        return False
    path = Path(name_or_path)
    return path.suffix.lower() in MODEL_SUFFIXES or path.exists()


def load_model(name_or_path: str, *, scale: int | None = DEFAULT_SCALE,
               device: torch.device | str = "cpu") -> ModelDescriptor:
    """Build a registered model, or load one from a weights file, for ``scale``.

    Args:
        name_or_path: ``auto``, a registered name, or a weights file (``.safetensors`` with our
            card, or any ``.pth``/``.pt``/``.ckpt``/``.safetensors`` that spandrel recognises).
        scale: 1, 2 or 4; a file's own scale must agree. None takes a file's own scale (and
            :data:`~vidstyle.config.DEFAULT_SCALE` for a name).
    Raises:
        ModelError: unknown name (the message lists the known ones), a file that
            cannot be loaded, or a scale the model does not support.
    """
    if is_model_file(name_or_path):
        return _from_file(Path(name_or_path), scale).to(device)
    scale = DEFAULT_SCALE if scale is None else scale
    name = resolve_model_name(name_or_path, scale)
    entry = _REGISTRY.get(name)
    if entry is None:
        known = ", ".join(_REGISTRY)
        raise ModelError(f"unknown model {name!r}; known models: {known}, "
                         f"or a weights file ({', '.join(MODEL_SUFFIXES)})")
    if scale not in entry.scales:
        supported = ", ".join(f"x{s}" for s in entry.scales)
        raise ModelError(f"model {entry.name} cannot upscale x{scale}; it supports {supported}")
    return entry.build(scale).to(device)


def _from_file(path: Path, scale: int | None) -> ModelDescriptor:
    """Our weights with their card, else an outside model; at ``scale`` (None: the file's own)."""
    if not path.exists():
        raise ModelError(f"weights file not found: {path}")
    if path.is_dir():
        raise ModelError(f"{path} is a directory, not a model file")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise ModelError(f"{path.name}: not a weights file vidstyle reads ({', '.join(MODEL_SUFFIXES)})")
    model = _own_file(path) if is_own_weights(path) else load_outside(path)
    if scale is not None and model.scale != scale:
        raise ModelError(f"{path.name} upscales x{model.scale}, but --scale {scale} was asked for; "
                         "leave --scale out to use the model's own")
    return model


def _own_file(path: Path) -> ModelDescriptor:
    module, card = load_weights(path)
    scale = int(getattr(module, "scale", 1))
    if card.get("scale", scale) != scale:  # the network's own scale is what it does; the card only says it
        raise ModelError(f"{path.name}: its card says x{card['scale']}, but the network upscales x{scale}")
    name = card.get("name")
    return ModelDescriptor(
        name if isinstance(name, str) and name else path.stem,
        module,
        scale,
        size_multiple=int(getattr(module, "size_multiple", 1)),
        meta={"kind": "learned", "file": str(path), "sha256": card.get("sha256"),
              "architecture": card.get("architecture"), "input_channels": 3, "output_channels": 3},
        temporal=temporal_hints(module, card),
        **generator_traits(module, card=card),
    )


#: Half precision is allowed for a model whose output in it stays this close to fp32's (PSNR, dB).
HALF_PRECISION_FLOOR_DB = 50.0


def generator_traits(module: nn.Module, *, bfloat16: bool = True,
                     card: dict[str, Any] | None = None) -> dict[str, Any]:
    """The descriptor's half precision, reach and memory for a network built from a card
    (:func:`load_weights`): those of a :class:`RemasterGenerator`, else the descriptor's defaults.

    fp16 kept the picture of every remaster model above 50 dB PSNR against fp32 (62-63 dB, the
    benchmark's precision section), bf16 too (55-57 dB), but not of every style (bf16 44-54 dB: a
    sharp stroke flips): the styles pass ``bfloat16=False``. A card may also carry its own measured
    figures, ``"precision": {"fp16_psnr_db": ..., "bf16_psnr_db": ...}`` (the lowest over held-out
    frames); a precision whose figure is under :data:`HALF_PRECISION_FLOOR_DB` is then not allowed
    (the halftone style in fp16: 44.9 dB).
    """
    if not isinstance(module, RemasterGenerator):
        return {}
    measured = (card or {}).get("precision") or {}

    def kept(precision: str) -> bool:
        figure = measured.get(f"{precision}_psnr_db")
        return figure is None or float(figure) >= HALF_PRECISION_FLOOR_DB

    return {"supports_half": kept("fp16"), "supports_bfloat16": bfloat16 and kept("bf16"),
            "context": module.reach, "memory_per_pixel": module.memory_per_pixel}


def temporal_hints(module: nn.Module, card: dict[str, Any] | None = None) -> TemporalHints:
    """What the temporal stage may do with a network built from a card (:func:`load_weights`):
    reuse features when it is a :class:`RemasterGenerator` trained with a ReuseFusion, warping the
    keyframe's residual as the card's ``temporal.residual_warp`` says (how the fusion was trained;
    ``cells`` when it says nothing), and weighting the fusion's correction by the input's grain
    and by what changed since the keyframe as its ``temporal.grain_gate`` and ``change_gate`` say,
    and the blend by the source's noise from frame to frame as its ``blend_gate`` says (``[low,
    high]`` each; the correction and the blend everywhere when they say nothing)."""
    temporal = (card or {}).get("temporal") or {}
    warp = temporal.get("residual_warp", "cells")
    try:
        gates = {name: _levels(name, temporal.get(name)) for name in ("grain_gate", "change_gate", "blend_gate")}
        return TemporalHints(supports_reuse=isinstance(module, RemasterGenerator) and module.supports_reuse,
                             residual_warp=warp, whole_gate=_level("whole_gate", temporal.get("whole_gate")), **gates)
    except ValueError as ex:  # TemporalHints checks the values
        raise ModelError(f"the card's temporal.{ex}") from None


def _level(name: str, value: Any) -> float | None:
    """A card's single level as a float (None stays None); ValueError otherwise."""
    if value is None:
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(f"{name} must be one level, got {value!r}")
    return float(value)


def _levels(name: str, value: Any) -> tuple[float, float] | None:
    """A card's ``[low, high]`` pair of levels as floats (None stays None); ValueError otherwise."""
    if value is None:
        return None
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise ValueError(f"{name} must be two levels [low, high], got {value!r}")
    return float(value[0]), float(value[1])


def resolve_device(device: str) -> torch.device:
    """``auto`` -> cuda, else mps, else cpu; a named device must exist here.

    Raises:
        ModelError: cuda or mps asked for but not available.
    """
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"--device {device} asked for, but no CUDA device is available here")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ModelError("--device mps asked for, but MPS is not available here")
    return torch.device(device)
