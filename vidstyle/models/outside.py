"""Models from outside: any weights file spandrel recognises, behind our one :class:`ModelDescriptor`.

A ``.pth``, ``.pt``, ``.ckpt`` or ``.safetensors`` file that is not one of ours (no card) is read
here as tensors only, its architecture detected by spandrel from the keys and shapes
(ESRGAN/Real-ESRGAN, SRVGGNetCompact, SwinIR, HAT, DAT, SPAN, OmniSR, RealCUGAN, ...), and
wrapped so the pipeline calls it like any other model: (B, 3, H, W) RGB in [0, 1] in, the same
at the model's scale out. Nothing in a model file is ever run: a pickle is read with
``torch.load(weights_only=True)``, which refuses anything but tensors and plain containers, and a
TorchScript archive (which carries code) is refused.

What a frame needs and what the model takes may differ:

* a grey model (1 channel) runs on the frame's luma (BT.601), and its luma replaces that of the
  input resampled with bicubic: a grey frame comes out grey, a colour frame keeps its colour;
* an RGBA model (4 channels) is fed an opaque alpha (1) and its alpha output is dropped;
* any other channel count, an inpainting model (it needs a mask), a face model (it wants aligned
  face crops, not whole frames) and a scale other than x1, x2 or x4 are refused with one line.

Outside models cannot reuse features between frames (their :class:`TemporalHints` say so), so
``--temporal auto`` runs them frame by frame and ``--temporal blend`` steadies them.

spandrel is imported only when an outside file is loaded: importing it (every architecture it
knows) takes about two seconds, which a run of our own models need not pay.
"""

from __future__ import annotations

import logging
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..config import SCALES
from ..errors import ModelError
from .descriptor import ModelDescriptor, TemporalHints
from .weights import file_sha256

__all__ = ["MODEL_SUFFIXES", "PURPOSES", "OutsideNetwork", "load_outside", "luma", "read_state_dict"]

log = logging.getLogger(__name__)

#: The weights files ``--model`` reads: pickles (read as tensors only) and safetensors.
MODEL_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")
#: Channel counts a model may take and give: grey, RGB, RGBA.
CHANNELS = (1, 3, 4)
#: BT.601 luma weights, as the rest of vidstyle measures brightness.
LUMA = (0.299, 0.587, 0.114)
#: What spandrel's purposes mean, for the line vidstyle prints.
PURPOSES = {"SR": "super-resolution", "Restoration": "restoration", "FaceSR": "face restoration",
            "Inpainting": "inpainting"}


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file, never running anything in it.

    A pickle (``.pth``, ``.pt``, ``.ckpt``) is read with ``torch.load(weights_only=True)``: tensors,
    numbers, strings and plain containers only. The state dict is then unwrapped as spandrel does
    (``params_ema``, ``state_dict``, a ``module.`` prefix ...).

    Raises:
        ModelError: an empty, truncated or foreign file, a pickle holding Python objects, a
            TorchScript archive, or a file without a dict of tensors.
    """
    import spandrel

    if path.stat().st_size == 0:
        raise ModelError(f"{path.name} is empty")
    if path.suffix.lower() == ".safetensors":
        try:
            state: Any = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as ex:
            raise ModelError(f"cannot read {path.name}: not a complete safetensors file ({_first_line(ex)})") from ex
    else:
        state = _load_pickle(path)
    if not isinstance(state, dict):
        raise ModelError(f"{path.name} holds a {type(state).__name__}, not a state dict (a dict of tensors)")
    if not state:
        raise ModelError(f"{path.name} holds an empty state dict")
    return spandrel.canonicalize_state_dict(state)


def _load_pickle(path: Path) -> Any:
    """``torch.load(weights_only=True)`` with its errors said in one line."""
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols and TorchScript: the error says it
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as ex:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(ex))
        if found:
            raise ModelError(f"{path.name} holds Python objects ({found.group(1)}), not only tensors; vidstyle "
                             "reads weights only and never runs code from a model file") from ex
        raise ModelError(f"cannot read {path.name}: not a PyTorch weights file, or a damaged one") from ex
    except RuntimeError as ex:
        if "TorchScript" in str(ex):
            raise ModelError(f"{path.name} is a TorchScript archive, which carries code; vidstyle reads "
                             "state dicts (weights) only") from ex
        raise ModelError(f"cannot read {path.name}: not a complete PyTorch weights file ({_first_line(ex)})") from ex
    except (EOFError, OSError, ValueError, zipfile.BadZipFile) as ex:
        raise ModelError(f"cannot read {path.name}: not a complete PyTorch weights file ({_first_line(ex)})") from ex


def _first_line(ex: BaseException) -> str:
    text = str(ex).strip()
    return text.splitlines()[0] if text else type(ex).__name__


def _detect(path: Path, state: dict[str, torch.Tensor]):
    """spandrel's model for ``state``: the architecture detected from its keys and shapes, built and loaded."""
    import spandrel

    try:
        with warnings.catch_warnings():  # some architectures warn as they are built (torch.meshgrid ...)
            warnings.simplefilter("ignore")
            return spandrel.ModelLoader().load_from_state_dict(state)
    except spandrel.UnsupportedModelError as ex:
        keys = ", ".join(list(state)[:3])
        raise ModelError(f"{path.name}: no architecture spandrel knows has these weights (keys {keys}, ...); "
                         "see spandrel's list of supported architectures") from ex
    except Exception as ex:  # an architecture recognised, but the tensors do not fit it
        raise ModelError(f"{path.name} looks like a known architecture, but its tensors do not fit it: "
                         f"{_first_line(ex)}") from ex


