"""Recall speakers' voices from the voice library, so a person keeps one voice across videos.

For each speaker of a source: a speaker the user assigned a library voice to speaks with that
voice's stored profile; otherwise the speaker's embedding (from the same reference spans a
profile is fitted on) is matched against the tenant's library at the calibrated threshold, and
a match reuses the stored profile (the same voice blend and DSP as before, so no voice search
is spent on them); otherwise the speaker gets a fitted profile and becomes a new library voice
(the profile, and their reference speech as FLAC). Speakers are matched against the library as
it was before this source, so two speakers of one video never match each other. Every voice
used is recorded against `source` (a dub id or a video digest).

Three steps around the profile search: `hear_speakers` -> `recall_voices` -> (build profiles
for `Recall.to_build`) -> `remember_voices`.
"""

import dataclasses
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import soundfile as sf

from globalvoice.domain.audio import Pcm
from globalvoice.domain.errors import NotFound, UserFacingError
from globalvoice.domain.script import Line
from globalvoice.domain.speakers import Diarization
from globalvoice.domain.voices import VoiceProfile
from globalvoice.engines.speaker.protocol import SpeakerEmbedder
from globalvoice.pipeline.voices.profiles import speaker_embedding
from globalvoice.pipeline.voices.references import ReferencePolicy, reference_spans
from globalvoice.storage.voices.protocol import VoiceLibrary

__all__ = [
    "Heard",
    "LibraryBinding",
    "LibraryVoice",
    "Recall",
    "RecallScope",
    "VoiceChoice",
    "hear_speakers",
    "recall_profiles",
    "recall_voices",
    "reference_flac",
    "remember_voices",
]

