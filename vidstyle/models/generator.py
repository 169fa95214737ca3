"""The remaster generator: restoration and upscaling in one light network.

    x (B, 3, H, W) in [0, 1]
      -> space-to-depth x2 -> head conv                      (B, C, H/2, W/2)
      -> body: residual blocks at H/2, fused with a branch
         that works at H/4 (multi-scale feature fusion)
      -> decoder: residual blocks                           = features      (encode)
      -> conv to 3 (2s)^2 channels -> depth-to-space x2s
         (-> a learned blur, ``output_blur``: the styles),
         plus the bilinear-upscaled input (global skip)                     (decode)
    y (B, 3, sH, sW)

Working at half resolution from the first layer is what makes it cheap: every
3x3 convolution sees a quarter of the pixels, while space-to-depth loses no
information.

The encode/decode split lets the temporal stage reuse the work of a keyframe on the frames that
follow it (Deep Feature Flow, Zhu et al. 2017): ``encode`` is nearly all of the work, ``decode``
one convolution (:meth:`residual`) and the skip (:meth:`finish`). On a frame between keyframes,
:meth:`propagate` takes the keyframe's features and residual warped by the optical flow and
corrects the residual with a light look at the new frame (:class:`ReuseFusion`), about a tenth
of ``encode``. Models trained without it (``reuse_channels=0``) still work frame by frame.

The depth-to-space step gives each of the (2s)^2 positions of an output cell its own output
channel, so a network can print one fixed pattern over every cell of the picture: a grid. The
style models draw one when their losses reward fine-scale energy (issue 18). They therefore
blur the shuffled residual with a learned kernel (:class:`OutputBlur`): a convolution at the
output's own resolution is the same at every pixel, so it cannot make a pattern of the cells,
and it can learn to average one away across their edges. It starts as the identity, so a style
fine-tuned from a remaster model starts exactly at that model.
"""

from __future__ import annotations

import copy

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..io.depth import top_level
from .condition import FLAT, DamageConditioning, damage_estimates

__all__ = ["CENTRE_STRIDE", "OUTPUT_BLUR_SIZES", "OutputBlur", "RemasterGenerator", "ReuseFusion", "centre"]

#: The sides ``output_blur`` may have; 0: no blur.
OUTPUT_BLUR_SIZES = (0, 3, 5, 7)


