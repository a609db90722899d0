"""One validated dub request for the CLI and the API: the options, the limits, the file names.

Both build `DubOptions` from what the user gave (flags or the JSON body), so a bad option is the
same one-line error in both, before any work; `check_limits` refuses an input from its probe,
before any audio is decoded. File names a user chose never become paths or storage keys:
outputs are named from `output_stem`, scratch copies from `scratch_name`.
"""

import dataclasses
import re
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath, PureWindowsPath
from typing import ClassVar, Literal, cast

import annotated_types
from pydantic import (
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic_core import PydanticCustomError

from globalvoice.config.settings import LimitSettings, PipelineSettings
from globalvoice.domain.errors import UserFacingError
from globalvoice.domain.media import MediaInfo

__all__ = [
    "DubOptions",
    "InputTooLarge",
    "InputTooLong",
    "InvalidOption",
    "TooManyTargets",
    "check_limits",
    "check_target_count",
    "output_stem",
    "scratch_name",
    "validated_options",
]

_STEM_MAX_BYTES = 100
_FALLBACK_STEM = "input"
# Control characters, and the lone surrogates a file name undecodable as UTF-8 arrives with.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cs"})
_SAFE_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")
_SHOWN_INPUT_CHARS = 40


class InvalidOption(UserFacingError):
    code: ClassVar[str] = "input.invalid"


class InputTooLong(UserFacingError):
    code: ClassVar[str] = "input.too_long"


class InputTooLarge(UserFacingError):
    code: ClassVar[str] = "input.too_large"


class TooManyTargets(UserFacingError):
    code: ClassVar[str] = "input.too_many_targets"


def output_stem(filename: str) -> str:
    """The stem output files are named from: the base name of `filename` without its extension,
    with no leading dot, no path separator or control character, at most 100 UTF-8 bytes (cut on
    a character boundary). Unicode is kept; "input" when nothing is left."""
    # The last component under either separator: "a\\b.mp4" from a Windows client is "b".
    base = PureWindowsPath(PurePosixPath(filename).name).name
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    kept = "".join(
        char
        for char in unicodedata.normalize("NFC", stem)
        if unicodedata.category(char) not in _DROPPED_CATEGORIES
    )
    kept = kept.strip().lstrip(".").strip()
    encoded = kept.encode("utf-8")[:_STEM_MAX_BYTES]
    kept = encoded.decode("utf-8", errors="ignore").rstrip()
    return kept or _FALLBACK_STEM


def scratch_name(filename: str) -> str:
    """A local name for a copy of the user's file: "source" plus its extension when that is a
    plain one (some demuxers are chosen by it), e.g. "source.mp4"; nothing else of the name."""
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix
    return "source" + (suffix.lower() if _SAFE_SUFFIX.fullmatch(suffix) else "")


def _pipeline_range(name: str) -> tuple[float, float]:
    """The bounds PipelineSettings gives a field: the options take theirs from there."""
    metadata = PipelineSettings.model_fields[name].metadata
    low = next(m.ge for m in metadata if isinstance(m, annotated_types.Ge))
    high = next(m.le for m in metadata if isinstance(m, annotated_types.Le))
    return cast(float, low), cast(float, high)


_RANGES = {name: _pipeline_range(name) for name in ("max_tempo", "loudness_lufs", "speakers")}


def _shown(value: object) -> str:
    if isinstance(value, int | float):
        return str(value)
    return repr(value if not isinstance(value, str) else value[:_SHOWN_INPUT_CHARS])


@pydantic_dataclass(
    frozen=True, kw_only=True, config=ConfigDict(extra="forbid", allow_inf_nan=False)
)
class DubOptions:
    """What a user may change for one dub (None: the configured default). A pydantic dataclass:
    the API validates it as part of its body, and Temporal's default JSON converter carries it
    in a DubJob as it is."""

    max_tempo: float | None = Field(
        default=None,
        ge=_RANGES["max_tempo"][0],
        le=_RANGES["max_tempo"][1],
        description="cap on how much a dubbed line may speed up; null: the default (1.3)",
    )
    loudness_lufs: float | None = Field(
        default=None,
        ge=_RANGES["loudness_lufs"][0],
        le=_RANGES["loudness_lufs"][1],
        description="target loudness of the dubbed mix, LUFS; null: the default (-23)",
    )
    speakers: int | None = Field(
        default=None,
        ge=int(_RANGES["speakers"][0]),
        le=int(_RANGES["speakers"][1]),
        description="how many people speak; null: estimate it",
    )
    separation: Literal["auto", "on", "off"] | None = Field(
        default=None,
        description="split the source into dialogue and background and dub over the "
        "background (on), or duck the whole source under the dub (off); null: the default "
        "(auto: separate when the engine can run)",
    )
    lipsync: Literal["auto", "on", "off"] | None = Field(
        default=None,
        description="redraw the speaking faces' mouths to the dubbed words: on: the best face "
        "in view even when it is not seen speaking (an engine that cannot load is an error); "
        "off: the source's picture, copied; null: the default (auto: the faces seen speaking, "
        "when the engine can run)",
    )

    @field_validator("max_tempo", "loudness_lufs", "speakers", mode="wrap")
    @classmethod
    def _in_range(
        cls, value: object, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> object:
        """Every failure of a ranged number (type, NaN, infinity, range) reads the same way."""
        try:
            return handler(value)
        except ValidationError:
            low, high = _RANGES[str(info.field_name)]
            whole = info.field_name == "speakers"
            raise PydanticCustomError(
                "option_range",
                "must be {kind}between {low} and {high} (got {got})",
                {
                    "kind": "a whole number " if whole else "",
                    "low": str(int(low)) if whole else str(low),
                    "high": str(int(high)) if whole else str(high),
                    "got": _shown(value),
                },
            ) from None

    def overrides(self) -> dict[str, float | int | str]:
        """The options the user set, by PipelineSettings field name."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def apply(self, pipeline: PipelineSettings) -> PipelineSettings:
        """`pipeline` with these options, validated again as a whole."""
        return PipelineSettings.model_validate({**pipeline.model_dump(), **self.overrides()})


_OPTIONS: TypeAdapter[DubOptions] = TypeAdapter(DubOptions)


def validated_options(values: Mapping[str, object], *, names: Mapping[str, str]) -> DubOptions:
    """DubOptions from raw values (None: not given). Raises InvalidOption, one line naming each
    bad option as the user spells it (`names`: field -> e.g. "--max-tempo")."""
    try:
        return _OPTIONS.validate_python({k: v for k, v in values.items() if v is not None})
    except ValidationError as err:
        problems = []
        for error in err.errors():
            field = ".".join(str(part) for part in error["loc"])
            problems.append(f"{names.get(field, field)} {error['msg']}")
        raise InvalidOption("; ".join(problems)) from None


def _duration_text(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def _size_text(size: int) -> str:
    if size >= 1 << 30:
        return f"{size / (1 << 30):.1f} GiB"
    return f"{size / (1 << 20):.1f} MiB"


def check_target_count(targets: Sequence[str], limits: LimitSettings) -> None:
    if len(targets) > limits.max_targets:
        raise TooManyTargets(
            f"{len(targets)} target languages asked for; a dub may have at most "
            f"{limits.max_targets}. Split them over several dubs, or raise the limit with "
            "GV_LIMITS__MAX_TARGETS."
        )


def check_limits(info: MediaInfo, limits: LimitSettings, *, name: str) -> None:
    """Refuse an input over the size or duration limit, from its probe alone (`name`: the
    user's file name); the target count is `check_target_count`'s, before the probe.

    The duration is the longer of the container's and the audio stream's, as their headers
    declare them (a WAV's declared data size counts, whatever the file holds on disk)."""
    if info.size_bytes > limits.max_input_bytes:
        raise InputTooLarge(
            f"{name} is {_size_text(info.size_bytes)}; inputs may be at most "
            f"{_size_text(limits.max_input_bytes)}. Compress or split it, or raise the limit "
            "with GV_LIMITS__MAX_INPUT_BYTES."
        )
    duration_s = max(info.duration_ms, info.audio_duration_ms or 0) / 1000
    if duration_s > limits.max_duration_s:
        raise InputTooLong(
            f"{name} lasts {_duration_text(duration_s)}; inputs may last at most "
            f"{_duration_text(limits.max_duration_s)}. Split it into shorter parts, or raise "
            "the limit with GV_LIMITS__MAX_DURATION_S (seconds)."
        )
