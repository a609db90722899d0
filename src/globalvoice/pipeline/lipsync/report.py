"""What the lipsync stage did, line by line, for the manifest."""

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from globalvoice.engines.base import EngineInfo
from globalvoice.pipeline.lipsync.sync import SyncMeasure

if TYPE_CHECKING:
    from globalvoice.pipeline.lipsync.render import RenderFigures
    from globalvoice.pipeline.lipsync.track import VideoFaces

__all__ = ["LineSync", "LipsyncReport", "SyncFigure"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SyncFigure(_Model):
    """The mouth's correlation with the dubbed speech: at lag 0 +-1 frame, and its best lag
    (frames; positive: the sound comes after the mouth) with the correlation there."""

    at_zero: float
    best_lag: int
    best: float

    @classmethod
    def of(cls, measure: SyncMeasure) -> "SyncFigure":
        return cls(
            at_zero=round(measure.at_zero, 4),
            best_lag=measure.best_lag,
            best=round(measure.best, 4),
        )


class LineSync(_Model):
    line_id: str
    face: str  # "speaking face", or why no face was redrawn
    redrawn: bool = False
    track: int | None = None
    frames: int = 0
    driven_by: Literal["phonemes", "loudness"] | None = None
    source_sync: float | None = None  # the chosen face's sync with the source dialogue
    untouched: SyncFigure | None = None  # the source frames against the dubbed speech
    output: SyncFigure | None = None  # the redrawn frames against the dubbed speech
    output_seen: float | None = None  # share of redrawn frames where the output's face was found

    def skipped(self, why: str) -> "LineSync":
        return self.model_copy(update={"face": why, "redrawn": False})

    def planned(
        self,
        *,
        track: int,
        frames: int,
        driven_by: Literal["phonemes", "loudness"],
        untouched: SyncFigure,
    ) -> "LineSync":
        return self.model_copy(
            update={
                "redrawn": True,
                "track": track,
                "frames": frames,
                "driven_by": driven_by,
                "untouched": untouched,
            }
        )

    def with_output(self, output: SyncFigure, *, seen: float) -> "LineSync":
        return self.model_copy(update={"output": output, "output_seen": round(seen, 3)})


class LipsyncReport(_Model):
    engine: str
    licence: str
    redrawn: bool  # False: no line had a face to redraw; the source picture is used
    frames: int
    fps: float
    width: int
    height: int
    shots: int
    faces: int
    redrawn_frames: int = 0
    blocks: int = 0
    resumed_blocks: int = 0
    lines: list[LineSync]

    @classmethod
    def of(
        cls,
        engine: EngineInfo,
        faces: "VideoFaces",
        lines: list[LineSync],
        *,
        redrawn: bool,
        figures: "RenderFigures | None" = None,
    ) -> "LipsyncReport":
        licence = (
            engine.licence if engine.is_commercial_use_ok else f"{engine.licence} (NON-COMMERCIAL)"
        )
        return cls(
            engine=engine.fingerprint,
            licence=licence,
            redrawn=redrawn,
            frames=faces.frames,
            fps=round(faces.fps, 3),
            width=faces.width,
            height=faces.height,
            shots=len(faces.shot_starts),
            faces=len(faces.tracks),
            redrawn_frames=figures.redrawn if figures else 0,
            blocks=figures.blocks if figures else 0,
            resumed_blocks=figures.resumed_blocks if figures else 0,
            lines=lines,
        )
