"""Each transition detector alone on the accuracy suite's clips (tests/support/transitions.py): it finds
its own kind of transition, once and with its span, and nothing of the others' kinds."""

from __future__ import annotations

import pytest

from tests.support.detecting import dissolves, fades, hard_cuts, known_clip, score_alone
from tests.support.transitions import SHAPES

DETECTORS = {"hard": hard_cuts, "fade": fades, "dissolve": dissolves}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", list(DETECTORS))
def test_a_detector_finds_only_its_own_transitions(
    kind: str, shape: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    clip = known_clip(tmp_path_factory, shape, 1.0)
    cuts = DETECTORS[kind](clip.path)
    if kind == "hard":
        assert [(c.frame, c.kind) for c in cuts] == [(clip.hard_cut, "hard")]
    elif shape.startswith(kind):
        assert score_alone(clip, cuts).ok, cuts
    else:
        # The dissolve detector: the start of a fade-out looks like a dissolve to a dark
        # picture, held until the blank comes, then dropped.
        assert cuts == []