VoiceChoice = Literal["assigned", "matched", "new"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LibraryVoice:
    """The library voice a speaker spoke with, and how it was chosen (`cosine`: when matched)."""

    voice_id: str
    name: str
    choice: VoiceChoice
    cosine: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LibraryBinding:
    """Which library a dub uses and as whom. `source` None: the input's digest.
    `assignments`: speaker id -> voice id chosen by the user."""

    library: VoiceLibrary
    tenant_id: str
    threshold: float
    video_name: str
    source: str | None = None
    assignments: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Heard:
    """A speaker's reference spans (ms) and their embedding (unit vector) over those spans."""

    spans_ms: tuple[tuple[int, int], ...]
    embedding: tuple[float, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Recall:
    """Profiles taken from the library (assigned or matched), each speaker's library voice so
    far, and the speakers who need a profile fitted (new ones; matched ones whose stored profile
    this engine cannot speak)."""

    profiles: dict[str, VoiceProfile]
    voices: dict[str, LibraryVoice]
    to_build: tuple[str, ...]


def hear_speakers(
    audio: Pcm,
    lines: Sequence[Line],
    diarization: Diarization | None,
    *,
    embedder: SpeakerEmbedder,
    policy: ReferencePolicy | None = None,
) -> dict[str, Heard]:
    """Each speaker with lines and clean reference speech: the spans and embedding that
    `pipeline.voices.build_profiles` would fit their profile on."""
    heard, references = {}, policy or ReferencePolicy()
    for speaker in dict.fromkeys(line.speaker_id for line in lines):
        spans = reference_spans(
            audio, speaker, lines=lines, diarization=diarization, policy=references
        )
        if spans:
            vector = speaker_embedding(audio, spans, embedder)
            heard[speaker] = Heard(
                spans_ms=spans, embedding=tuple(round(float(x), 6) for x in vector)
            )
    return heard


def reference_flac(audio: Pcm, spans_ms: Sequence[tuple[int, int]]) -> bytes:
    """The spans of `audio` back to back, as 16-bit FLAC."""
    parts = [audio.slice_ms(start, end).samples for start, end in spans_ms]
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    out = io.BytesIO()
    sf.write(out, np.clip(samples, -1.0, 1.0), audio.rate_hz, format="FLAC", subtype="PCM_16")
    return out.getvalue()


def _speaker_name(speaker_id: str, video_name: str) -> str:
    number = speaker_id[1:] if speaker_id[:1] == "S" and speaker_id[1:].isdigit() else speaker_id
    return f"Speaker {number} ({video_name})"[:200]


def _stored(binding: LibraryBinding, voice_id: str, tts: str) -> VoiceProfile | None:
    """The voice's stored profile, if it is one this TTS engine can speak."""
    data = binding.library.profile(binding.tenant_id, voice_id)
    try:
        stored = VoiceProfile.from_dict(data) if data is not None else None
    except (KeyError, TypeError, ValueError):
        return None
    return stored if stored is not None and stored.tts == tts else None


def _reused(stored: VoiceProfile, speaker_id: str, own: Heard | None) -> VoiceProfile:
    """The stored voice (blend, DSP) for this speaker, on this source's spans when known."""
    if own is None:
        return dataclasses.replace(stored, speaker_id=speaker_id)
    return dataclasses.replace(
        stored, speaker_id=speaker_id, reference_spans_ms=own.spans_ms, embedding=own.embedding
    )


def recall_voices(
    heard: Mapping[str, Heard],
    *,
    speakers: Sequence[str],
    binding: LibraryBinding,
    tts: str,
) -> Recall:
    """Assigned and matched voices of `speakers` (all of the source's; `heard`: those with
    reference speech, the only ones matched or added); `tts` is the synthesizer's fingerprint.

    Raises UserFacingError for an assignment to a speaker the source does not have, or of a
    voice the tenant does not have or this engine cannot speak.
    """
    library, tenant = binding.library, binding.tenant_id
    unknown = sorted(set(binding.assignments) - set(speakers))
    if unknown:
        raise UserFacingError(
            f"No speaker {', '.join(unknown)} in {binding.video_name} "
            f"(speakers: {', '.join(speakers) or 'none'})."
        )
    profiles: dict[str, VoiceProfile] = {}
    chosen: dict[str, LibraryVoice] = {}
    for speaker, voice_id in binding.assignments.items():
        record = library.get(tenant, voice_id)
        if record is None:
            raise NotFound(f"No voice {voice_id} in the voice library.")
        stored = _stored(binding, voice_id, tts)
        if stored is None:
            raise UserFacingError(
                f"Voice {voice_id} ({record.name}) was made with another voice engine and "
                "cannot be assigned; let the dub fit a new voice instead."
            )
        profiles[speaker] = _reused(stored, speaker, heard.get(speaker))
        chosen[speaker] = LibraryVoice(voice_id=voice_id, name=record.name, choice="assigned")
    to_build = []
    for speaker in (s for s in speakers if s in heard and s not in chosen):
        vector = np.asarray(heard[speaker].embedding, dtype=np.float32)
        found = library.match(tenant, vector, binding.threshold)
        reuse = _stored(binding, found.record.id, tts) if found is not None else None
        if found is not None:
            chosen[speaker] = LibraryVoice(
                voice_id=found.record.id,
                name=found.record.name,
                choice="matched",
                cosine=round(found.cosine, 4),
            )
        if reuse is not None:
            profiles[speaker] = _reused(reuse, speaker, heard[speaker])
        else:
            to_build.append(speaker)
    return Recall(profiles=profiles, voices=chosen, to_build=tuple(to_build))


def remember_voices(
    recall: Recall,
    built: Mapping[str, VoiceProfile],
    audio: Pcm,
    *,
    speakers: Sequence[str],
    binding: LibraryBinding,
    source: str,
) -> tuple[dict[str, VoiceProfile], dict[str, LibraryVoice]]:
    """Add the speakers of `recall.to_build` that matched no voice, with the profiles `built`
    for them (fitted on `audio`, 16 kHz), as new voices; record every voice's use in `source`.
    Returns each speaker's profile and library voice, in `speakers` order."""
    library, tenant = binding.library, binding.tenant_id
    profiles = {**recall.profiles, **built}
    chosen = dict(recall.voices)
    for speaker in recall.to_build:  # matched first: new voices never match each other
        own = built.get(speaker)
        if speaker in chosen or own is None:
            continue
        record = library.add(
            tenant,
            _speaker_name(speaker, binding.video_name),
            own.embedding,
            own.to_dict(),
            reference_flac(audio, own.reference_spans_ms),
            weight=max(own.reference_ms / 1000, 0.001),
        )
        chosen[speaker] = LibraryVoice(voice_id=record.id, name=record.name, choice="new")
    for speaker in speakers:
        if speaker in chosen:
            library.record_use(tenant, chosen[speaker].voice_id, source)
    in_order = {s: profiles[s] for s in speakers if s in profiles}
    return in_order, {s: chosen[s] for s in speakers if s in chosen}


@dataclass(frozen=True, slots=True, kw_only=True)
class RecallScope:
    """A recall's terms: the tenant's library (`binding`), the dub's speakers in order, the
    source their uses are recorded under, and the TTS (fingerprint) the profiles are for."""

    binding: LibraryBinding
    speakers: Sequence[str]
    source: str
    tts: str


def recall_profiles(
    audio: Pcm,
    lines: Sequence[Line],
    diarization: Diarization,
    *,
    scope: RecallScope,
    embedder: SpeakerEmbedder,
    build: Callable[[Sequence[Line]], Mapping[str, VoiceProfile]],
) -> tuple[dict[str, VoiceProfile], dict[str, LibraryVoice]]:
    """The three steps: `build` fits profiles for the speakers of the lines it is given (the
    lines of those the library does not know; other speakers' turns come from `diarization`,
    so their reference spans are the ones heard here)."""
    speakers, binding = scope.speakers, scope.binding
    heard = hear_speakers(audio, lines, diarization, embedder=embedder)
    recall = recall_voices(heard, speakers=speakers, binding=binding, tts=scope.tts)
    wanted = set(recall.to_build)
    built = build([line for line in lines if line.speaker_id in wanted]) if wanted else {}
    return remember_voices(
        recall, built, audio, speakers=speakers, binding=binding, source=scope.source
    )
