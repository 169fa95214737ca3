"""import json, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np, torch, av
from vidstyle import RemasterConfig, remaster
from vidstyle.samples import sample_clip
from vidstyle.config import EncodeConfig, RangeConfig, TemporalConfig
from vidstyle.models.registry import load_model
from vidstyle.style.catalog import load_style
from vidstyle.models.descriptor import frames_to_tensor, tensor_to_frames

if len(sys.argv) != 3:
    sys.exit(__doc__)
OUT = Path(sys.argv[2])
OUT.mkdir(parents=True, exist_ok=True)
TMP = Path(tempfile.mkdtemp(prefix="vidstyle-gpu-"))
LOSSLESS = EncodeConfig(codec="ffv1", crf=None, preset=None, pix_fmt="bgr0")
SRC = Path(sys.argv[1])
R = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0), "cpu_threads": torch.get_num_threads()}
def say(*a):
    print(*a, flush=True)
def save():
    (OUT / "gpu_check.json").write_text(json.dumps(R, indent=1))
def decode(path):
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
def psnr(a, b):
    mse = ((a.astype(np.float64) - b) ** 2).mean()
    return round(float(10 * np.log10(255 ** 2 / mse)), 2) if mse else float("inf")
say(R)
# 1. End to end, lossless: CPU (the device machine's cores) against CUDA, off and reuse, a model and a style.
frames = RangeConfig(frames=120)
for label, kw in (("remaster-x2", {}), ("ink", {"style": "ink"}), ("engraving", {"style": "engraving"})):
    for mode in ("off", "reuse"):
        outs = {}
        for device in ("cpu", "cuda"):
            dst = TMP / f"{label}-{mode}-{device}.mkv"
            res = remaster(SRC, dst, RemasterConfig(scale=2, device=device, encode=LOSSLESS, overwrite=True, range=frames,
                                                   temporal=TemporalConfig(mode=mode), **kw))
            outs[device] = decode(dst)
            R[f"e2e lossless {label} {mode} {device} fps"] = round(res.fps, 2)
        p = [psnr(a, b) for a, b in zip(outs["cpu"], outs["cuda"])]
        R[f"cpu vs cuda {label} {mode} PSNR min/median"] = [min(p), float(np.median(p))]
        R[f"cpu vs cuda {label} {mode} frames"] = [len(outs["cpu"]), len(outs["cuda"])]
        say(label, mode, R[f"cpu vs cuda {label} {mode} PSNR min/median"], R[f"e2e lossless {label} {mode} cpu fps"], R[f"e2e lossless {label} {mode} cuda fps"])
        save()
# 2. End to end with the default encoder (x264) on CUDA, all 250 frames, off and reuse, batch 4 and 16.
for mode in ("off", "reuse"):
    for bs in (4, 16):
        res = remaster(SRC, TMP / "x.mp4", RemasterConfig(scale=2, device="cuda", overwrite=True, batch_size=bs,
                                                          temporal=TemporalConfig(mode=mode)))
        R[f"e2e x264 remaster-x2 {mode} batch {bs} cuda fps"] = round(res.fps, 2)
        R[f"e2e x264 remaster-x2 {mode} batch {bs} stage seconds"] = {k: round(v, 2) for k, v in res.stage_seconds.items()}
        say(mode, bs, res.fps, res.stage_seconds)
save()
# 3. The network alone on CUDA: fp32, fp16, bf16; batch 4 and 16; 640x272 -> x2; PSNR of half against fp32.
clip = decode(SRC)[:64]
for label, model in (("remaster-x2", load_model("remaster-x2", scale=2, device=torch.device("cuda"))),
                     ("remaster-x4", load_model("remaster-x4", scale=4, device=torch.device("cuda"))),
                     ("ink", load_style("ink", scale=2, device=torch.device("cuda")))):
    ref = None
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        module = model.module.to(dtype)
        for bs in (4, 16):
            x = [model.pad(frames_to_tensor(clip[i:i + bs], torch.device("cuda"))).to(dtype).contiguous(memory_format=torch.channels_last)
                 for i in range(0, len(clip), bs)]
            module = module.to(memory_format=torch.channels_last)
            with torch.inference_mode():
                for t in x[:2]:
                    module(t)
                torch.cuda.synchronize()
                start = time.perf_counter()
                outs = [module(t) for t in x]
                torch.cuda.synchronize()
                secs = time.perf_counter() - start
                got = np.concatenate([tensor_to_frames(o.float().clamp_(0, 1)) for o in outs])
            R[f"network {label} {str(dtype)[6:]} batch {bs} fps"] = round(len(clip) / secs, 1)
            if dtype == torch.float32 and bs == 4:
                ref = got
            elif ref is not None:
                p = [psnr(a, b) for a, b in zip(ref, got)]
                R[f"network {label} {str(dtype)[6:]} batch {bs} PSNR vs fp32 min"] = min(p)
            say(label, dtype, bs, R[f"network {label} {str(dtype)[6:]} batch {bs} fps"])
        model.module.to(torch.float32)
    R[f"network {label} peak MiB"] = round(torch.cuda.max_memory_allocated() / 2**20)
    save()
# 4. The CLI with --device cuda and a style on the bundled sample, and a bad --device on a machine that has it.
cli = subprocess.run([sys.executable, "-m", "vidstyle", "remaster", str(sample_clip()), "-o", str(TMP / "s.mp4"),
                      "--device", "cuda", "--style", "ink", "--style-strength", "0.8", "-q", "--overwrite",
                      "--report", str(TMP / "r.json")], capture_output=True, text=True)
R["cli cuda style rc"] = cli.returncode
R["cli stderr tail"] = cli.stderr[-500:]
if cli.returncode == 0:
    rep = json.loads((TMP / "r.json").read_text())
    R["cli report"] = {k: rep.get(k) for k in ("frames", "fps", "temporal")}
save()
say(json.dumps(R, indent=1))
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
from vidstyle.samples import sample_clip
from vidstyle.style.catalog import load_style

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
            result = remaster(src, tmp / "x264.mp4", RemasterConfig(scale=2, device="cuda", overwrite=True,
                                                                    batch_size=batch, temporal=TemporalConfig(mode=mode)))
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
