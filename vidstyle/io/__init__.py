"""Streaming video I/O: probing, decoding batches of frames, encoding with stream copy.

Rooms: ``probe`` (what a file holds), ``reader`` and ``writer`` (the decode and encode threads),
``damage`` (what of a damaged source failed to decode), ``packets`` (the source's sound copied into
an output), ``remux`` (packet timestamps, keyframes, joining parts by stream copy), ``colour``
(colour tags) and ``atomic`` (the ``.partial`` rule).
"""

from .probe import StreamInfo, VideoInfo, open_input, probe
from .reader import FrameBatch, VideoReader
from .writer import VideoWriter

__all__ = ["FrameBatch", "StreamInfo", "VideoInfo", "VideoReader", "VideoWriter", "open_input", "probe"]
