"""Re-identification: the same people in a second, different video get their library voices back.

For each reader combination (A, B, C) of shared/media/speech/librispeech: "video 1" is A and B
in alternating turns (their utterances 0-4), diarized, and each speaker found is embedded from
their own turns and stored in the library (profile JSON, reference FLAC of their longest turn).
"video 2" is A, B and a new reader C in rotation, from DIFFERENT utterances (5-9 of A and B; C's
0-4). Each speaker diarized in video 2 is looked up with `match` at the configured threshold:
A and B must find their own voice, C must match no one and becomes a new voice. Every combination
is one tenant of the same library, so matching also never crosses tenants. Run on the embedded
library and on pgvector; pytest -s prints top-1 accuracy, match rate and the cosines.
"""

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from globalvoice.config.settings import Settings
from globalvoice.domain.audio import Pcm
from globalvoice.domain.speakers import Diarization
from globalvoice.engines import registry
from globalvoice.engines.speaker.protocol import SpeakerEmbedder
from globalvoice.media.pcm import decode_audio
from globalvoice.pipeline.analyse.diarize import diarize
from globalvoice.storage.blobs import LocalBlobStore
from globalvoice.storage.voices import LocalVoiceLibrary, VoiceLibrary
from tests.voiceprints import librispeech, speaker_vector

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("voice_matching_on")]
report = print
RATE = 16_000
GAP_S = 0.4
READERS = ("1688", "1998", "2033", "2414", "3331")
# Every reader is A, B and C once; (2033, 2414) is the most alike pair (both male).
COMBOS = tuple(tuple(READERS[(i + j) % 5] for j in range(3)) for i in range(5))


@dataclass(frozen=True)
class Speaker:
    reader: str  # the true reader (by overlap with the known turns)
    vector: npt.NDArray[np.float32]
    reference: bytes  # FLAC of the longest turn
    turns: int


def build_video(
    media: Path, plan: Sequence[tuple[str, int]]
) -> tuple[Pcm, list[tuple[int, int, str]]]:
    """The utterances of `plan` (reader, index) 0.4 s apart, and each one's (start, end, reader)."""
    parts, truth, offset = [], [], 0
    for reader, index in plan:
        samples = decode_audio(librispeech(media, reader)[index], rate_hz=RATE).samples
        truth.append((offset * 1000 // RATE, (offset + len(samples)) * 1000 // RATE, reader))
        parts += [samples, np.zeros(round(GAP_S * RATE), dtype=np.float32)]
        offset += len(samples) + round(GAP_S * RATE)
    return Pcm(samples=np.concatenate(parts), rate_hz=RATE), truth


def speakers_of(
    audio: Pcm,
    diarization: Diarization,
    truth: list[tuple[int, int, str]],
    embedder: SpeakerEmbedder,
) -> list[Speaker]:
    """Each diarized speaker: their reader, the vector of their turns, a reference FLAC."""
    out = []
    for speaker_id in diarization.speaker_ids:
        turns = [(t.start_ms, t.end_ms) for t in diarization.turns_of(speaker_id)]
        overlap: dict[str, int] = {}
        for start, end in turns:
            for t_start, t_end, reader in truth:
                overlap[reader] = overlap.get(reader, 0) + max(
                    0, min(end, t_end) - max(start, t_start)
                )
        longest = max(turns, key=lambda t: t[1] - t[0])
        flac = io.BytesIO()
        sf.write(flac, audio.slice_ms(*longest).samples, RATE, format="FLAC")
        out.append(
            Speaker(
                reader=max(overlap, key=lambda r: overlap[r]),
                vector=speaker_vector(embedder, audio, turns),
                reference=flac.getvalue(),
                turns=len(turns),
            )
        )
    return out


@pytest.fixture(scope="module")
def videos(media: Path) -> dict[tuple[str, ...], tuple[list[Speaker], list[Speaker]]]:
    """Per combination: the speakers diarized in video 1 and in video 2."""
    settings = Settings()
    embedder, vad = registry.build_speaker(settings), registry.build_vad(settings)
    out = {}
    for a, b, c in COMBOS:
        first = [(r, i) for i in range(5) for r in (a, b)]
        second = [x for i in range(5) for x in ((a, 5 + i), (b, 5 + i), (c, i))]
        found = []
        for plan in (first, second):
            audio, truth = build_video(media, plan)
            result = diarize(audio, vad.detect(audio), embedder=embedder)
            found.append(speakers_of(audio, result, truth, embedder))
        out[(a, b, c)] = (found[0], found[1])
    return out


@pytest.fixture(params=["local", "pgvector"])
def library(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VoiceLibrary]:
    store = LocalBlobStore(tmp_path / "objects")
    if request.param == "local":
        lib: VoiceLibrary = LocalVoiceLibrary(tmp_path / "voices.db", store)
    else:
        from globalvoice.storage.voices.pgvector import PgVectorVoiceLibrary

        lib = PgVectorVoiceLibrary(request.getfixturevalue("pgvector_url"), store)
    yield lib
    lib.close()


def remember(library: VoiceLibrary, tenant: str, speaker: Speaker, video: str) -> str:
    record = library.add(
        tenant,
        f"reader {speaker.reader}",
        speaker.vector,
        {"first_seen": video, "turns": speaker.turns},
        speaker.reference,
        weight=speaker.turns,
    )
    return record.id


def test_second_video_reuses_voices_and_adds_the_new_speaker(
    library: VoiceLibrary,
    videos: dict[tuple[str, ...], tuple[list[Speaker], list[Speaker]]],
) -> None:
    threshold = Settings().speaker.match_threshold
    known = top1 = matched = new = rejected = 0
    for (a, b, c), (first, second) in videos.items():
        tenant = f"ten_{a}_{b}_{c}"
        assert sorted(s.reader for s in first) == sorted((a, b)), "video 1 diarization"
        assert sorted(s.reader for s in second) == sorted((a, b, c)), "video 2 diarization"
        voices: dict[str, str] = {}
        for speaker in first:  # an empty library, then A: B must not match A
            assert library.match(tenant, speaker.vector, threshold) is None
            voices[speaker.reader] = remember(library, tenant, speaker, "video-1")
            library.record_use(tenant, voices[speaker.reader], "video-1")
        cells = []
        for speaker in second:
            best = library.match(tenant, speaker.vector, -1.0)  # the top-1, whatever its cosine
            found = library.match(tenant, speaker.vector, threshold)
            assert best is not None
            if speaker.reader in voices:
                known += 1
                top1 += best.record.id == voices[speaker.reader]
                matched += found is not None and found.record.id == voices[speaker.reader]
                voice_id = best.record.id
            else:
                new += 1
                rejected += found is None
                voice_id = found.record.id if found else remember(library, tenant, speaker, "2")
            library.record_use(tenant, voice_id, "video-2")
            cells.append(f"{speaker.reader}->{best.record.name[-4:]} {best.cosine:.3f}")
        report(f"A={a} B={b} C={c}: " + ", ".join(cells))
        page, _ = library.list(tenant)
        assert sorted(r.n_videos for r in page) == [1, 2, 2]
    report(
        f"re-identification over {len(videos)} combinations at threshold {threshold:.2f}: "
        f"top-1 {top1}/{known}, matched {matched}/{known}, new speaker unmatched {rejected}/{new}"
    )
    assert top1 == known and matched == known
    assert rejected == new
