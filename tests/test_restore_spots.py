"""Dust and dirt repair (vidstyle.restore.spots) on real pictures moved by known shifts, with real DIS flow."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import moving_crops

from vidstyle.config import RepairConfig
from vidstyle.damage.degrade import FilmDegrader
from vidstyle.damage.settings import DegradeSettings
from vidstyle.restore import (
    RepairStage,
    SpotSettings,
    Swarm,
    find_spots,
    luma,
    neutral_spots,
    repair_spots,
    spot_report,
)
from vidstyle.temporal.flow import FlowEstimator
from vidstyle.temporal.warp import warp_numpy

skimage_data = pytest.importorskip("skimage.data")

H, W = 272, 400


def moving_frames(picture: np.ndarray, count: int, step: tuple[float, float]) -> list[np.ndarray]:
    return moving_crops(picture, count, step, W, H)


def neighbours(frames: list[np.ndarray], t: int, estimator: FlowEstimator):
    """(prev_w, next_w, prev_ok, next_ok) of frame t, as the repair stage makes them: DIS flow from frame t to
    each neighbour, the neighbour warped along it, and the forward-backward check > 0.5."""
    h, w = frames[t].shape[:2]
    target = estimator.prepare(frames[t])
    out = []
    for source in (frames[t - 1], frames[t + 1]):
        flow, reliable = estimator.pair(target, estimator.prepare(source)).at(h, w)
        out.append((warp_numpy(source, flow), reliable > 0.5))
    return out[0][0], out[1][0], out[0][1], out[1][1]


def neighbours_on(frames: list[np.ndarray], t: int, others: tuple[int, int], estimator: FlowEstimator):
    """As :func:`neighbours`, for any two ``others`` (frame indices) as the first and the second neighbour."""
    h, w = frames[t].shape[:2]
    target = estimator.prepare(frames[t])
    out = []
    for k in others:
        flow, reliable = estimator.pair(target, estimator.prepare(frames[k])).at(h, w)
        out.append((warp_numpy(frames[k], flow), reliable > 0.5))
    return out[0][0], out[1][0], out[0][1], out[1][1]


def add_specks(frame: np.ndarray, seed: int, count: int = 25) -> np.ndarray:
    """``frame`` with ``count`` bright and dark discs of radius 1 to 5 drawn on it (a copy)."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for _ in range(count):
        centre = (int(rng.integers(10, W - 10)), int(rng.integers(10, H - 10)))
        value = 245 if rng.random() < 0.5 else 10
        cv2.circle(out, centre, int(rng.integers(1, 6)), (value, value, value), -1, cv2.LINE_AA)
    return out


def banded_rain(fall: int, count: int, seed: int = 1) -> tuple[list[np.ndarray], np.ndarray]:
    """Three frames of ``count`` translucent streaks (1x4 pixels, 55 % of grey 215) falling ``fall`` pixels a
    frame over a panning picture of horizontal bands ``fall`` pixels high, grey 40 and 150 alternately under a
    faint copy of ``camera``'s texture (for the flow); and the middle frame's streaks, bool (H, W)."""
    rng = np.random.default_rng(seed)
    texture = skimage_data.camera().astype(np.float32)
    dark = (np.arange(texture.shape[0]) // fall) % 2 == 0
    picture = np.clip(np.where(dark[:, None], 40.0, 150.0) + 0.15 * (texture - 128), 0, 255).astype(np.uint8)
    frames = moving_frames(picture, 3, (0.6, 0.4))
    starts = np.stack([rng.uniform(10, W - 30, count), rng.uniform(2, H - 2 * fall - 6, count)], axis=1)
    drops = np.zeros((H, W), bool)
    for k, frame in enumerate(frames):
        layer = frame.copy()
        for x, y in starts:
            top, column = int(y + fall * k), int(x + 0.9 * k)
            cv2.line(layer, (column, top), (column, top + 3), (215, 215, 215), 1)
            if k == 1:
                drops[top : top + 4, column] = True
        frames[k] = cv2.addWeighted(frame, 0.45, layer, 0.55, 0.0)
    return frames, drops


def rms(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a.astype(np.float64) - b)[where] ** 2)))


def damaged_pixels(damaged: np.ndarray, clean: np.ndarray) -> np.ndarray:
    return np.abs(damaged.astype(np.int16) - clean).max(axis=2) > 20


