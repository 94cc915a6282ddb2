from __future__ import annotations

import json
from typing import Any

import pytest

from vidpulse.processing import AnalysisError, AnalysisOptions, OptionsError


def test_defaults() -> None:
    options = AnalysisOptions()
    assert options.render is False and options.width == 320
    assert options.max_frames is None and options.start_s == 0.0 and options.end_s is None


def test_from_mapping_round_trip() -> None:
    data = {"render": True, "width": 640, "cut_threshold": 30, "end_s": 2.5, "max_frames": 100}
    options = AnalysisOptions.from_mapping(data)
    assert options.width == 640 and options.cut_threshold == 30 and options.render is True
    again = AnalysisOptions.from_mapping(json.loads(json.dumps(options.to_dict())))
    assert again == options


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"colour": True}, "colour"),
        ({"width": True}, "width"),
        ({"width": 320.0}, "width"),
        ({"width": "320"}, "width"),
        ({"width": 63}, "width"),
        ({"width": 1921}, "width"),
        ({"render": 1}, "render"),
        ({"render": None}, "render"),
        ({"cut_threshold": "high"}, "cut_threshold"),
        ({"cut_threshold": False}, "cut_threshold"),
        ({"cut_threshold": float("nan")}, "cut_threshold"),
        ({"black_threshold": 1.5}, "black_threshold"),
        ({"freeze_min_s": -1}, "freeze_min_s"),
        ({"max_frames": 0}, "max_frames"),
        ({"max_frames": 2.5}, "max_frames"),
        ({"start_s": 3.0, "end_s": 2.0}, "end_s"),
    ],
)
def test_invalid_options_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(OptionsError) as caught:
        AnalysisOptions.from_mapping(data)
    err = caught.value
    assert isinstance(err, AnalysisError)
    assert err.field == field and err.code == "invalid_options"
    assert field in str(err) and str(err) == err.message and str(err).endswith(".")
    assert "\n" not in str(err)


def test_not_a_mapping() -> None:
    with pytest.raises(OptionsError):
        AnalysisOptions.from_mapping([1, 2])  # type: ignore[arg-type]


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(OptionsError):
        AnalysisOptions(width=10)


def test_to_dict_is_json() -> None:
    assert json.loads(json.dumps(AnalysisOptions().to_dict()))["width"] == 320
