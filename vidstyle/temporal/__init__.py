"""Temporal consistency: optical flow, warping, scene cuts, feature reuse and its metrics."""

from .flow import FLOW_PRESETS, FlowEstimator, FlowPair, consistency_mask, resize_flow, to_gray
from .warp import flow_grid, warp, warp_numpy

__all__ = [
    "FLOW_PRESETS",
    "FlowEstimator",
    "FlowPair",
    "consistency_mask",
    "flow_grid",
    "resize_flow",
    "to_gray",
    "warp",
    "warp_numpy",
]