class _ResBlock(nn.Module):
    """conv3x3 -> LeakyReLU -> conv3x3, added to the input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


#: Every how many cells of a frame the median of the fusion's correction is read (:func:`centre`).
CENTRE_STRIDE = 7


def centre(correction: torch.Tensor) -> torch.Tensor:
    """The median of the fusion's correction (..., P) over its last axis, the cells of a frame in
    row-major order, read on every :data:`CENTRE_STRIDE`-th cell: (...), what the frames between
    keyframes subtract from it.

    The correction should say what changed here and there since the keyframe (grain, a speck, what
    the warp missed); the frame's brightness comes with its own skip. Inference centres it
    (``centred=True`` in :meth:`ReuseFusion.forward` and :meth:`ReuseFusion.forward_rows`);
    training does not (yet). Yet remaster-x2's fusion
    darkens the whole frame a little: on bigbuckbunny.mp4's training frames 0-24 under REEL_DAMAGE,
    repaired, its median was -0.12 levels (mean -0.17), about the same in each of the 48 channels,
    so every frame between keyframes came out darker than its keyframe, a step every
    ``keyframe_interval`` frames. The median leaves the local corrections as they are. Measured on
    training material (REEL_DAMAGE seeds 1 and 2, bigbuckbunny.mp4 frames 0-40 and bikes.mp4's
    100-160, remaster-x2 with reuse): the flicker left with ``--repair auto`` 1.075x / 1.001x /
    0.976x / 1.046x the clean frames' -> 1.009x / 0.974x / 0.968x / 1.044x, PSNR-Y -0.005 to
    -0.011 dB with the repair and -0.001 to -0.017 dB without it (on clean footage the grain gate
    closes the correction and nothing changes)."""
    return correction[..., ::CENTRE_STRIDE].median(dim=-1).values


class ReuseFusion(nn.Module):
    """The output residual of a new frame from a keyframe's features and residual, warped onto it.

    ``warped_residual + up(down(act(mix1([warped, act(light(s2d(x))), mask]))))``: the 3x3
    ``light`` convolution sees the new frame at half resolution (its grain, its damage, what the
    keyframe did not show); the 1x1 ``mix1`` decides per pixel, from that and the keyframe's
    warped features, how the keyframe's warped residual (its output before the pixel shuffle;
    a style's is warped as the picture it becomes) must change; ``mask`` (1 where the flow is
    reliable) says where the warped keyframe is worth keeping. The change goes through a narrow
    3x3 ``down`` (``rank`` channels) and a 1x1 ``up``, a low-rank stand-in for the generator's
    own output convolution, which a frame between keyframes therefore never runs: it costs a
    third as much at x2 and a twelfth at x4. ``up`` starts at zero: an untrained fusion passes
    the warped residual through.
    """

    def __init__(self, channels: int, light_channels: int, out_channels: int, rank: int = 16) -> None:
        super().__init__()
        self.light = nn.Conv2d(3 * 4, light_channels, 3, padding=1)
        self.mix1 = nn.Conv2d(channels + light_channels + 1, channels, 1)
        self.down = nn.Conv2d(channels, rank, 3, padding=1, bias=False)
        self.up = nn.Conv2d(rank, out_channels, 1)
        self.act = nn.LeakyReLU(0.1, inplace=True)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, warped: torch.Tensor, warped_residual: torch.Tensor, x: torch.Tensor,
                mask: torch.Tensor, weight: torch.Tensor | None = None, centred: bool = False) -> torch.Tensor:
        """``warped_residual`` + the correction, weighted if ``weight`` is given: per frame (B,) or per
        cell (B, 1, h, w) (the gates of :class:`~vidstyle.models.descriptor.TemporalHints`);
        ``centred``: less its median (:func:`centre`) first."""
        correction = self.correction(warped, x, mask)
        if centred:
            correction = correction - centre(correction.flatten(2))[..., None, None]
        if weight is not None:
            weight = weight.to(correction.dtype)
            correction = correction * (weight.view(-1, 1, 1, 1) if weight.ndim == 1 else weight)
        return warped_residual + correction

    def correction(self, warped: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """What the fusion adds to the warped residual, (B, out_channels, h, w)."""
        return self.up(self.down(self.hidden(warped, x, mask)))

    def hidden(self, warped: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        light = self.act(self.light(F.pixel_unshuffle(x, 2)))
        return self.act(self.mix1(torch.cat([warped, light, mask.to(warped.dtype)], dim=1)))

    def reordered(self, order: torch.Tensor) -> ReuseFusion:
        """A copy of this fusion whose output channels come in ``order`` (a permutation of them).

        The inference path on the CPU keeps the residual's channels in the order that makes the
        pixel shuffle a copy (:func:`vidstyle.temporal.cells.cell_order`); this fusion's output
        must then come in that order too.
        """
        fusion = copy.deepcopy(self)
        with torch.no_grad():
            fusion.up.weight.copy_(fusion.up.weight[order])
            fusion.up.bias.copy_(fusion.up.bias[order])
        return fusion

    def forward_rows(self, warped: torch.Tensor, warped_residual: torch.Tensor | None, x_s2d: torch.Tensor,
                     mask: torch.Tensor, centred: bool = False) -> torch.Tensor:
        """:meth:`forward` on pixel rows, the CPU's fast form at inference.

        The 1x1 convolutions are matrix products on (pixels, channels) rows, and the
        concatenation becomes three products summed, so nothing is copied into a wider tensor.

        Args:
            warped: (P, C) features, one row per pixel of the (h, w) feature map, row-major.
            warped_residual: (P, O) the keyframe's residual, warped; not modified. None: only
                the correction (:meth:`correction`) is returned.
            x_s2d: the new frame, space-to-depth x2, (1, 12, h, w) in channels_last memory.
            mask: (P, 1) reliability of the flow.
            centred: the correction less its median (:func:`centre`).
        Returns:
            (P, O) the frame's residual (or the correction alone).
        """
        c, lc = warped.shape[1], self.light.out_channels
        _, _, h, w = x_s2d.shape
        light = self.act(self.light(x_s2d)).permute(0, 2, 3, 1).reshape(-1, lc)
        w1 = self.mix1.weight.view(c, -1)
        hidden = torch.addmm(self.mix1.bias, warped, w1[:, :c].t())
        hidden.addmm_(light, w1[:, c : c + lc].t())
        hidden.addmm_(mask.to(warped.dtype), w1[:, c + lc :].t())
        hidden = self.act(hidden)
        low = self.down(hidden.view(1, h, w, c).permute(0, 3, 1, 2))  # channels_last in and out
        low = low.permute(0, 2, 3, 1).reshape(h * w, -1)
        weight = self.up.weight.view(self.up.out_channels, -1).t()
        if centred:
            correction = torch.addmm(self.up.bias, low, weight)
            correction.sub_(centre(correction.t()))
            return correction if warped_residual is None else correction.add_(warped_residual)
        if warped_residual is None:
            return torch.addmm(self.up.bias, low, weight)
        return torch.addmm(warped_residual, low, weight).add_(self.up.bias)


class OutputBlur(nn.Module):
    """A learned ``size`` x ``size`` blur of the residual after the pixel shuffle, the same kernel
    for each colour, zeros beyond the picture's edges.

    It starts as the identity (a 1 in the middle), which it computes exactly. OpenCV applies the
    same kernel on the CPU's path between keyframes (:meth:`kernel`,
    :func:`vidstyle.temporal.cells.shuffle_onto`).
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(self.identity(size))

    @staticmethod
    def identity(size: int) -> torch.Tensor:
        """The kernel that changes nothing, (size, size)."""
        kernel = torch.zeros(size, size)
        kernel[size // 2, size // 2] = 1.0
        return kernel

    @property
    def radius(self) -> int:
        """How far (output pixels) the blur reaches."""
        return self.weight.shape[-1] // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` (B, C, H, W) blurred, same shape."""
        c, size = x.shape[1], self.weight.shape[-1]
        kernel = self.weight.to(x.dtype).expand(c, 1, size, size)
        return F.conv2d(x, kernel, padding=size // 2, groups=c)

    def kernel(self) -> np.ndarray:
        """The kernel as float32 (size, size), for ``cv2.filter2D`` (which correlates, as torch does)."""
        return self.weight.detach().float().cpu().numpy().copy()


class RemasterGenerator(nn.Module):
    """Restore and upscale by ``scale`` (1, 2 or 4).

    Args:
        scale: output size / input size.
        channels: feature width (C).
        body_blocks: residual blocks at H/2 in the encoder.
        low_blocks: residual blocks of the H/4 branch.
        decoder_blocks: residual blocks at the end of the encoder (the name is historical:
            they used to run in ``decode``; the output is the same).
        reuse_channels: width of :class:`ReuseFusion`'s look at the new frame; 0 for a model
            without feature reuse.
        reuse_rank: channels of the fusion's low-rank output convolution.
        colour_skip: pass the global skip through a learned colour transform (a 3x3 matrix and
            an offset, clamped to [0, 1]) before upscaling it. Style models have it: a palette
            unlike the film's (grey pencil, saturated glass) would otherwise have to be painted
            by the residual over every pixel. Off, the skip is the input itself.
        condition: scale and shift the features after the head and before the decoder by the
            input's own damage estimates (:mod:`.condition`: noise and blocking), so one network
            can be gentle on a clean frame and firm on a damaged one. Starts as the identity.
            True (1): the noise read over the whole picture; 2 (:data:`~.condition.FLAT`): on its
            flattest blocks, so texture is not taken for grain.
        output_blur: side of the :class:`OutputBlur` after the pixel shuffle (3, 5 or 7), or 0
            for none. Style models have it; it starts as the identity.

    Input sides must be multiples of :attr:`size_multiple` (the descriptor pads).
    """

    size_multiple = 4

    def __init__(
        self,
        *,
        scale: int = 2,
        channels: int = 48,
        body_blocks: int = 3,
        low_blocks: int = 2,
        decoder_blocks: int = 1,
        reuse_channels: int = 0,
        reuse_rank: int = 16,
        colour_skip: bool = False,
        condition: bool | int = False,
        output_blur: int = 0,
    ) -> None:
        super().__init__()
        if scale not in (1, 2, 4):
            raise ValueError(f"scale must be 1, 2 or 4, got {scale}")
        if isinstance(output_blur, bool) or output_blur not in OUTPUT_BLUR_SIZES:
            raise ValueError(f"output_blur must be one of {', '.join(map(str, OUTPUT_BLUR_SIZES))}, "
                             f"got {output_blur!r}")
        self.scale = scale
        self.hparams = {
            "scale": scale,
            "channels": channels,
            "body_blocks": body_blocks,
            "low_blocks": low_blocks,
            "decoder_blocks": decoder_blocks,
        }
        if reuse_channels:
            self.hparams["reuse_channels"] = reuse_channels
            self.hparams["reuse_rank"] = reuse_rank
        if colour_skip:
            self.hparams["colour_skip"] = True
        if condition not in (0, 1, FLAT):  # False and True are 0 and 1
            raise ValueError(f"condition must be False, True or {FLAT}, got {condition!r}")
        #: 0: no conditioning; 1: the whole picture's noise estimate; 2: its flattest blocks'.
        self.condition_kind = int(condition)
        if self.condition_kind:
            self.hparams["condition"] = True if self.condition_kind == 1 else FLAT
        if output_blur:
            self.hparams["output_blur"] = int(output_blur)
        c = channels
        self.head = nn.Conv2d(3 * 4, c, 3, padding=1)
        self.body = nn.Sequential(*[_ResBlock(c) for _ in range(body_blocks)])
        self.down = nn.Conv2d(c, c, 3, stride=2, padding=1)
        self.low = nn.Sequential(*[_ResBlock(c) for _ in range(low_blocks)])
        self.fuse = nn.Conv2d(2 * c, c, 1)
        self.decoder = nn.Sequential(*[_ResBlock(c) for _ in range(decoder_blocks)])
        self.to_pixels = nn.Conv2d(c, 3 * (2 * scale) ** 2, 3, padding=1)
        self.act = nn.LeakyReLU(0.1, inplace=True)
        out = 3 * (2 * scale) ** 2
        self.reuse = ReuseFusion(c, reuse_channels, out, reuse_rank) if reuse_channels else None
        self.skip_colour = nn.Conv2d(3, 3, 1) if colour_skip else None
        self.condition_head = DamageConditioning(c) if condition else None
        self.condition_tail = DamageConditioning(c) if condition else None
        #: Estimates (B, 2) that override the input's own while set (tiles: see
        #: :func:`~vidstyle.models.condition.whole_frame_estimates`).
        self.fixed_estimates: torch.Tensor | None = None
        if self.skip_colour is not None:  # starts as the identity
            nn.init.eye_(self.skip_colour.weight.view(3, 3))
            nn.init.zeros_(self.skip_colour.bias)
        self.output_blur = OutputBlur(int(output_blur)) if output_blur else None
        # Start as "bilinear upscaling": the residual branch begins at zero.
        nn.init.zeros_(self.to_pixels.weight)
        nn.init.zeros_(self.to_pixels.bias)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Deep features, (B, C, H/2, W/2), of x (B, 3, H, W) in [0, 1]."""
        feat = self.act(self.head(F.pixel_unshuffle(x, 2)))
        estimates = None
        if self.condition_head is not None:
            fixed = self.fixed_estimates
            estimates = damage_estimates(x, self.condition_kind) if fixed is None else fixed.to(x.device)
        if estimates is not None:
            feat = self.condition_head(feat, estimates)
        main = self.body(feat)
        low = self.low(self.act(self.down(feat)))
        low = F.interpolate(low, size=main.shape[-2:], mode="bilinear", align_corners=False)
        fused = feat + self.fuse(torch.cat([main, low], dim=1))
        if estimates is not None:
            fused = self.condition_tail(fused, estimates)
        return self.decoder(fused)

    @property
    def reach(self) -> int:
        """How far (input pixels) an output pixel depends on the input, rounded up to
        :attr:`size_multiple`: the radius of the receptive field, counted from the layers.

        At H/2 each 3x3 convolution adds one pixel: the head, the body's blocks or the H/4 branch
        (the stride-2 convolution, its blocks at twice the step, the bilinear upsampling),
        the decoder's blocks and the output convolution; space-to-depth doubles it and the
        bilinear skip adds one; an output blur adds its radius, in input pixels. Tiles
        (:mod:`vidstyle.models.tiles`) see this much around what they keep. Measured on the
        shipped models, other content beyond an edge moves the output by more than 1e-4 no
        farther in than 32 px (remaster-x2, reach 48), 36 px (remaster-x4, 48) and 25 px
        (remaster-x1, 32); by more than half a level, 15, 28 and 20 px.
        """
        hp = self.hparams
        half = 1 + max(2 * hp["body_blocks"], 2 + 4 * hp["low_blocks"]) + 2 * hp["decoder_blocks"] + 1
        blur = -(-self.output_blur.radius // self.scale) if self.output_blur is not None else 0
        return -(-(2 * half + 2 + blur) // self.size_multiple) * self.size_multiple

    @property
    def memory_per_pixel(self) -> float:
        """Estimated peak working memory of one input pixel in fp32 at batch 1, bytes: six feature
        maps at H/2, and the residual before and after the pixel shuffle and the skip at the
        output's size (once more with an output blur). For the shipped models 432 B at x2 and 864
        at x4, where the peak RSS grew by 336-395 and 754 B per pixel (measured on 512- and
        1024-pixel squares)."""
        s2 = self.scale * self.scale
        pictures = 3 if self.output_blur is None else 4
        return 4.0 * (6 * self.hparams["channels"] / 4 + pictures * 3 * s2)

    @property
    def supports_reuse(self) -> bool:
        """Whether :meth:`propagate` is available (the model was trained with a ReuseFusion)."""
        return self.reuse is not None

    def propagate(self, warped: torch.Tensor, warped_residual: torch.Tensor, x: torch.Tensor,
                  mask: torch.Tensor, weight: torch.Tensor | None = None, centred: bool = False) -> torch.Tensor:
        """The residual of ``x`` (see :meth:`residual`) from a keyframe's, (B, 3 (2s)^2, H/2, W/2).

        Args:
            warped: the keyframe's :meth:`encode` output warped by the flow x -> keyframe.
            warped_residual: the keyframe's :meth:`residual`, warped the same way, or as the
                picture it becomes (:func:`~vidstyle.temporal.warp.warp_shuffled`, styles).
            x: the new frame (B, 3, H, W) in [0, 1].
            mask: (B, 1, H/2, W/2), 1 where the flow is reliable, 0 where it is not.
            weight: the weight of the fusion's correction, (B,) per frame or (B, 1, H/2, W/2) per
                cell; None: 1.
            centred: the correction less its median first (:func:`centre`), as inference runs it.
        """
        if self.reuse is None:
            raise RuntimeError("this model has no feature reuse (reuse_channels=0)")
        return self.reuse(warped, warped_residual, x, mask, weight, centred)

    def fusion_in_order(self, order: torch.Tensor) -> ReuseFusion:
        """A copy of the :class:`ReuseFusion` with its output channels in ``order``
        (:meth:`ReuseFusion.reordered`), for an inference path that lays the residual out so."""
        if self.reuse is None:
            raise RuntimeError("this model has no feature reuse (reuse_channels=0)")
        return self.reuse.reordered(order)

    def residual(self, features: torch.Tensor) -> torch.Tensor:
        """The output before the pixel shuffle and the skip, (B, 3 (2s)^2, H/2, W/2)."""
        return self.to_pixels(features)

    def finish(self, residual: torch.Tensor, x: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        """Output (B, 3, sH, sW) from a :meth:`residual` and ``x`` itself (the skip).

        ``base``, when given, is ``x`` already upscaled bilinearly, possibly cropped to the
        unpadded picture (the output is then cropped to it): inference passes one made by OpenCV,
        several times faster on the CPU than ``F.interpolate``.
        """
        residual = F.pixel_shuffle(residual, 2 * self.scale)
        if self.output_blur is not None:
            residual = self.output_blur(residual)
        if base is not None:
            return base + residual[..., : base.shape[-2], : base.shape[-1]]
        base = self.skip_input(x)
        if self.scale != 1:
            base = F.interpolate(base, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return base + residual

    def output_kernel(self) -> np.ndarray | None:
        """The output blur's kernel (:meth:`OutputBlur.kernel`), or None without one."""
        return None if self.output_blur is None else self.output_blur.kernel()

    def neutral_state(self) -> dict[str, torch.Tensor]:
        """The weights of the layers a style adds to a remaster model (the colour skip, the output
        blur) at which they change nothing: where a fine-tune starts, and what a style's
        strength 0 blends back to (:func:`vidstyle.models.styles.load_style`)."""
        state = {}
        if self.skip_colour is not None:
            state["skip_colour.weight"] = torch.eye(3).view(3, 3, 1, 1)
            state["skip_colour.bias"] = torch.zeros(3)
        if self.output_blur is not None:
            state["output_blur.weight"] = OutputBlur.identity(self.output_blur.weight.shape[-1])
        return state

    def skip_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the global skip upscales: ``x``, or its colour transform (``colour_skip``).

        The transform is per pixel and linear before the clamp, so it is applied before
        upscaling, where there are fewer pixels; :meth:`skip_frame` is the same for uint8 frames.
        """
        if self.skip_colour is None:
            return x
        return self.skip_colour(x).clamp(0.0, 1.0)

    def skip_frame(self, frame: np.ndarray) -> np.ndarray:
        """:meth:`skip_input` on an RGB frame (H, W, 3), uint8 or uint16, with OpenCV: the CPU's fast
        form; the same dtype out."""
        if self.skip_colour is None:
            return frame
        matrix = torch.cat([self.skip_colour.weight.detach().view(3, 3),
                            self.skip_colour.bias.detach().view(3, 1) * float(top_level(frame.dtype))], dim=1)
        return cv2.transform(frame, matrix.double().cpu().numpy())  # saturates to the dtype's range

    def decode(self, features: torch.Tensor, x: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        """Output (B, 3, sH, sW) from the features of ``x`` and ``x`` itself; see :meth:`finish`."""
        return self.finish(self.residual(features), x, base)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x), x)
