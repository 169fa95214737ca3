from fractions import Fraction

import pytest

from vidstyle.config import EncodeConfig, RangeConfig, RemasterConfig
from vidstyle.errors import ConfigError, RangeError
from vidstyle.timecode import TimePoint, format_seconds, parse_timepoint


class TestParseTimepoint:
    @pytest.mark.parametrize(
        "text, seconds",
        [
            ("00:01:02.5", Fraction(125, 2)),
            ("01:00:00", Fraction(3600)),
            ("2:03", Fraction(123)),
            ("12.5", Fraction(25, 2)),
            ("12.5s", Fraction(25, 2)),
            ("90", Fraction(90)),
            ("00:00:01.04", Fraction(26, 25)),
        ],
    )
    def test_times(self, text, seconds):
        point = parse_timepoint(text)
        assert point.seconds == seconds and point.frame is None

    def test_frame_number(self):
        point = parse_timepoint("f1200")
        assert point.frame == 1200 and point.seconds is None
        # Half a frame before the nominal time, so rounded timestamps land on the right side.
        assert point.to_seconds(Fraction(25)) == Fraction(2399, 50)
        assert parse_timepoint("f0").to_seconds(Fraction(25)) == 0

    @pytest.mark.parametrize("text", ["", "abc", "1:2:3:4", "00:61:00", "00:00:75", "-3", "f-2", "12,5", "fx"])
    def test_malformed(self, text):
        with pytest.raises(RangeError, match="malformed|negative"):
            parse_timepoint(text)

    def test_error_is_also_value_error(self):
        with pytest.raises(ValueError):
            parse_timepoint("nope")

    def test_format(self):
        assert format_seconds(3723.5) == "01:02:03.500"
        assert format_seconds(None) == "--:--:--"


class TestConfig:
    def test_defaults(self):
        config = RemasterConfig()
        assert config.scale == 2 and config.model == "auto" and config.range.is_full

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"scale": 3}, "scale must be 1, 2 or 4, got 3"),
            ({"batch_size": 0}, "batch size"),
            ({"device": "tpu"}, "device must be one of"),
            ({"queue_depth": 0}, "queue depth"),
        ],
    )
    def test_invalid(self, kwargs, message):
        with pytest.raises(ConfigError, match=message):
            RemasterConfig(**kwargs)

    def test_range_end_before_start(self):
        with pytest.raises(ConfigError, match="must come after"):
            RangeConfig(start="00:00:10", end="00:00:05")
        with pytest.raises(ConfigError, match="must come after"):
            RangeConfig(start="f10", end="f10")

    def test_range_parses_text(self):
        rng = RangeConfig(start="1.5", end="f100", frames=3)
        assert isinstance(rng.start, TimePoint) and rng.end.frame == 100 and not rng.is_full

    def test_encode_options(self):
        enc = EncodeConfig(codec="libx264", crf=20, preset="slow", options=(("tune", "grain"),))
        assert enc.codec_options() == {"crf": "20", "preset": "slow", "tune": "grain"}
        # ffv1 has neither crf nor preset: they are not passed to it.
        assert EncodeConfig(codec="ffv1").codec_options() == {}
        with pytest.raises(ConfigError, match="crf"):
            EncodeConfig(crf=99)

    def test_report_dict_is_plain(self):
        import json

        data = RemasterConfig(range=RangeConfig(start="f3")).to_dict()
        assert json.loads(json.dumps(data))["range"]["start"] == "f3"
