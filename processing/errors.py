"""The errors `analyze` and `probe` raise: each carries a stable `code` and one readable sentence."""

from __future__ import annotations


class AnalysisError(Exception):
    """Base of every error the processing package raises on purpose.

    `code` is stable and machine-readable; `message` is one sentence meant for a person,
    never a traceback or FFmpeg's raw output.
    """

    code: str = "analysis_failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UndecodableVideo(AnalysisError):
    """The input is empty, not a video, truncated before any frame, audio only, or yields no frame."""

    code = "undecodable"


class Cancelled(AnalysisError):
    """`is_cancelled()` returned True; the run removed the files it had written."""

    code = "cancelled"

    def __init__(self, message: str = "The analysis was cancelled.") -> None:
        super().__init__(message)


class OptionsError(AnalysisError):
    """An analysis option is unknown, of the wrong type or out of range; `field` names it."""

    code = "invalid_options"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class RenderFailed(AnalysisError):
    """The annotated video could not be encoded or written."""

    code = "render_failed"


class SourceUnreachable(AnalysisError):
    """A live source never answered within its `reconnect_s`."""

    code = "source_unreachable"


class SourceLost(AnalysisError):
    """A live source stopped answering and did not come back within its `reconnect_s`."""

    code = "source_lost"
