"""Batches of films: discovery, the manifest, segments and the batch runner.

    from vidstyle.batch import BatchConfig, discover, run_batch

    found = discover(Path("/archive/reels"), Path("/archive/hd"))
    report = run_batch(found.jobs, Path("/archive/hd"), RemasterConfig(scale=2), BatchConfig(jobs=2),
                       resume=True)
"""

from ..errors import ManifestError
from ..io.remux import join_segments, keyframe_indices
from .discover import DEFAULT_NAME, VIDEO_EXTENSIONS, Discovery, Job, discover
from .manifest import MANIFEST_NAME, Manifest, read_status
from .runner import REPORT_NAME, BatchConfig, BatchReport, remaster_chunked, run_batch, write_report
from .segments import Segment, plan_segments, render_segment

__all__ = [
    "BatchConfig",
    "BatchReport",
    "DEFAULT_NAME",
    "Discovery",
    "Job",
    "MANIFEST_NAME",
    "Manifest",
    "ManifestError",
    "REPORT_NAME",
    "Segment",
    "VIDEO_EXTENSIONS",
    "discover",
    "join_segments",
    "keyframe_indices",
    "plan_segments",
    "read_status",
    "remaster_chunked",
    "render_segment",
    "run_batch",
    "write_report",
]
