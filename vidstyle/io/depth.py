"""Bit depth at the I/O edge: which frames travel as uint8 and which as uint16.

A source with 8 bits per component (almost every video) is decoded to RGB uint8 (H, W, 3) and
takes the fast path it always took. A source with more (10-bit video, DPX, 16-bit TIFF or PNG,
EXR) is decoded to RGB uint16 (H, W, 3) in 0..65535, whatever its own depth, so a 10-bit code
value survives the trip: libav widens 10 bits to 16 by repeating the top bits (``v << 6 | v >> 4``)
and narrows them back on the way out. The models see float in [0, 1] either way.
"""

from __future__ import annotations

import av
import numpy as np

__all__ = ["FLOAT_RGB", "HIGH_DEPTH_DTYPE", "from_float", "frame_dtype", "pixel_depth", "rgb_format", "to_8bit",
           "top_level"]

#: The dtype of frames decoded from a source of more than 8 bits per component.
HIGH_DEPTH_DTYPE = np.uint16
#: libav's float RGB (EXR): converted here, as swscale's float <-> 16-bit conversion errs by up to
#: 33 of 65535 levels each way (half a 10-bit code).
FLOAT_RGB = "gbrpf32le"


def pixel_depth(pix_fmt: str | None) -> int:
    """Bits per component of a libav pixel format (``yuv420p10le`` 10, ``rgb48le`` 16, ``gbrpf32le``
    32); 8 for one libav does not know."""
    try:
        components = av.VideoFormat(pix_fmt).components if pix_fmt else ()
    except (ValueError, TypeError):
        return 8
    return max((c.bits for c in components), default=8)


def frame_dtype(bits: int) -> type[np.unsignedinteger]:
    """The dtype frames of a source with ``bits`` per component travel as: uint8 up to 8 bits,
    uint16 above."""
    return np.uint8 if bits <= 8 else HIGH_DEPTH_DTYPE


def rgb_format(dtype: np.dtype | type) -> str:
    """The packed RGB pixel format of frames of ``dtype``: ``rgb24`` or ``rgb48le``."""
    return "rgb48le" if np.dtype(dtype) == HIGH_DEPTH_DTYPE else "rgb24"


def top_level(dtype: np.dtype | type) -> int:
    """The value of full white in frames of ``dtype``: 255 or 65535."""
    return 65535 if np.dtype(dtype) == HIGH_DEPTH_DTYPE else 255


def to_8bit(frames: np.ndarray) -> np.ndarray:
    """Frames of either depth as uint8, rounded (uint8 frames come back as they are).

    For what looks at a picture rather than keeping it: optical flow, scene cuts, steadiness
    measures, contact sheets.
    """
    if frames.dtype == np.uint8:
        return frames
    return ((frames.astype(np.uint32) + 128) // 257).astype(np.uint8)


def from_float(picture: np.ndarray) -> np.ndarray:
    """A float RGB picture (EXR's linear values, (H, W, 3)) as uint16 levels: clipped to [0, 1],
    rounded."""
    return (np.clip(picture, 0.0, 1.0) * 65535.0 + 0.5).astype(HIGH_DEPTH_DTYPE)