def dusty_grain(grain_strength: float) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Three frames of ``camera`` moving, clean, under FilmDegrader's grain of ``grain_strength`` with dense small
    dust (seed 1), and the drawn dust of each."""
    clean = moving_frames(skimage_data.camera(), 3, (0.7, 0.3))
    degrader = FilmDegrader(DegradeSettings(grain_strength=grain_strength, grain_size=0.6, dust_density=200.0,
                                            dust_size=4.0), seed=1, height=H, width=W)
    frames, drawn = [], []
    for frame in clean:
        frames.append(degrader.degrade(frame))
        drawn.append(degrader.damage_mask())  # the damage of the frame just degraded
    return clean, frames, drawn


@pytest.fixture(scope="module")
def estimator():
    return FlowEstimator()


class TestSpikes:
    @pytest.mark.parametrize("step", [(0.0, 0.0), (0.7, 0.3), (2.4, -1.3)], ids=["still", "slow", "fast"])
    def test_specks_are_removed(self, estimator, step):
        clean = moving_frames(skimage_data.astronaut(), 3, step)
        frames = [clean[0], add_specks(clean[1], seed=1), clean[2]]
        prev_w, next_w, prev_ok, next_ok = neighbours(frames, 1, estimator)
        mask = find_spots(frames[1], prev_w, next_w, prev_ok, next_ok)
        repaired = repair_spots(frames[1], mask, prev_w, next_w)
        hit = damaged_pixels(frames[1], clean[1])
        before, after = rms(frames[1], clean[1], hit), rms(repaired, clean[1], hit)
        assert after < 0.3 * before, (before, after)
        assert (repaired != frames[1]).any(axis=2).mean() < 2.5 * hit.mean()  # the specks, their rims, little more

    def test_damage_model_dust(self, estimator):
        clean = moving_frames(skimage_data.camera(), 3, (0.6, 0.4))
        degrader = FilmDegrader(DegradeSettings(dust_density=200.0, dust_size=8.0, grain_strength=0.01), seed=3,
                                height=H, width=W)
        frames = [degrader.degrade(f) for f in clean]
        prev_w, next_w, prev_ok, next_ok = neighbours(frames, 1, estimator)
        mask = find_spots(frames[1], prev_w, next_w, prev_ok, next_ok)
        repaired = repair_spots(frames[1], mask, prev_w, next_w)
        hit = damaged_pixels(frames[1], clean[1])
        recovered = float((np.abs(repaired.astype(np.int16) - clean[1]).max(axis=2)[hit] <= 20).mean())
        print(f"damage-model dust: {hit.mean():.2%} of pixels damaged, {recovered:.0%} recovered, "
              f"{spot_report(mask)}")
        assert rms(repaired, clean[1], hit) < 0.5 * rms(frames[1], clean[1], hit)
        assert recovered > 0.6

    def test_dust_on_heavy_grain(self, estimator):
        """Small specks under the worn print's grain (about 11 grey levels): blurred, a neighbour's grain matched
        a speck's blurred shape somewhere in the search window, and the speck was kept as a thing moving. With the
        grain's own energy asked for on top (``noise_margin``) they are mended."""
        clean, frames, drawn = dusty_grain(0.05)
        prev_w, next_w, prev_ok, next_ok = neighbours(frames, 1, estimator)
        left = {}
        for margin in (SpotSettings.noise_margin, 0.0):
            mask = find_spots(frames[1], prev_w, next_w, prev_ok, next_ok, SpotSettings(noise_margin=margin))
            repaired = repair_spots(frames[1], mask, prev_w, next_w)
            left[margin] = rms(repaired, clean[1], drawn[1]) / rms(frames[1], clean[1], drawn[1])
        print(f"dust on heavy grain: RMS at the drawn dust {left} of the damaged frame's, by noise_margin")
        assert left[SpotSettings.noise_margin] < 0.3
        assert left[SpotSettings.noise_margin] < 0.75 * left[0.0]

    def test_neighbours_agree_within_their_grain(self, estimator):
        """Under heavy grain (its frame-to-frame difference about 19 grey levels) the two neighbours differ by
        their two grains, so over much of a speck they disagreed by more than ``agreement`` and it was kept;
        the agreement asked of them is at least their difference's own spread (``agreement_noise``): more of
        the dust is mended, and the rest of the frame comes out no further from the clean picture (the grain
        spikes it now also takes are filled from the neighbours' mean)."""
        clean, frames, drawn = dusty_grain(0.1)
        prev_w, next_w, prev_ok, next_ok = neighbours(frames, 1, estimator)
        left = {}
        for k in (SpotSettings.agreement_noise, 0.0):
            mask = find_spots(frames[1], prev_w, next_w, prev_ok, next_ok, SpotSettings(agreement_noise=k))
            repaired = repair_spots(frames[1], mask, prev_w, next_w)
            left[k] = (rms(repaired, clean[1], drawn[1]), rms(repaired, clean[1], ~drawn[1]))
        print(f"dust on heavy grain: RMS at the drawn dust and elsewhere, by agreement_noise {left}")
        assert left[SpotSettings.agreement_noise][0] < 0.9 * left[0.0][0]
        assert left[SpotSettings.agreement_noise][1] <= left[0.0][1]
        # Clean footage (its neighbours' difference about 1.5 levels, under ``agreement``): the same mask as without.
        clean_frames = moving_frames(skimage_data.astronaut(), 3, (0.7, 0.3))
        prev_w, next_w, prev_ok, next_ok = neighbours(clean_frames, 1, estimator)
        assert np.array_equal(*(find_spots(clean_frames[1], prev_w, next_w, prev_ok, next_ok,
                                           SpotSettings(agreement_noise=k)) for k in (1.0, 0.0)))

    def test_untouched_outside_the_feathered_mask(self, estimator):
        clean = moving_frames(skimage_data.astronaut(), 3, (0.7, 0.3))
        frames = [clean[0], add_specks(clean[1], seed=2), clean[2]]
        prev_w, next_w, prev_ok, next_ok = neighbours(frames, 1, estimator)
        mask = find_spots(frames[1], prev_w, next_w, prev_ok, next_ok)
        repaired = repair_spots(frames[1], mask, prev_w, next_w)
        rim = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)), iterations=2)
        assert mask.any()
        assert np.array_equal(repaired[rim == 0], frames[1][rim == 0])
        assert spot_report(mask)["pixels"] == int(np.count_nonzero(rim))


