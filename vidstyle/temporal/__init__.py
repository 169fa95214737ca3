"""Temporal consistency: optical flow, warping, scene cuts, feature reuse and its metrics.

* :mod:`.flow`: DIS optical flow at reduced resolution and its reliability mask;
* :mod:`.warp`: warping pictures and features by a flow;
* :mod:`.scenes`: a cheap scene-cut detector;
* :mod:`.stage`: the pipeline's temporal stage (:func:`~.stage.open_temporal`): its mode, threads and report;
* :mod:`.plan`: keyframes and the flow each frame borrows along, beside the decoder;
* :mod:`.reuse`: feature reuse between keyframes (``--temporal reuse``), on the CPU laid out by
  :mod:`.cells`, elsewhere batched on the model's device with :mod:`.device` (flows, warps and
  blends with torch);
* :mod:`.blend`: blending the previous output in along the motion (``--temporal blend``, and
  after reuse), and its calibration;
* :mod:`.metrics`: warping error, flicker, PSNR/SSIM of a video.
"""

from .flow import FLOW_PRESETS, FlowEstimator, FlowPair, consistency_mask, resize_flow, to_gray
from .metrics import MetricsAccumulator, VideoMetrics, flicker, video_metrics, warping_error
from .scenes import SceneCutDetector, detect_cuts
from .warp import flow_grid, warp, warp_numpy

__all__ = [
    "FLOW_PRESETS",
    "FlowEstimator",
    "FlowPair",
    "MetricsAccumulator",
    "SceneCutDetector",
    "VideoMetrics",
    "consistency_mask",
    "detect_cuts",
    "flicker",
    "flow_grid",
    "resize_flow",
    "to_gray",
    "video_metrics",
    "warp",
    "warp_numpy",
    "warping_error",
]
