"""One list of what the detectors find (processing/analyzers/transitions/cutlist.py)."""

from __future__ import annotations

import pytest

from vidpulse.processing.analyzers.transitions.cutlist import Cut, CutList, squash


def hard(frame: int) -> Cut:
    return Cut(frame, frame / 25, "hard", 50.0, 0.8)


def fade(first: int, frame: int, last: int) -> Cut:
    return Cut(frame, frame / 25, "fade", 100.0, 0.9, (first, last, first / 25, last / 25))


def test_cuts_stay_in_frame_order() -> None:
    found = CutList()
    for frame in (40, 10, 25):
        found.add(hard(frame))
    assert [c.frame for c in found.cuts] == [10, 25, 40]


def test_the_first_report_of_a_transition_stands() -> None:
    found = CutList()
    found.add(hard(20))
    found.add(fade(15, 22, 30))  # within 2 frames: the same transition
    found.add(hard(18))
    assert found.cuts == [hard(20)]
    found.add(hard(23))  # 3 frames on: another
    assert [c.frame for c in found.cuts] == [20, 23]
    found.add(hard(26), gap=3)
    assert [c.frame for c in found.cuts] == [20, 23]


def test_nothing_inside_a_reported_span() -> None:
    found = CutList()
    found.add(fade(10, 20, 40))
    for frame in (12, 30, 40, 42):
        found.add(hard(frame))
    found.add(hard(43))
    assert [c.frame for c in found.cuts] == [20, 43]


def test_extend_span_moves_the_end_of_a_transition_only() -> None:
    found = CutList()
    found.add(hard(5))
    found.add(fade(10, 20, 20))
    found.extend_span(20, 33, 33 / 25)
    found.extend_span(5, 9, 9 / 25)  # a hard cut has no span
    found.extend_span(21, 40, 40 / 25)  # no cut at that frame
    assert found.cuts == [hard(5), fade(10, 20, 33)]


@pytest.mark.parametrize(("x", "expected"), [(0.5, 0.0), (1.0, 0.0), (2.0, 0.5), (4.0, 0.75)])
def test_squash(x: float, expected: float) -> None:
    assert squash(x) == expected
