"""Silero VAD v6 (ONNX, MIT), the copy that ships inside faster-whisper.

The model reads the audio a block of windows at a time (1000 windows, 32 s), its recurrent state
and each window's 64-sample context carried from block to block, so memory stays flat with the
input's length: faster-whisper's `get_speech_timestamps` pads, copies and reshapes the whole input
and runs 10000 windows at once (on 30 min: +473 MB; blocks of 10000 windows: +181 MB; of 1000:
nothing over what the process held, same speed). The probabilities are the ones faster-whisper
computes (its batches carry the state the same way) and `speech_spans` turns them into spans by
its rules for the options used here (no maximum span length); tests/test_vad.py checks the spans
against faster-whisper's on real media, with blocks of several sizes.
"""

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from globalvoice.domain.audio import Pcm
from globalvoice.domain.transcript import SpeechSpan
from globalvoice.engines.base import EngineInfo
from globalvoice.media.pcm import levelled, rms

__all__ = ["SileroVad", "speech_spans"]

_TARGET_RMS_DBFS = -20.0
_RATE_HZ = 16_000
_WINDOW = 512  # samples per probability
_CONTEXT = 64  # samples of the previous window each window sees
_THRESHOLD = 0.5
_NEG_THRESHOLD = 0.35  # faster-whisper's default: threshold - 0.15

F32 = npt.NDArray[np.float32]


class SileroVad:
    def __init__(
        self, *, min_silence_ms: int = 500, speech_pad_ms: int = 200, block_windows: int = 1000
    ) -> None:
        self._min_silence_ms = min_silence_ms
        self._speech_pad_ms = speech_pad_ms
        self._block_windows = block_windows

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(name="vad.silero", model_id="silero-v6-onnx", licence="MIT")

    def detect(self, audio: Pcm) -> tuple[SpeechSpan, ...]:
        if audio.rate_hz != _RATE_HZ:
            raise ValueError("SileroVad needs 16 kHz audio")
        probabilities = np.concatenate(
            [np.zeros(0, dtype=np.float32), *self._probabilities(audio.samples)]
        )
        stamps = speech_spans(
            probabilities,
            length=len(audio.samples),
            min_silence=_RATE_HZ * self._min_silence_ms // 1000,
            pad=_RATE_HZ * self._speech_pad_ms // 1000,
        )
        return tuple(
            SpeechSpan(start_ms=start * 1000 // _RATE_HZ, end_ms=end * 1000 // _RATE_HZ)
            for start, end in stamps
        )

    def _probabilities(self, samples: F32) -> Iterator[F32]:
        """Speech probability per 512-sample window, a block of windows at a time."""
        from faster_whisper.vad import get_vad_model

        session = get_vad_model().session
        # Silero misses very quiet speech (-48 dBFS peaks in FLEURS): level the input first.
        level = rms([samples])
        h = np.zeros((1, 1, 128), dtype=np.float32)
        c = np.zeros((1, 1, 128), dtype=np.float32)
        context = np.zeros(_CONTEXT, dtype=np.float32)
        # faster-whisper pads the input with up to a whole window of zeros (a whole one when
        # none is needed): the same windows here, so that the probabilities are the same
        total = len(samples) // _WINDOW + 1
        for first in range(0, total, self._block_windows):
            count = min(self._block_windows, total - first)
            block = samples[first * _WINDOW : (first + count) * _WINDOW]
            if level > 1e-6:
                block = levelled(block, level=level, target_dbfs=_TARGET_RMS_DBFS)
                np.clip(block, -1.0, 1.0, out=block)
            windows = np.zeros((count, _WINDOW), dtype=np.float32)
            windows.reshape(-1)[: len(block)] = block
            contexts = np.concatenate([context[None, :], windows[:-1, -_CONTEXT:]])
            context = windows[-1, -_CONTEXT:].copy()
            batch = np.concatenate([contexts, windows], axis=1)
            output, h, c = session.run(None, {"input": batch, "h": h, "c": c})
            yield np.asarray(output, dtype=np.float32).reshape(-1)


def speech_spans(
    probabilities: F32, *, length: int, min_silence: int, pad: int
) -> list[tuple[int, int]]:
    """Speech spans in samples from per-window probabilities, by faster-whisper's rules with no
    minimum speech length and no maximum span: speech starts at a window over the threshold and
    ends at the first window under the lower threshold that silence lasts `min_silence` past;
    spans are widened by `pad` on each side, or meet halfway where the gap is under 2 x pad."""
    spans: list[list[int]] = []
    start: int | None = None
    silence_from = 0
    for i, p in enumerate(probabilities.tolist()):
        at = _WINDOW * i
        if p >= _THRESHOLD:
            silence_from = 0
            if start is None:
                start = at
                continue
        if start is not None and p < _NEG_THRESHOLD:
            silence_from = silence_from or at
            if at - silence_from >= min_silence:
                if silence_from > start:
                    spans.append([start, silence_from])
                start, silence_from = None, 0
    if start is not None and length > start:
        spans.append([start, length])
    for i, span in enumerate(spans):
        if i == 0:
            span[0] = max(0, span[0] - pad)
        if i + 1 < len(spans):
            gap = spans[i + 1][0] - span[1]
            half = gap // 2 if gap < 2 * pad else pad
            span[1] = min(length, span[1] + half)
            spans[i + 1][0] = max(0, spans[i + 1][0] - half)
        else:
            span[1] = min(length, span[1] + pad)
    return [(a, b) for a, b in spans]
