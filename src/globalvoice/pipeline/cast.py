"""Cast a voice for each speaker. For now: the TTS voice whose sex matches the speaker's pitch."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from globalvoice.domain.audio import Pcm
from globalvoice.domain.script import Line
from globalvoice.engines.tts.protocol import Synthesizer

__all__ = ["FEMALE_F0_HZ", "SpeakerVoice", "cast_voices", "median_f0_hz"]

FEMALE_F0_HZ = 165.0  # between typical adult male (~85-155 Hz) and female (~165-255 Hz) medians
_MAX_ANALYSED_MS = 60_000


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeakerVoice:
    speaker_id: str
    median_f0_hz: float
    is_female: bool
    voice: str


def median_f0_hz(audio: Pcm, lines: Sequence[Line]) -> float:
    """Median pitch over up to a minute of the speaker's lines; 0.0 if nothing is voiced."""
    import parselmouth

    pieces, total = [], 0
    for line in lines:
        piece = audio.slice_ms(line.start_ms, line.end_ms).samples
        pieces.append(piece)
        total += line.duration_ms
        if total >= _MAX_ANALYSED_MS:
            break
    if not pieces:
        return 0.0
    sound = parselmouth.Sound(np.concatenate(pieces).astype(np.float64), audio.rate_hz)
    f0 = sound.to_pitch(pitch_floor=60.0, pitch_ceiling=400.0).selected_array["frequency"]
    voiced = f0[f0 > 0]
    return float(np.median(voiced)) if len(voiced) else 0.0


def cast_voices(audio: Pcm, lines: Sequence[Line], *, tts: Synthesizer) -> dict[str, SpeakerVoice]:
    """One voice per speaker, used for every line of that speaker (the voice never drifts)."""
    by_speaker: dict[str, list[Line]] = {}
    for line in lines:
        by_speaker.setdefault(line.speaker_id, []).append(line)
    cast = {}
    for speaker, own in by_speaker.items():
        f0 = median_f0_hz(audio, own)
        is_female = f0 >= FEMALE_F0_HZ
        cast[speaker] = SpeakerVoice(
            speaker_id=speaker, median_f0_hz=round(f0, 1), is_female=is_female,
            voice=tts.voice_for(is_female=is_female),
        )  # fmt: skip
    return cast