class TestRealMotionIsKept:
    def test_small_fast_objects(self, estimator):
        """A 5x5 bright square and a dark one, 6 pixels a frame over a textured, moving background."""
        frames = moving_frames(skimage_data.camera(), 5, (0.6, 0.4))
        for k, frame in enumerate(frames):
            frame[120:125, 100 + 6 * k : 105 + 6 * k] = 235
            frame[60:65, 300 - 6 * k : 305 - 6 * k] = 15
        for t in (1, 2, 3):
            prev_w, next_w, prev_ok, next_ok = neighbours(frames, t, estimator)
            mask = find_spots(frames[t], prev_w, next_w, prev_ok, next_ok)
            assert not mask[115:130, 95 + 6 * t : 110 + 6 * t].any()
            assert not mask[55:70, 295 - 6 * t : 310 - 6 * t].any()
            assert mask.mean() < 0.005

    def test_slow_rain_is_mostly_kept(self, estimator):
        """80 bright streaks 1x4 pixels falling 3 pixels a frame over a moving picture. Streaks one pixel wide are
        the detector's weak point (the warp smears them in the neighbours): most are kept, not all."""
        rng = np.random.default_rng(0)
        starts = np.stack([rng.uniform(10, W - 30, 80), rng.uniform(0, H, 80)], axis=1)
        frames = moving_frames(skimage_data.astronaut(), 3, (0.6, 0.4))
        drops = np.zeros((H, W), bool)
        for k, frame in enumerate(frames):
            for x, y in starts:
                top, column = int((y + 3 * k) % H), int(x + 0.9 * k)
                cv2.line(frame, (column, top), (column, min(H - 1, top + 3)), (235, 235, 235), 1)
                if k == 1:
                    drops[top : top + 4, column] = True
        prev_w, next_w, prev_ok, next_ok = neighbours(frames, 1, estimator)
        mask = find_spots(frames[1], prev_w, next_w, prev_ok, next_ok)
        print(f"slow rain: {mask[drops].mean():.0%} of the drops' pixels masked")
        assert mask[drops].mean() < 0.3

    def test_a_ball_faster_than_the_flow(self, estimator):
        """A bright 7-pixel ball and a dark one crossing 11 and 13 pixels a frame over a moving picture: each
        neighbour shows it a step along its path."""
        frames = moving_frames(skimage_data.camera(), 5, (0.6, 0.4))
        for k, frame in enumerate(frames):
            cv2.circle(frame, (60 + 11 * k, 150), 3, (240, 240, 240), -1, cv2.LINE_AA)
            cv2.circle(frame, (330 - 13 * k, 90 + 2 * k), 3, (10, 10, 10), -1, cv2.LINE_AA)
        for t in (1, 2, 3):
            prev_w, next_w, prev_ok, next_ok = neighbours(frames, t, estimator)
            mask = find_spots(frames[t], prev_w, next_w, prev_ok, next_ok)
            assert not mask[144:157, 53 + 11 * t : 68 + 11 * t].any()
            assert not mask[84 + 2 * t : 97 + 2 * t, 323 - 13 * t : 338 - 13 * t].any()

    def test_balls_faster_than_the_first_search(self, estimator):
        """Bright 7-pixel balls crossing 20 and 28 pixels a frame over a moving picture: further than
        ``search_radius`` looks, within ``path_radius``. Without the further search (``path_radius`` 0) at
        least one is taken for dust."""
        frames = moving_frames(skimage_data.camera(), 3, (0.6, 0.4))
        for k, frame in enumerate(frames):
            cv2.circle(frame, (100 + 20 * k, 150), 3, (240, 240, 240), -1, cv2.LINE_AA)
            cv2.circle(frame, (300 - 28 * k, 110), 3, (240, 240, 240), -1, cv2.LINE_AA)
        prev_w, next_w, prev_ok, next_ok = neighbours(frames, 1, estimator)
        balls = (slice(143, 158), slice(113, 128)), (slice(103, 118), slice(265, 280))
        kept = {}
        for radius in (SpotSettings.path_radius, 0):
            mask = find_spots(frames[1], prev_w, next_w, prev_ok, next_ok, SpotSettings(path_radius=radius))
            kept[radius] = [not mask[ball].any() for ball in balls]
        assert all(kept[SpotSettings.path_radius]) and not all(kept[0]), kept

    def test_balls_entering_and_leaving_the_picture(self, estimator):
        """A bright ball entering at the left edge and a dark one leaving at the right, 12 pixels a frame over the
        ground of ``camera``: one neighbour shows each a step along its path, the other would show it beyond the
        edge. Without that rule (``edge_hides=False``) the entering one is taken for dust. Specks drawn as near
        the edges are still taken."""
        frames = moving_frames(skimage_data.camera(), 3, (0.6, 0.4))
        for k, frame in enumerate(frames):
            cv2.circle(frame, (-3 + 12 * k, 220), 3, (240, 240, 240), -1, cv2.LINE_AA)
            cv2.circle(frame, (W + 2 - 12 * (2 - k), 180), 3, (10, 10, 10), -1, cv2.LINE_AA)
        specked = frames[1].copy()
        for centre in ((3, 60), (W - 4, 100)):  # dark specks on the sky
            cv2.circle(specked, centre, 3, (10, 10, 10), -1, cv2.LINE_AA)
        balls = (slice(212, 228), slice(0, 17)), (slice(172, 188), slice(W - 17, W))
        for frame, edge_hides in ((frames[1], True), (specked, True), (frames[1], False)):
            prev_w, next_w, prev_ok, next_ok = neighbours([frames[0], frame, frames[2]], 1, estimator)
            mask = find_spots(frame, prev_w, next_w, prev_ok, next_ok, SpotSettings(edge_hides=edge_hides))
            kept = [not mask[ball].any() for ball in balls]
            assert all(kept) if edge_hides else not all(kept), (edge_hides, kept)
            if frame is specked:
                assert mask[58:63, 1:6].all() and mask[98:103, W - 6 : W - 1].all()

    @pytest.mark.parametrize("fall", [6, 12])
    def test_fast_rain_is_kept(self, estimator, fall):
        """Eighty streaks 1x4 pixels falling together: a swarm, told from dust by its common motion."""
        rng = np.random.default_rng(1)
        starts = np.stack([rng.uniform(10, W - 30, 80), rng.uniform(0, H, 80)], axis=1)
        frames = moving_frames(skimage_data.camera(), 3, (0.6, 0.4))
        drops = np.zeros((H, W), bool)
        for k, frame in enumerate(frames):
            for x, y in starts:
                top, column = int((y + fall * k) % H), int(x + 0.9 * k)
                cv2.line(frame, (column, top), (column, min(H - 1, top + 3)), (235, 235, 235), 1)
                if k == 1:
                    drops[top : top + 4, column] = True
        prev_w, next_w, prev_ok, next_ok = neighbours(frames, 1, estimator)
        mask = find_spots(frames[1], prev_w, next_w, prev_ok, next_ok)
        print(f"rain falling {fall} pixels a frame: {mask[drops].mean():.0%} of the drops' pixels masked")
        assert mask[drops].mean() < 0.1

    @pytest.mark.parametrize("fall", [12, 15])
    def test_translucent_rain_over_changing_ground_is_kept(self, estimator, fall):
        """Eighty translucent streaks falling one band a frame over dark and mid-grey bands: a streak over a dark
        band stands out, and its trail over the mid-grey bands, which the neighbours show, carries a seventh of
        its energy. The swarm's common motion, not each trail's strength, tells it from dust (with the trail
        held to a quarter of the streak's energy, as a lone blob is, 31 % of the drops' pixels were masked)."""
        frames, drops = banded_rain(fall, 80)
        prev_w, next_w, prev_ok, next_ok = neighbours(frames, 1, estimator)
        swarm = Swarm()
        mask = find_spots(frames[1], prev_w, next_w, prev_ok, next_ok, swarm=swarm)
        print(f"translucent rain falling {fall} pixels a frame: {mask[drops].mean():.1%} of the drops' pixels "
              f"masked; swarm {swarm.motion}")
        assert mask[drops].mean() < 0.05
        assert swarm.motion is not None and abs(swarm.motion[0] - fall) <= 2 and abs(swarm.motion[1]) <= 2

    def test_the_swarm_of_the_frame_before_holds(self, estimator):
        """A frame with a few streaks and much dust: the streaks that move alike are too small a share of its
        blobs to make a swarm on their own, and are painted; with the swarm the frame before found (a Swarm
        carried along the shot) they are kept, and most of the dust is still taken (two thirds of its pixels,
        against 87 % alone: a speck that one neighbour shows faintly along the rain's motion goes with the rain)."""
        fall = 12
        swarm = Swarm()
        frames, _ = banded_rain(fall, 80)
        find_spots(frames[1], *neighbours(frames, 1, estimator), swarm=swarm)
        assert swarm.motion is not None
        frames, drops = banded_rain(fall, 8, seed=2)
        frames[1] = add_specks(frames[1], seed=3, count=40)
        dust = damaged_pixels(frames[1], banded_rain(fall, 8, seed=2)[0][1]) & ~drops
        found = {}
        for name, carried in (("alone", Swarm()), ("carried", swarm)):
            mask = find_spots(frames[1], *neighbours(frames, 1, estimator), swarm=carried)
            found[name] = (float(mask[drops].mean()), float(mask[dust].mean()))
        print("drops' and dust's pixels masked:", found)
        assert found["alone"][0] > 0.2
        assert found["carried"][0] < 0.05
        assert found["alone"][1] > 0.8 and found["carried"][1] > 0.5
        assert swarm.motion is not None

    def test_the_stage_reports_the_frames_with_rain(self):
        """The repair stage counts the frames on which a swarm was recognised (its report's ``swarm_frames``, per
        shot and in all): rain, not dust."""
        config = RepairConfig("auto", scratches=False, flicker=False, grain=False)
        rain, _ = banded_rain(12, 80)
        dusty = [frame.copy() for frame in moving_frames(skimage_data.astronaut(), 3, (0.7, 0.3))]
        dusty[1] = add_specks(dusty[1], seed=1)
        reports = {}
        for name, frames in (("rain", rain), ("dust", dusty)):
            stage = RepairStage(config)
            list(stage.frames(frames))
            reports[name] = stage.report()
        # every frame of the three: the first and the last are read against the two frames on their side
        assert reports["rain"]["swarm_frames"] == reports["rain"]["shots"][0]["swarm_frames"] == 3
        assert reports["dust"]["swarm_frames"] == 0 and reports["dust"]["spots"] >= 20

    def test_a_shots_ends_read_the_two_frames_on_their_side(self, estimator):
        """The first frame of a shot is read against the two after it, the last against the two before it
        (``side``): specks there are found, and balls crossing 11 and 13 pixels a frame, which the two frames
        show a step and two steps along their path, are kept."""
        frames = moving_frames(skimage_data.camera(), 5, (0.6, 0.4))
        for k, frame in enumerate(frames):
            cv2.circle(frame, (60 + 11 * k, 150), 3, (240, 240, 240), -1, cv2.LINE_AA)
            cv2.circle(frame, (330 - 13 * k, 90 + 2 * k), 3, (10, 10, 10), -1, cv2.LINE_AA)
        for t, others, side in ((0, (1, 2), 1), (4, (3, 2), -1)):
            dusty = add_specks(frames[t], seed=t + 1, count=12)
            dust = damaged_pixels(dusty, frames[t])
            local = frames[:t] + [dusty] + frames[t + 1:]
            one_w, two_w, one_ok, two_ok = neighbours_on(local, t, others, estimator)
            mask = find_spots(dusty, one_w, two_w, one_ok, two_ok, prev_raw=frames[others[0]],
                              next_raw=frames[others[1]], side=side)
            assert mask[dust].mean() > 0.6, (t, mask[dust].mean())
            assert not mask[144:157, 53 + 11 * t : 68 + 11 * t].any()
            assert not mask[84 + 2 * t : 97 + 2 * t, 323 - 13 * t : 338 - 13 * t].any()
            assert (mask & ~cv2.dilate(dust.view(np.uint8), np.ones((5, 5), np.uint8)).view(bool)).mean() < 0.001

    def test_side_must_be_known(self, estimator):
        frames = moving_frames(skimage_data.camera(), 3, (0.6, 0.4))
        prev_w, next_w, prev_ok, next_ok = neighbours(frames, 1, estimator)
        with pytest.raises(ValueError, match="side must be one of"):
            find_spots(frames[1], prev_w, next_w, prev_ok, next_ok, side=2)

    def test_one_neighbour_is_not_touched(self, estimator):
        clean = moving_frames(skimage_data.astronaut(), 3, (0.7, 0.3))
        frame = add_specks(clean[1], seed=1)
        prev_w, _, prev_ok, _ = neighbours([clean[0], frame, clean[2]], 1, estimator)
        assert not find_spots(frame, prev_w, None, prev_ok, None).any()
        assert not find_spots(frame, None, None, None, None).any()
        assert np.array_equal(repair_spots(frame, np.zeros((H, W), bool), None, None), frame)

    def test_disagreeing_neighbours_keep_the_pixel(self):
        """A change that stays (the neighbours disagree: a light switched on) is no spike."""
        grey = np.full((H, W, 3), 100, np.uint8)
        frame, after = grey.copy(), grey.copy()
        frame[100:110, 100:110] = 200
        after[100:110, 100:110] = 200
        assert find_spots(frame, grey, after, None, None).sum() == 0
        assert find_spots(frame, grey, grey, None, None).sum() >= 100  # both without it: a spike

    def test_unreliable_flow_keeps_the_pixel(self):
        """Where the flow check failed over a region wider than a speck and the warped neighbour differs from the
        frame around it (content the flow lost), nothing is repaired."""
        rng = np.random.default_rng(0)
        frame = cv2.GaussianBlur(rng.integers(40, 160, size=(H, W, 3), dtype=np.uint8), (0, 0), 1.0)
        still = frame.copy()
        lost = frame.copy()
        lost[80:130, 80:130] = rng.integers(0, 256, size=(50, 50, 3), dtype=np.uint8)  # what the flow lost
        frame[100:106, 100:106] = 250
        reliable = np.ones((H, W), bool)
        reliable[80:130, 80:130] = False
        assert not find_spots(frame, lost, lost, reliable, reliable).any()
        # The same failed check where the neighbours still match the frame around it (a flat sky, where DIS
        # has nothing to lock on to): overruled, and the square is a speck.
        assert find_spots(frame, still, still, reliable, reliable).sum() >= 36

    def test_blobs_over_the_size_limit_are_kept(self):
        grey = np.full((H, W, 3), 100, np.uint8)
        frame = grey.copy()
        frame[50:90, 50:90] = 220  # 1600 pixels changed in one frame: a flash or motion, not dirt
        assert not find_spots(frame, grey, grey, None, None).any()
        assert find_spots(frame, grey, grey, None, None, SpotSettings(max_area=2000)).sum() >= 1600


