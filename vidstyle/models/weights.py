"""Weights are data with a history: NAME.safetensors beside its card NAME.json.

The card records the architecture and its hyperparameters, the scale, how the
weights were trained (recipe, exact command, data used and held out, CPU
minutes), their metrics, and the sha256 of the .safetensors file, which is
checked on every load.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import ModelError
from .generator import RemasterGenerator

__all__ = ["ARCHITECTURES", "file_sha256", "is_own_weights", "load_weights", "save_weights"]

#: Architectures a card may name, by class name: one explicit table.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "RemasterGenerator": RemasterGenerator,
}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_weights(module: nn.Module, path: str | os.PathLike[str], card: dict[str, Any]) -> dict[str, Any]:
    """Write ``path`` (.safetensors) and its card ``path.with_suffix('.json')``.

    The card gets ``architecture``, ``hparams``, ``parameters`` and ``sha256``
    added to what the caller gives. Returns the card as written.
    """
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"weights must be saved as .safetensors, got {path.name}")
    arch = type(module).__name__
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch}; known: {', '.join(ARCHITECTURES)}")
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in module.state_dict().items()}
    save_file(state, str(path), metadata={"architecture": arch})
    card = {
        **card,
        "architecture": arch,
        "hparams": dict(getattr(module, "hparams", {})),
        "parameters": sum(v.numel() for v in state.values()),
        "sha256": file_sha256(path),
    }
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return card


def is_own_weights(path: Path) -> bool:
    """Whether ``path`` is one of vidstyle's weights files: its card beside it names one of
    :data:`ARCHITECTURES`, or (a ``.safetensors`` file) its metadata does, as :func:`save_weights`
    writes it. Anything else is an outside model (:mod:`vidstyle.models.outside`)."""
    card_path = path.with_suffix(".json")
    if card_path.is_file():
        try:
            if json.loads(card_path.read_text()).get("architecture") in ARCHITECTURES:
                return True
        except (OSError, ValueError, AttributeError):
            pass  # not our card: perhaps another program's file of the same name
    if path.suffix.lower() != ".safetensors":
        return False
    try:
        with safe_open(str(path), "pt") as f:
            return (f.metadata() or {}).get("architecture") in ARCHITECTURES
    except (SafetensorError, OSError, ValueError):
        return False  # unreadable: the outside loader says why in one line


def load_weights(path: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """Build the architecture a card names and load its weights, checking the hash.

    A ``.pth`` file is read only with ``torch.load(weights_only=True)`` and needs the
    same card beside it.

    Raises:
        ModelError: missing file or card, hash mismatch, unknown architecture,
            or tensors that do not fit the architecture.
    """
    path = Path(path)
    card_path = path.with_suffix(".json")
    if not path.is_file():
        raise ModelError(f"weights file not found: {path}")
    if not card_path.is_file():
        raise ModelError(f"{path.name} has no card: expected {card_path.name} beside it")
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError) as ex:
        raise ModelError(f"cannot read the card {card_path}: {ex}") from ex
    expected = card.get("sha256")
    if expected and file_sha256(path) != expected:
        raise ModelError(f"{path.name} does not match the sha256 in its card: the file is corrupted or was changed")
    arch = card.get("architecture")
    if arch not in ARCHITECTURES:
        raise ModelError(f"{path.name}: unknown architecture {arch!r} in its card; known: {', '.join(ARCHITECTURES)}")
    try:
        if path.suffix == ".pth":
            state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            state = load_file(str(path))
    except (SafetensorError, OSError, RuntimeError, ValueError) as ex:
        raise ModelError(f"cannot read {path.name}: {ex}") from ex
    try:
        module = ARCHITECTURES[arch](**card.get("hparams", {}))
        module.load_state_dict(state, strict=True)
    except (TypeError, RuntimeError) as ex:
        first = str(ex).strip().splitlines()[0]
        raise ModelError(f"{path.name} does not fit the {arch} architecture of its card: {first}") from ex
    return module, card
