"""What a model computes in (``--precision``): fp32, or half precision where it keeps the picture.

``auto`` is fp16 on CUDA and bf16 on a CPU that does bf16 in hardware (AVX-512 BF16 or AMX), for
a model that keeps its picture in it (:attr:`ModelDescriptor.supports_half`,
:attr:`~ModelDescriptor.supports_bfloat16`: at least 50 dB PSNR against fp32), and fp32 everywhere
else. On this project's CPU (AMD EPYC with AVX-512 BF16) bf16 ran remaster-x2 1.36-1.38x faster
than fp32 in two benchmark runs and 0.98-1.16x in two others, with other work on 1.5 of the 2
cores (0.7-1.9x by round), at 54.8 dB against it, the remaster models all above 54 dB; two of
the bundled styles fell to 44-47 dB, so the styles run bf16 nowhere (and halftone, at 44.9 dB in
fp16 too, runs fp32 only: its card's measured figures say so, see
:func:`~vidstyle.models.registry.generator_traits`). On a CPU without
bf16 instructions torch emulates it, which was not measured here: fp32 unless asked. fp16 on the
CPU runs (torch's own kernels) about four times slower than fp32: only when asked for.

Feature reuse (``--temporal reuse``) runs in fp32: between keyframes it warps the keyframe's
features with OpenCV, which takes float32 arrays. ``auto`` then chooses fp32, and asking for half
precision with it is an error that says what to change.

A source of more than 8 bits (uint16 frames, :mod:`vidstyle.io.depth`) never runs in bf16: its 8
significant bits hold no more than an 8-bit picture, so the network's input and output would
lose what the source's depth keeps. ``auto`` chooses fp32 there instead of bf16, and asking for
bf16 is an error. fp16's 11 significant bits hold a 10-bit code value: it stays ``auto``'s choice
on CUDA, for a model that keeps its picture in it.
"""

from __future__ import annotations

import torch

from ..config import PRECISIONS
from ..errors import ConfigError, ModelError
from .descriptor import PRECISION_NAMES, ModelDescriptor

__all__ = ["DTYPES", "cpu_has_bf16", "half_devices", "resolve_precision"]

#: The dtype of each ``--precision`` name but ``auto``.
DTYPES = {name: dtype for dtype, name in PRECISION_NAMES.items()}


def cpu_has_bf16() -> bool:
    """Whether this CPU does bf16 arithmetic in hardware (AVX-512 BF16 or AMX tiles), as torch's
    own probes of the CPU say (private helpers of ``torch.cpu``, absent on some builds: False)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def half_devices(device: torch.device) -> tuple[str, ...]:
    """The half precisions torch can run on ``device``: both on the CPU (fp16 slowly), fp16 on
    CUDA and bf16 where the GPU has it (Ampere and later), fp16 on MPS."""
    if device.type == "cpu":
        return ("fp16", "bf16")
    if device.type == "cuda":
        return ("fp16", "bf16") if torch.cuda.is_bf16_supported() else ("fp16",)
    if device.type == "mps":
        return ("fp16",)
    return ()


def resolve_precision(asked: str, model: ModelDescriptor, *, reuse: bool = False, bits: int = 8) -> str:
    """The precision ``asked`` (one of :data:`~vidstyle.config.PRECISIONS`) comes to for ``model``
    on its device; ``reuse`` when the run reuses features between frames (fp32 only), ``bits`` the
    source's bits per component (above 8: no bf16).

    Raises:
        ConfigError: half precision with feature reuse, bf16 for a source of more than 8 bits, or
            an unknown name.
        ModelError: half precision for a model that does not keep its picture in it, or on a
            device that cannot run it.
    """
    if asked not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, got {asked!r}")
    device = model.device
    if asked == "auto":
        if reuse:
            return "fp32"
        if device.type == "cuda" and model.supports_half:
            return "fp16"
        if device.type == "cpu" and model.supports_bfloat16 and model.cpu_frames is None and bits <= 8 \
                and cpu_has_bf16():
            return "bf16"
        return "fp32"
    if asked == "fp32":
        return asked
    if reuse:
        raise ConfigError(f"--precision {asked}: feature reuse between frames (--temporal reuse, auto's "
                          f"choice for {model.name}) runs in fp32 only; add --temporal blend or off, "
                          "or use --precision auto")
    if asked == "bf16" and bits > 8:
        raise ConfigError(f"--precision bf16 keeps 8 significant bits, fewer than the source's {bits}; "
                          "use --precision fp32, fp16 or auto")
    if not model.keeps_picture_in(asked):
        raise ModelError(f"--precision {asked}: model {model.name} is not known to keep its picture in {asked}; "
                         "use --precision fp32 or auto")
    if asked not in half_devices(device):
        raise ModelError(f"--precision {asked} cannot run on {device.type} here; "
                         f"it can run {', '.join(('fp32', *half_devices(device)))}")
    return asked