class TestSettings:
    @pytest.mark.parametrize("kwargs", [{"spike": -1.0}, {"support": 40.0}, {"agreement_ratio": 2.0},
                                        {"max_area": 1.5}, {"feather": -1}, {"grow": True}, {"ring_mismatch": -1.0},
                                        {"ring_floor": 300.0}, {"ring_texture": 11.0}, {"swarm_share": 1.5},
                                        {"colour_limit": -1.0}, {"path_radius": 65}, {"noise_margin": -1.0},
                                        {"agreement_noise": 11.0}])
    def test_bad_values(self, kwargs):
        with pytest.raises(ValueError):
            SpotSettings(**kwargs)

    def test_bad_shapes(self):
        frame = np.zeros((H, W, 3), np.uint8)
        with pytest.raises(ValueError, match="prev_w"):
            find_spots(frame, np.zeros((H, W + 1, 3), np.uint8), frame, None, None)
        with pytest.raises(ValueError, match="frame must be an RGB uint8"):
            find_spots(frame.astype(np.float32), frame, frame, None, None)
        with pytest.raises(ValueError, match="next_w must be 272x400"):
            find_spots(frame[..., 0], frame[..., 0], frame[:, :-1, 0], None, None)

    def test_luma_in_is_rgb_in(self, estimator):
        """The detector reads luma: given the frames' luma (as the repair stage does) it finds the same specks."""
        clean = moving_frames(skimage_data.astronaut(), 3, (0.7, 0.3))
        frames = [clean[0], add_specks(clean[1], seed=1), clean[2]]
        prev_w, next_w, prev_ok, next_ok = neighbours(frames, 1, estimator)
        grey = [luma(f).astype(np.uint8) for f in (frames[1], prev_w, next_w)]
        rgb_mask = find_spots(frames[1], prev_w, next_w, prev_ok, next_ok)
        assert rgb_mask.any()
        assert np.array_equal(find_spots(*grey, prev_ok, next_ok), rgb_mask)


