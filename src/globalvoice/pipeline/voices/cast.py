"""Cast a voice for each speaker: the TTS voice whose sex matches the speaker's voice, or,
with voice matching, the speaker's voice profile (see `pipeline.voices`)."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from globalvoice.domain.audio import Pcm
from globalvoice.domain.script import Line
from globalvoice.domain.voices import DspMatch, VoiceProfile
from globalvoice.engines.tts.protocol import Synthesizer

__all__ = [
    "FEMALE_F0_HZ",
    "SpeakerVoice",
    "VoiceTraits",
    "cast_voices",
    "is_female_voice",
    "voice_traits",
]

FEMALE_F0_HZ = 165.0  # between typical adult male (~85-155 Hz) and female (~165-255 Hz) medians
# Formant dispersion (mean spacing of F1..F4) tracks vocal-tract length. Below this a voice is
# male whatever its pitch: an orator's raised voice (JFK: median F0 237 Hz) has 921 Hz, while
# every female reader in shared/media measured 1105 Hz or more.
MALE_DISPERSION_HZ = 1000.0
_MAX_FORMANT_FRAMES = 300
_MAX_ANALYSED_MS = 60_000


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeakerVoice:
    speaker_id: str
    median_f0_hz: float
    formant_dispersion_hz: float
    is_female: bool
    voice: str  # the shipped voice of the speaker's sex: used when there is no profile
    profile: VoiceProfile | None = None

    @property
    def synthesis_voice(self) -> str:
        """The voice every line of this speaker is synthesized with."""
        return self.profile.voice.spec if self.profile is not None else self.voice

    @property
    def dsp(self) -> DspMatch | None:
        return self.profile.dsp if self.profile is not None else None

    @property
    def fingerprint(self) -> str | None:
        """What the lines depend on beyond the voice name (None: the plain shipped voice)."""
        return self.profile.fingerprint if self.profile is not None else None


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceTraits:
    median_f0_hz: float
    formant_dispersion_hz: float


def is_female_voice(traits: VoiceTraits) -> bool:
    """Pure policy: high pitch, unless the vocal tract is clearly long."""
    return (
        traits.median_f0_hz >= FEMALE_F0_HZ and traits.formant_dispersion_hz >= MALE_DISPERSION_HZ
    )


def voice_traits(audio: Pcm, lines: Sequence[Line]) -> VoiceTraits:
    """Median pitch and formant dispersion over up to a minute of the speaker's lines."""
    import parselmouth

    pieces, total = [], 0
    for line in lines:
        pieces.append(audio.slice_ms(line.start_ms, line.end_ms).samples)
        total += line.duration_ms
        if total >= _MAX_ANALYSED_MS:
            break
    if not pieces:
        return VoiceTraits(median_f0_hz=0.0, formant_dispersion_hz=0.0)
    sound = parselmouth.Sound(np.concatenate(pieces).astype(np.float64), audio.rate_hz)
    pitch = sound.to_pitch(pitch_floor=75.0, pitch_ceiling=400.0)
    f0 = pitch.selected_array["frequency"]
    voiced_times = pitch.xs()[f0 > 0]
    if len(voiced_times) == 0:
        return VoiceTraits(median_f0_hz=0.0, formant_dispersion_hz=0.0)
    step = max(1, len(voiced_times) // _MAX_FORMANT_FRAMES)
    formants = sound.to_formant_burg(max_number_of_formants=5, maximum_formant=5500)
    values = np.array(
        [[formants.get_value_at_time(k, t) for k in (1, 4)] for t in voiced_times[::step]]
    )
    values = values[~np.isnan(values).any(axis=1)]
    dispersion = float(np.median((values[:, 1] - values[:, 0]) / 3)) if len(values) else 0.0
    return VoiceTraits(median_f0_hz=float(np.median(f0[f0 > 0])), formant_dispersion_hz=dispersion)


def cast_voices(audio: Pcm, lines: Sequence[Line], *, tts: Synthesizer) -> dict[str, SpeakerVoice]:
    """One voice per speaker, used for every line of that speaker (the voice never drifts)."""
    by_speaker: dict[str, list[Line]] = {}
    for line in lines:
        by_speaker.setdefault(line.speaker_id, []).append(line)
    cast = {}
    for speaker, own in by_speaker.items():
        traits = voice_traits(audio, own)
        is_female = is_female_voice(traits)
        cast[speaker] = SpeakerVoice(
            speaker_id=speaker,
            median_f0_hz=round(traits.median_f0_hz, 1),
            formant_dispersion_hz=round(traits.formant_dispersion_hz, 1),
            is_female=is_female,
            voice=tts.voice_for(is_female=is_female),
        )
    return cast
