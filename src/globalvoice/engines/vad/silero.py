"""Silero VAD v6 (ONNX, MIT), the copy that ships inside faster-whisper."""

import numpy as np

from globalvoice.domain.audio import Pcm
from globalvoice.domain.transcript import SpeechSpan
from globalvoice.engines.base import EngineInfo
from globalvoice.media.pcm import levelled, rms

__all__ = ["SileroVad"]

_TARGET_RMS_DBFS = -20.0


class SileroVad:
    def __init__(self, *, min_silence_ms: int = 500, speech_pad_ms: int = 200) -> None:
        self._min_silence_ms = min_silence_ms
        self._speech_pad_ms = speech_pad_ms

    @property
    def info(self) -> EngineInfo:
        return EngineInfo(name="vad.silero", model_id="silero-v6-onnx", licence="MIT")

    def detect(self, audio: Pcm) -> tuple[SpeechSpan, ...]:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        if audio.rate_hz != 16_000:
            raise ValueError("SileroVad needs 16 kHz audio")
        samples = audio.samples
        # Silero misses very quiet speech (-48 dBFS peaks in FLEURS): level the input first.
        level = rms([samples])
        if level > 1e-6:
            samples = levelled(samples, level=level, target_dbfs=_TARGET_RMS_DBFS)
            np.clip(samples, -1.0, 1.0, out=samples)
        options = VadOptions(
            min_silence_duration_ms=self._min_silence_ms, speech_pad_ms=self._speech_pad_ms
        )
        stamps = get_speech_timestamps(samples, options, sampling_rate=16_000)
        return tuple(
            SpeechSpan(start_ms=s["start"] * 1000 // 16_000, end_ms=s["end"] * 1000 // 16_000)
            for s in stamps
        )