def test_fast_particles_are_barely_touched():
    """The benchmark's generator of fast particles (discs, rain, sparks) with a seed of its own, not the benchmark's
    clip: the share of pixels the spots touch, measured in the repair stage at the size the x2 benchmark repairs."""
    footage = pytest.importorskip("pipelines.benchmark.footage")
    frames = [cv2.resize(f, (256, 192), interpolation=cv2.INTER_AREA) for f in footage.fast_motion_frames(12, seed=7)]
    stage = RepairStage(RepairConfig(mode="auto", scratches=False, flicker=False))
    for _ in stage.frames(frames):
        pass
    report = stage.report()
    share = report["pixels_touched"] / report["pixels"]
    print(f"fast particles, seed 7: {share:.3%} of pixels touched")
    assert share < 0.004  # 1.8 % before the motion guard looked for paths


def test_clean_fast_motion_is_barely_touched(estimator):
    """Share of pixels touched on bikes.mp4's training frames (its held-out end left alone); the issue asks for
    under 0.2 %."""
    data = pytest.importorskip("vidstyle.train.data")
    try:
        frames = data.clip_frames("bikes.mp4")
    except FileNotFoundError as ex:
        pytest.skip(str(ex))
    end = data.HELD_OUT_CLIP_FRAMES["bikes.mp4"][0]
    touched = []
    for t in range(1, end - 1, 6):
        prev_w, next_w, prev_ok, next_ok = neighbours(list(frames), t, estimator)
        mask = find_spots(frames[t], prev_w, next_w, prev_ok, next_ok)
        touched.append(spot_report(mask)["pixels"] / mask.size)
    print(f"bikes.mp4 training frames: {np.mean(touched):.3%} of pixels touched on average, "
          f"{np.max(touched):.3%} at most, over {len(touched)} frames")
    assert np.mean(touched) < 0.01


