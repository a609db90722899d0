"""`globalvoice dub`'s checks before any work: the options, the limits and the probe.

Light imports only (no engine, no numpy): an input that is refused costs a fraction of a second
and little memory, however long it is, since nothing is decoded.
"""

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from globalvoice.config.settings import Settings
from globalvoice.domain.media import MediaInfo
from globalvoice.dubbing.request import (
    check_limits,
    check_target_count,
    output_stem,
    validated_options,
)
from globalvoice.media.probe import probe_media

__all__ = ["CheckedDub", "DubFlags", "default_out_dir", "preflight", "removing_empty_out_dir"]

# DubOptions field -> the flag that sets it, as errors name it
_FLAGS = {
    "max_tempo": "--max-tempo",
    "loudness_lufs": "--loudness",
    "speakers": "--speakers",
    "separation": "--separation",
    "lipsync": "--lipsync",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class DubFlags:
    """What the user typed (targets and source already parsed as language codes)."""

    input_path: Path
    targets: tuple[str, ...]
    source: str | None = None
    out_dir: Path | None = None
    max_tempo: float | None = None
    loudness: float | None = None
    speakers: int | None = None
    separation: str | None = None
    lipsync: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckedDub:
    """A dub that passed every check: absolute paths, settings with the validated options."""

    input_path: Path
    targets: tuple[str, ...]
    source: str | None
    out_dir: Path
    settings: Settings
    info: MediaInfo


def default_out_dir(input_path: Path) -> Path:
    """`<folder of the input>/<output stem>.dub`."""
    return input_path.absolute().parent / f"{output_stem(input_path.name)}.dub"


def preflight(flags: DubFlags) -> CheckedDub:
    """Validate the options, then probe the input and hold it to the limits. Raises a
    UserFacingError (one line) for the first problem; nothing is written."""
    settings = Settings()
    given: dict[str, object] = {"max_tempo": flags.max_tempo, "loudness_lufs": flags.loudness}
    given |= {"speakers": flags.speakers, "separation": flags.separation}
    given |= {"lipsync": flags.lipsync}
    options = validated_options(given, names=_FLAGS)
    check_target_count(flags.targets, settings.limits)
    # absolute: a relative name with a colon ("take:2.mp4") is a file, not an ffmpeg protocol
    input_path = flags.input_path.absolute()
    info = probe_media(input_path, name=flags.input_path.name)
    check_limits(info, settings.limits, name=flags.input_path.name)
    settings.pipeline = options.apply(settings.pipeline)
    out_dir = (flags.out_dir or default_out_dir(input_path)).absolute()
    return CheckedDub(
        input_path=input_path,
        targets=flags.targets,
        source=flags.source,
        out_dir=out_dir,
        settings=settings,
        info=info,
    )


@contextmanager
def removing_empty_out_dir(out_dir: Path) -> Iterator[None]:
    """On failure, remove the folders the dub created for its output (`out_dir` and any
    parent it had to make) that are still empty; folders that existed before stay."""
    created = []
    folder = out_dir.absolute()
    while not folder.exists() and folder != folder.parent:
        created.append(folder)
        folder = folder.parent
    try:
        yield
    except BaseException:
        for folder in created:  # deepest first; rmdir leaves a folder with anything in it
            with suppress(OSError):
                folder.rmdir()
        raise
