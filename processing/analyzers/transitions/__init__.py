"""The transition detectors behind `analyzers/cuts.py`: one per kind of transition, apart from
what feeds them and what merges their findings, so that each kind can be read and tested alone.

`history.FrameHistory` measures each frame once for all of them (its difference to the one
before, its level, whether it is blank, a small picture of it); `hard.HardCutDetector`,
`fades.FadeDetector` and `dissolves.DissolveDetector` each read it and add what they find to
one `cutlist.CutList`, where the first report of a transition stands. `CutAnalyzer` (cuts.py)
feeds the history and calls the detectors in a fixed order: that order decides which report
comes first when two detectors see one transition.

Positions count the analysed frames from 0; `FrameHistory.frame_of` turns one into the video's
frame index, which is what a `Cut` carries.
"""