def test_glints_where_the_flow_fails_are_kept():
    """bikes.mp4's training frames 30-46, area x2 as the x2 benchmark repairs them: the cyclists' glints and highlights
    move faster than the flow follows, and the picture around them is not brought over either. The guard on the
    surroundings (``ring_mismatch``, ``ring_floor``, ``ring_texture``) keeps them; the same frames with the damage
    model's dust lose as much of it as without the guard."""
    data = pytest.importorskip("vidstyle.train.data")
    try:
        clip = data.clip_frames("bikes.mp4")
    except FileNotFoundError as ex:
        pytest.skip(str(ex))
    assert data.HELD_OUT_CLIP_FRAMES["bikes.mp4"][0] >= 46
    clean = [cv2.resize(f, (320, 136), interpolation=cv2.INTER_AREA) for f in clip[30:46]]
    degrader = FilmDegrader(DegradeSettings(dust_density=200.0, dust_size=5.0, grain_strength=0.02), seed=9,
                            height=136, width=320)
    dusty, drawn = [], []
    for frame in clean:
        dusty.append(degrader.degrade(frame))
        drawn.append(degrader.damage_mask() > 0.1)

    def spots_only(frames, settings):
        stage = RepairStage(RepairConfig(mode="auto", scratches=False, flicker=False))
        stage.spot_settings = settings
        return [frame for frame, _ in stage.frames(frames)]

    def change(a, b):
        return float(np.sqrt(np.mean([np.mean((x.astype(np.float64) - y) ** 2) for x, y in zip(a, b)])))

    unguarded = SpotSettings(ring_mismatch=0.0, edge_hides=False)
    harm_off = change(spots_only(clean, unguarded), clean)
    harm_on = change(spots_only(clean, SpotSettings(edge_hides=False)), clean)
    harm_both = change(spots_only(clean, SpotSettings()), clean)
    print(f"clean bikes.mp4 frames 30-46: RMS change {harm_off:.2f} without the guard, {harm_on:.2f} with it, "
          f"{harm_both:.2f} with the edge rule as well")
    assert harm_on < 0.8 * harm_off
    assert harm_both <= harm_on

    def at_dust(frames):
        return float(np.sqrt(np.mean(np.concatenate([((f.astype(np.float64) - c) ** 2)[m]
                                                     for f, c, m in zip(frames, clean, drawn)]))))

    kept_off, kept_on = at_dust(spots_only(dusty, unguarded)), at_dust(spots_only(dusty, SpotSettings()))
    print(f"dust: RMS {at_dust(dusty):.1f} damaged, {kept_off:.1f} repaired without the guard, {kept_on:.1f} with it")
    assert kept_off < 0.8 * at_dust(dusty)  # the dust is repaired ...
    assert kept_on < 1.05 * kept_off  # ... as well with the guard