def _check_usable(path: Path, loaded) -> None:
    """Refuse, in one line, what vidstyle cannot run on whole video frames."""
    import spandrel

    if not isinstance(loaded, spandrel.ImageModelDescriptor):
        raise ModelError(f"{path.name} is an {PURPOSES.get(loaded.purpose, loaded.purpose)} model "
                         f"({loaded.architecture.name}), which needs a mask; vidstyle runs image-to-image models")
    if loaded.purpose == "FaceSR":
        raise ModelError(f"{path.name} is a face restoration model ({loaded.architecture.name}) for aligned face "
                         "crops; vidstyle runs models made for whole frames")
    if loaded.scale not in SCALES:
        raise ModelError(f"{path.name} upscales x{loaded.scale}; vidstyle runs x1, x2 and x4 models")
    for side, count in (("takes", loaded.input_channels), ("gives", loaded.output_channels)):
        if count not in CHANNELS:
            raise ModelError(f"{path.name} {side} {count}-channel images; vidstyle runs models of 1 (grey), "
                             "3 (RGB) or 4 (RGBA) channels")


def luma(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> (B, 1, H, W) BT.601 luma, same range and dtype."""
    r, g, b = LUMA
    return image[:, 0:1] * r + image[:, 1:2] * g + image[:, 2:3] * b


class OutsideNetwork(nn.Module):
    """A spandrel model as a network of frames: (B, 3, H, W) RGB in [0, 1] -> (B, 3, sH, sW) in [0, 1].

    The call is spandrel's own (its size padding, its call function for the architecture, the clamp
    to [0, 1], the crop), so the output is what spandrel gives for the same input; around it only
    the channels are fitted (see the module docstring). spandrel's call takes one image,
    (1, C, H, W), and some architectures rely on it (DRUNet adds a (1, 1, H, W) noise map), so the
    frames of a batch go through it one by one.
    """

    def __init__(self, loaded) -> None:
        super().__init__()
        self.net = loaded.model  # registered, so .to(), .parameters() and eval() reach it
        self.scale = loaded.scale
        self.input_channels = loaded.input_channels
        self.output_channels = loaded.output_channels
        self._spandrel = loaded  # spandrel's call (not a module: its network is registered above)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        fed = self._feed(image)
        out = torch.cat([self._spandrel(fed[i : i + 1]) for i in range(fed.shape[0])])
        if self.output_channels == 1:
            return self._grey_into_colour(image, out)
        return out[:, :3]  # RGB, or RGBA without its alpha

    def _feed(self, image: torch.Tensor) -> torch.Tensor:
        """The frame in the channels the model takes: luma, RGB, or RGB with an opaque alpha."""
        if self.input_channels == 1:
            return luma(image)
        if self.input_channels == 4:
            return torch.cat([image, torch.ones_like(image[:, :1])], dim=1)
        return image

    def _grey_into_colour(self, image: torch.Tensor, grey: torch.Tensor) -> torch.Tensor:
        """The model's luma with the input's colour: the input resampled (bicubic) with its luma
        replaced by ``grey``. A grey frame gives ``grey`` on all three channels."""
        base = image if self.scale == 1 else F.interpolate(image, scale_factor=self.scale, mode="bicubic",
                                                           align_corners=False)
        return (base + (grey - luma(base))).clamp_(0.0, 1.0)


def load_outside(path: Path) -> ModelDescriptor:
    """Load an outside weights file (no card) through spandrel, on the CPU.

    Args:
        path: an existing ``.pth``, ``.pt``, ``.ckpt`` or ``.safetensors`` file.
    Returns:
        a :class:`ModelDescriptor` at the model's own scale, without feature reuse; its ``meta``
        says what was detected (architecture, purpose, channels, size requirements, tags, sha256).
    Raises:
        ModelError: a file that cannot be read safely, an unknown architecture, or a model vidstyle
            cannot run (see :func:`_check_usable`).
    """
    state = read_state_dict(path)
    loaded = _detect(path, state)
    _check_usable(path, loaded)
    size = loaded.size_requirements
    meta = {
        "kind": "outside",
        "file": str(path),
        "sha256": file_sha256(path),
        "architecture": loaded.architecture.name,
        "architecture_id": str(loaded.architecture.id),
        "network": type(loaded.model).__name__,
        "purpose": loaded.purpose,
        "tags": list(loaded.tags),
        "input_channels": loaded.input_channels,
        "output_channels": loaded.output_channels,
        "size_minimum": size.minimum,
        "size_square": size.square,
        "supports_bfloat16": loaded.supports_bfloat16,
        "loaded_by": "spandrel",
    }
    log.info("%s: %s x%d detected by spandrel", path.name, loaded.architecture.name, loaded.scale)
    return ModelDescriptor(path.name, OutsideNetwork(loaded), loaded.scale, size_multiple=size.multiple_of,
                           supports_half=loaded.supports_half, meta=meta, temporal=TemporalHints(supports_reuse=False))
