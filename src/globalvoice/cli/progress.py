"""Rich progress bars bound to the pipeline's ProgressSink: one bar per stage and language."""

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from globalvoice.domain.progress import StageProgress

__all__ = ["RichProgress"]

_LABELS = {
    "vad": "Finding speech",
    "diarize": "Finding speakers",
    "voices": "Fitting a voice per speaker",
    "transcribe": "Transcribing (ms of speech)",
    "translate": "Translating lines",
    "synthesize": "Voicing and fitting lines",
    "separate": "Separating voices from the background (s)",
    "lipsync": "Redrawing the speaking faces (blocks)",
    "done": "Done",
}


class RichProgress:
    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[tuple[str, str | None], TaskID] = {}

    def __enter__(self) -> "RichProgress":
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def __call__(self, event: StageProgress) -> None:
        if event.stage == "done":
            return
        key = (event.stage, event.language)
        if key not in self._tasks:
            label = _LABELS.get(event.stage, event.stage)
            if event.language:
                label = f"{label} [{event.language}]"
            self._tasks[key] = self._progress.add_task(label, total=max(1, event.total))
        self._progress.update(self._tasks[key], completed=event.done, total=max(1, event.total))