class TestColour:
    """Dust is grey, sparks and tail lights are not (:func:`neutral_spots`)."""

    @staticmethod
    def blend(frame: np.ndarray, centre: tuple[int, int], radius: int, colour, opacity: float) -> np.ndarray:
        layer = frame.copy()
        cv2.circle(layer, centre, radius, colour, -1, cv2.LINE_AA)
        return cv2.addWeighted(frame, 1.0 - opacity, layer, opacity, 0.0)

    def test_sparks_leave_the_mask_and_grey_specks_stay(self, estimator):
        # astronaut (a training still: a red and white suit, a blue and black ground) panning; on the middle frame
        # two orange sparks (255, 200, 90) and grey specks, dark and light, part-covering the picture, over colour too.
        frames = moving_frames(skimage_data.astronaut(), 3, (0.6, 0.4))
        sparks = ((350, 250), (380, 120))
        specks = ((200, 120, 15, 0.9), (60, 220, 235, 0.7), (340, 60, 25, 0.6))
        frame = frames[1]
        for centre in sparks:
            frame = self.blend(frame, centre, 3, (255, 200, 90), 1.0)
        for x, y, grey, opacity in specks:
            frame = self.blend(frame, (x, y), 3, (grey, grey, grey), opacity)
        prev_w, next_w, prev_ok, next_ok = neighbours([frames[0], frame, frames[2]], 1, estimator)
        found = find_spots(frame, prev_w, next_w, prev_ok, next_ok)
        around = lambda x, y: (slice(y - 5, y + 6), slice(x - 5, x + 6))  # noqa: E731
        assert all(found[around(x, y)].any() for x, y in sparks)  # the detector alone takes them for dust
        kept = neutral_spots(frame, found, prev_w, next_w)
        assert not any(kept[around(x, y)].any() for x, y in sparks)
        assert all(kept[around(x, y)].any() for x, y, _, _ in specks)
        assert np.array_equal(kept, found & kept)  # only blobs leave, nothing is added
        assert np.array_equal(neutral_spots(frame, found, prev_w, next_w, SpotSettings(colour_limit=255.0)), found)

    def test_white_specks_on_a_toned_picture_are_dust(self, estimator):
        """On a sepia-toned print a white speck (dust on the negative: the print's base, toned with it) carries the
        tone at a higher level than the picture under it: its chroma is more than the picture's, along the same
        line. Measured: with that share held to 1, two of these three white specks were left."""
        tone = np.float32([1.0, 0.85, 0.65])
        toned = np.clip(skimage_data.camera().astype(np.float32)[..., None] * tone, 0, 255).astype(np.uint8)
        frames = moving_frames(toned, 3, (0.6, 0.4))
        frame = frames[1].copy()
        white = tuple(int(c) for c in 255 * tone)
        specks = ((60, 60, white), (200, 200, white), (120, 220, white), (300, 100, (0, 0, 0)))
        for x, y, colour in specks:
            cv2.circle(frame, (x, y), 3, colour, -1, cv2.LINE_AA)
        prev_w, next_w, prev_ok, next_ok = neighbours([frames[0], frame, frames[2]], 1, estimator)
        found = find_spots(frame, prev_w, next_w, prev_ok, next_ok)
        kept = neutral_spots(frame, found, prev_w, next_w)
        assert all(kept[y - 5 : y + 6, x - 5 : x + 6].any() for x, y, _ in specks)

    def test_the_stage_leaves_a_spark_and_fills_a_speck(self):
        frames = moving_frames(skimage_data.astronaut(), 5, (0.6, 0.4))
        frames[2] = self.blend(frames[2], (380, 120), 3, (255, 200, 90), 1.0)
        frames[2] = self.blend(frames[2], (200, 120), 3, (15, 15, 15), 0.9)
        spark, speck = (slice(115, 126), slice(375, 386)), (slice(117, 124), slice(197, 204))
        for limit in (SpotSettings().colour_limit, 255.0):
            stage = RepairStage(RepairConfig.from_parts("auto", "spots"))
            stage.spot_settings = SpotSettings(colour_limit=limit)
            out = [f for f, _ in stage.frames(frames)]
            assert np.abs(out[2][speck].astype(int) - frames[2][speck]).max() > 50
            # Told to ignore colour, the stage paints the spark over as it does the speck.
            assert np.array_equal(out[2][spark], frames[2][spark]) == (limit < 255.0)
