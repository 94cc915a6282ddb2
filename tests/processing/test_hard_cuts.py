"""The hard-cut detector alone (processing/analyzers/transitions/hard.py)."""

from __future__ import annotations

import pytest

from tests.processing.conftest import make_clip
from tests.support.detecting import hard_cuts
from tests.support.videogen import Segment as S

# Scenes stay at most 32 frames: the generator's drifting texture jumps back after that.
CASES: dict[str, tuple[list[S], list[int]]] = {
    "hard cuts": ([S("scene", 30, 1), S("scene", 20, 2), S("frozen", 10), S("scene", 30, 3)], [30, 60]),
    "large fast object": ([S("bigbox", 8), S("still", 10, 4)], [8]),
    "moving box": ([S("box", 40)], []),
    "fast pan": ([S("pan", 40, 3)], []),
    "blurred drift": ([S("blur", 30, 1)], []),
    # Another picture for up to FLASH_FRAMES frames, then the old one back: a flash, no cut.
    "two-frame flash of a picture": ([S("still", 20, 1), S("still", 2, 5), S("still", 20, 1)], []),
    "three-frame flash of a picture": ([S("still", 20, 1), S("still", 3, 5), S("still", 20, 1)], []),
    "six frames of another picture": ([S("still", 20, 1), S("still", 6, 5), S("still", 20, 1)], [20, 26]),
    # The edges of blank spans are the fade detector's, hard or not.
    "hard cuts to and from black": ([S("scene", 25, 1), S("black", 12), S("scene", 25, 2)], []),
    "cut to white": ([S("box", 20), S("flash", 2), S("frozen", 20)], []),
    "cross-dissolve": ([S("still", 20, 1), S("dissolve", 15, 1), S("still", 20, 2)], []),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hard_cuts_exact(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    segments, expected = CASES[name]
    cuts = hard_cuts(make_clip(tmp_path_factory, "hard-" + name.replace(" ", "-"), segments))
    assert [c.frame for c in cuts] == expected
    assert all(c.kind == "hard" and c.span is None for c in cuts)


def test_confidence_grows_with_the_difference(tmp_path_factory: pytest.TempPathFactory) -> None:
    path = make_clip(tmp_path_factory, "hard-confidence", [S("scene", 25, 1), S("scene", 25, 2)])
    (cut,) = hard_cuts(path)
    assert cut.frame == 25 and cut.score > 20
    assert 0.5 < cut.confidence <= 1
    # Over a threshold just under its difference, the same cut is barely past it.
    (close,) = hard_cuts(path, cut_threshold=cut.score - 0.5)
    assert close.frame == 25 and 0.5 <= close.confidence < cut.confidence
    assert hard_cuts(path, cut_threshold=cut.score + 0.5) == []
