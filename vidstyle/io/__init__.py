"""Streaming video I/O: probing, decoding batches of frames, encoding with stream copy."""

from .probe import StreamInfo, VideoInfo, open_input, probe
from .reader import FrameBatch, VideoReader
from .writer import VideoWriter

__all__ = ["FrameBatch", "StreamInfo", "VideoInfo", "VideoReader", "VideoWriter", "open_input", "probe"]
