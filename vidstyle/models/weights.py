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
import pickle
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
            architecture = json.loads(card_path.read_text()).get("architecture")
            if isinstance(architecture, str) and architecture in ARCHITECTURES:  # a list is unhashable
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
        ModelError: missing file or card, a card that is not a JSON object of the expected fields,
            hash mismatch, unknown architecture, or tensors that do not fit the architecture.
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
    if not isinstance(card, dict):
        raise ModelError(f"the card {card_path.name} is not a JSON object of fields, but {type(card).__name__}")
    expected = card.get("sha256")
    if expected and file_sha256(path) != expected:
        raise ModelError(f"{path.name} does not match the sha256 in its card: the file is corrupted or was changed")
    arch = card.get("architecture")
    if not isinstance(arch, str) or arch not in ARCHITECTURES:
        raise ModelError(f"{path.name}: unknown architecture {arch!r} in its card; known: {', '.join(ARCHITECTURES)}")
    hparams = card.get("hparams", {})
    if not isinstance(hparams, dict):
        raise ModelError(f"{path.name}: the hparams of its card are not a JSON object, but {type(hparams).__name__}")
    try:
        if path.suffix == ".pth":
            state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            state = load_file(str(path))
    except (SafetensorError, OSError, RuntimeError, ValueError, pickle.UnpicklingError, EOFError) as ex:
        raise ModelError(f"cannot read {path.name}: {ex}") from ex
    return _build(arch, hparams, state, path.name), card


#: The largest whole number a card's hyperparameter may hold: the network is first built without memory
#: (on the meta device) to check its shapes, which still costs time per block.
_LARGEST_HPARAM = 4096


def _build(arch: str, hparams: dict[str, Any], state: Any, name: str) -> nn.Module:
    """The ``arch`` network of ``hparams`` holding ``state``.

    Its shapes are compared with the file's tensors before any memory is taken, so a card whose
    numbers are wrong (a typo, damage) is refused in a line instead of allocating a network of
    that size.
    """
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{name} does not hold a dictionary of tensors")
    large = [k for k, v in hparams.items() if isinstance(v, int) and abs(v) > _LARGEST_HPARAM]
    if large:
        raise ModelError(f"{name}: its card's hparams {large[0]}={hparams[large[0]]} is out of range "
                         f"(at most {_LARGEST_HPARAM})")
    try:
        with torch.device("meta"):
            skeleton = ARCHITECTURES[arch](**hparams)
    except (TypeError, ValueError, RuntimeError) as ex:
        first = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
        raise ModelError(f"{name}: its card's hparams do not make a {arch}: {first}") from ex
    wanted = {key: tuple(value.shape) for key, value in skeleton.state_dict().items()}
    held = {key: tuple(value.shape) for key, value in state.items()}
    if wanted != held:
        key = next(k for k in sorted(wanted.keys() | held.keys()) if wanted.get(k) != held.get(k))
        raise ModelError(f"{name} does not fit the {arch} architecture of its card: {key} is "
                         f"{held.get(key, 'missing')} in the file, {wanted.get(key, 'not a weight')} in the network")
    module = ARCHITECTURES[arch](**hparams)
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as ex:  # (the shapes agree; a tensor of another kind, say)
        raise ModelError(f"{name} does not fit the {arch} architecture of its card: "
                         f"{str(ex).strip().splitlines()[0]}") from ex
    return module
