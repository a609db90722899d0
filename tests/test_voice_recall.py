"""Dubs use the voice library: speakers are matched to their voices of earlier videos (the stored
profile is reused), new speakers are added, assigned voices win; in one process (run_local, the
CLI) and through the API's dub creation.

The real-media test dubs video 1 (readers A and B) and then video 2 (A and B again, other
utterances, and a new reader C) into English (the lines keep their original audio, so no
synthesis is spent: the voices are read from the manifest, which is what the renderer uses),
then video 2 again through `globalvoice dub --voice` with S1 given the other reader's voice.
"""

import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from globalvoice.cli.main import app
from globalvoice.config.settings import Settings
from globalvoice.domain.audio import Pcm
from globalvoice.domain.errors import NotFound, UserFacingError
from globalvoice.domain.media import MediaInfo
from globalvoice.domain.voices import VoiceBlend, VoiceProfile
from globalvoice.dubbing.engines import DubEngines
from globalvoice.dubbing.local import LocalDub, run_local
from globalvoice.dubbing.steps import SourceAnalysis, StepRun
from globalvoice.pipeline.voices.cast import SpeakerVoice
from globalvoice.pipeline.voices.recall import (
    Heard,
    LibraryBinding,
    LibraryVoice,
    recall_voices,
    remember_voices,
)
from globalvoice.storage.blobs import LocalBlobStore
from globalvoice.storage.cache import ArtifactCache
from globalvoice.storage.voices import LOCAL_TENANT, LocalVoiceLibrary, build_voice_library
from tests.conftest import ApiHarness, build_api, concat_audio, video_from_audio
from tests.manifests import manifest_data, read_manifest
from tests.voiceprints import librispeech

pytestmark = pytest.mark.usefixtures("voice_matching_on")

A, B, C = "1998", "2414", "1688"  # a woman, a man, another woman
VIDEO_1 = [(A, 1), (B, 1), (A, 3), (B, 4)]  # ~32 s
VIDEO_2 = [(B, 5), (A, 4), (C, 1), (B, 7), (A, 6), (C, 3)]  # ~50 s, other utterances
TTS = "kokoro:test"


def profile(speaker: str, seed: int, voice: str = "jf_alpha", tts: str = TTS) -> VoiceProfile:
    vector = np.random.default_rng(seed).normal(size=256)
    return VoiceProfile(
        speaker_id=speaker,
        reference_spans_ms=((0, 1500), (2000, 3000)),
        embedding=tuple(float(x) for x in vector / np.linalg.norm(vector)),
        voice=VoiceBlend.single(voice),
        dsp=None,
        similarity=0.5,
        embedder="dvec:test",
        tts=tts,
    )


@pytest.fixture()
def library(tmp_path: Path) -> Iterator[LocalVoiceLibrary]:
    lib = LocalVoiceLibrary(tmp_path / "voices.db", LocalBlobStore(tmp_path / "objects"))
    yield lib
    lib.close()


def bind(library: LocalVoiceLibrary, video: str, **assignments: str) -> LibraryBinding:
    return LibraryBinding(
        library=library, tenant_id="t1", threshold=0.75, video_name=video, assignments=assignments
    )


AUDIO = Pcm(samples=np.full(48_000, 0.1, dtype=np.float32), rate_hz=16_000)


def recall(
    fresh: dict[str, VoiceProfile], speakers: list[str], binding: LibraryBinding, tts: str = TTS
) -> tuple[dict[str, VoiceProfile], dict[str, LibraryVoice], tuple[str, ...]]:
    """The three steps, `fresh` standing in for the profile search (and what was heard)."""
    heard = {
        s: Heard(spans_ms=p.reference_spans_ms, embedding=p.embedding) for s, p in fresh.items()
    }
    known = recall_voices(heard, speakers=speakers, binding=binding, tts=tts)
    built = {s: fresh[s] for s in known.to_build}
    used, chosen = remember_voices(
        known, built, AUDIO, speakers=speakers, binding=binding, source=binding.video_name
    )
    return used, chosen, known.to_build


def test_recall_adds_matches_and_assigns(library: LocalVoiceLibrary) -> None:
    first = {"S1": profile("S1", 1), "S2": profile("S2", 1, "jm_kumo")}  # one person, twice
    used, chosen, built = recall(first, ["S1", "S2"], bind(library, "v1.mp4"))
    assert used == first and built == ("S1", "S2")
    assert [c.choice for c in chosen.values()] == ["new", "new"]  # never matched to each other
    assert chosen["S1"].name == "Speaker 1 (v1.mp4)"
    assert chosen["S1"].voice_id != chosen["S2"].voice_id
    stored = library.profile("t1", chosen["S1"].voice_id)
    assert stored is not None and VoiceProfile.from_dict(stored) == first["S1"]
    flac = library.reference_audio("t1", chosen["S1"].voice_id)
    assert flac is not None and sf.info(io.BytesIO(flac)).duration == pytest.approx(2.5)
    # video 2: S1 is the first video's S1 (the same embedding): no search, the stored voice
    second = {"S1": profile("S1", 1, "jf_nezumi"), "S3": profile("S3", 3)}
    used, again, built = recall(second, ["S1", "S2", "S3"], bind(library, "v2.mp4"))
    assert built == ("S3",) and again["S3"].choice == "new" and "S2" not in again
    assert again["S1"].choice == "matched" and again["S1"].cosine == pytest.approx(1.0)
    assert again["S1"].voice_id in {chosen["S1"].voice_id, chosen["S2"].voice_id}
    assert used["S1"].voice.spec in {"jf_alpha", "jm_kumo"}  # stored, on S1's own spans
    assert used["S1"].speaker_id == "S1" and used["S1"].embedding == second["S1"].embedding
    assigned = bind(library, "v2.mp4", S3=chosen["S2"].voice_id)
    used, third, built = recall(second, ["S1", "S3"], assigned)
    assert third["S3"].choice == "assigned" and used["S3"].voice.spec == "jm_kumo"
    assert {u.source for u in library.uses("t1", chosen["S2"].voice_id)} == {"v1.mp4", "v2.mp4"}
    # a stored profile of another TTS engine: matched, but a profile is fitted
    used, other, built = recall(second, ["S1"], bind(library, "v3.mp4"), tts="other")
    assert other["S1"].choice == "matched" and built == ("S1",) and used == {"S1": second["S1"]}
    with pytest.raises(UserFacingError, match="another voice engine"):
        recall(second, ["S1", "S3"], assigned, tts="other")
    for bad, error in [
        ({"S9": chosen["S1"].voice_id}, UserFacingError),
        ({"S1": "voc_x"}, NotFound),
    ]:
        with pytest.raises(error):
            recall(second, ["S1"], bind(library, "v", **bad))


def test_a_dub_created_with_voices_applies_them_and_shows_its_speakers(
    tmp_path: Path, speech_clip: Path
) -> None:
    """The API records the body's voices as assignments; the analyse activity reads them from
    the tenant's library and records each speaker's library voice on the dub (its view)."""
    from fastapi.testclient import TestClient

    from globalvoice.api.app import create_app
    from globalvoice.orchestration.activities import DubActivities
    from globalvoice.orchestration.context import WorkerContext

    harness = build_api(tmp_path)
    lib = LocalVoiceLibrary(tmp_path / "voices.db", harness.context.store)
    context = dataclasses.replace(harness.context, voices=lib)
    with TestClient(create_app(context), raise_server_exceptions=False) as client:
        api: ApiHarness = dataclasses.replace(harness, client=client, context=context)
        voice = lib.add(api.a.id, "narrator", profile("S1", 1).embedding, {}).id
        upload = api.upload(speech_clip)
        body = {"upload_id": upload, "target_languages": ["pt"], "source_language": "en"}

        def post(voices: dict[str, str], tenant: Any = api.a) -> int:
            answer = client.post(
                "/v1/dubs", json={**body, "voices": voices}, headers=tenant.headers
            )
            return answer.status_code

        assert post({"S1": "voc_x"}) == 404 and api.dub_count() == 0
        assert post({"S1": voice}, api.b) == 404 and post({"x": voice}) == 422
        dub = api.create_dub(upload, voices={"S2": voice})
        assert lib.assignments(api.a.id, dub["id"]) == {"S2": voice} and dub["speakers"] == []
        worker = WorkerContext(
            settings=Settings(service=context.settings),
            store=context.store,
            sessions=context.sessions,
            events=context.events,
            scratch_dir=tmp_path / "work",
        )
        activities, job = DubActivities(worker), api.launcher.started[-1]
        binding = activities._library(job)
        assert (binding.tenant_id, binding.source, binding.video_name) == (
            api.a.id, dub["id"], "jfk.flac",
        )  # fmt: skip
        assert binding.assignments == {"S2": voice}
        analysis = SourceAnalysis(
            info=MediaInfo(container="flac", duration_ms=11_000, size_bytes=1, audio_codec="flac",
                           audio_rate_hz=16_000, audio_channels=1),
            digest="d", transcript_language="en", languages_detected=("en",), lines=(),
            voices={"S2": SpeakerVoice(speaker_id="S2", median_f0_hz=120.0,
                                       formant_dispersion_hz=900.0, is_female=False,
                                       voice="jm_kumo")},
            library_voices={"S2": LibraryVoice(voice_id=voice, name="narrator", choice="assigned")},
        )  # fmt: skip
        activities._record_speakers(job, analysis)
        worker.close()
        shown = client.get(f"/v1/dubs/{dub['id']}", headers=api.a.headers).json()
        chosen = {"voice_id": voice, "name": "narrator", "choice": "assigned", "cosine": None}
        assert shown["speakers"] == [
            {"speaker_id": "S2", "voice": "jm_kumo", "library_voice": chosen}
        ]
    lib.close()


class OneVoice:
    """Kokoro offering one shipped voice, so each speaker's voice search is a few DSP fits
    (their profiles still differ: the DSP is fitted to each speaker)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def voices(self) -> tuple[str, ...]:
        return ("jf_alpha",)


def _video(media: Path, plan: list[tuple[str, int]], out: Path) -> Path:
    parts = [librispeech(media, reader)[index] for reader, index in plan]
    return video_from_audio(concat_audio(parts, out.with_suffix(".wav")), out)


def _speakers(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["speaker_id"]: s for s in manifest["speakers"]}


def _fingerprint(speaker: dict[str, Any]) -> str:
    return str(speaker["voice_profile"]["fingerprint"])


@pytest.mark.slow
def test_dubs_reuse_library_voices_across_videos(
    media: Path,
    tmp_path: Path,
    engines: DubEngines,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engines = dataclasses.replace(engines, tts=OneVoice(engines.tts))
    monkeypatch.setenv("GV_SERVICE__DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GV_CACHE_DIR", str(tmp_path / "cache"))
    settings = Settings()
    cache = ArtifactCache.local(settings.cache_dir)
    first = _video(media, VIDEO_1, tmp_path / "one.mp4")
    second = _video(media, VIDEO_2, tmp_path / "two.mp4")
    settings.service.data_dir.mkdir(parents=True)
    library = build_voice_library(settings.service)

    def dub(video: Path, speakers: int) -> dict[str, dict[str, Any]]:
        pipeline = settings.pipeline.model_copy(update={"speakers": speakers})
        binding = LibraryBinding(
            library=library,
            tenant_id=LOCAL_TENANT,
            threshold=settings.speaker.match_threshold,
            video_name=video.name,
        )
        request = LocalDub(
            input_path=video,
            targets=("en",),
            out_dir=tmp_path / video.stem,
            source="en",
            library=binding,
        )
        result = run_local(request, engines, StepRun(settings=pipeline, cache=cache))
        return _speakers(manifest_data(result.manifest))

    one = dub(first, 2)
    assert [s["library_voice"]["choice"] for s in one.values()] == ["new", "new"]
    voice_of = {
        A: one["S1"]["library_voice"]["voice_id"],
        B: one["S2"]["library_voice"]["voice_id"],
    }
    two = dub(second, 3)
    library.close()
    report = {sid: s["library_voice"] for sid, s in two.items()}
    print(f"video 2: {report}")  # noqa: T201
    assert two["S1"]["library_voice"]["voice_id"] == voice_of[B], report  # B speaks first
    assert two["S2"]["library_voice"]["voice_id"] == voice_of[A], report
    choices = [two[s]["library_voice"]["choice"] for s in ("S1", "S2", "S3")]
    assert choices == ["matched", "matched", "new"]
    for sid, old in (("S1", "S2"), ("S2", "S1")):  # the first video's profile, reused
        assert two[sid]["library_voice"]["cosine"] >= settings.speaker.match_threshold
        assert two[sid]["voice"] == one[old]["voice"]
        assert _fingerprint(two[sid]) == _fingerprint(one[old])
    assert two["S3"]["library_voice"]["voice_id"] not in voice_of.values()
    assert len({_fingerprint(s) for s in two.values()}) == 3

    # the CLI: S1 (reader B) speaks with reader A's voice; then that voice is deleted
    monkeypatch.setattr("globalvoice.cli.dub.build_engines", lambda _settings: engines)
    monkeypatch.setenv("GV_PIPELINE__SPEAKERS", "3")
    runner = CliRunner()
    out = tmp_path / "assigned"
    args = ["dub", str(second), "--from", "en", "--to", "en", "--out", str(out)]
    done = runner.invoke(app, [*args, "--voice", f"S1={voice_of[A]}"])
    assert done.exit_code == 0, done.output
    assert f"S1: library voice {voice_of[A]} (assigned)" in done.output
    assigned = _speakers(read_manifest(out))
    assert assigned["S1"]["library_voice"]["choice"] == "assigned"
    assert _fingerprint(assigned["S1"]) == _fingerprint(one["S1"]) != _fingerprint(two["S1"])
    assert assigned["S2"]["library_voice"]["voice_id"] == voice_of[A]  # A is still A
    bad = runner.invoke(app, [*args, "--voice", "S1=voc_nope"])
    assert isinstance(bad.exception, NotFound) and "voc_nope" in str(bad.exception)
    assert runner.invoke(app, ["voices", "delete", voice_of[A], "--yes"]).exit_code == 0
    listed = runner.invoke(app, ["voices", "list", "--json"]).output
    assert voice_of[A] not in listed and voice_of[B] in listed and listed.count('"id"') == 2
    gone = runner.invoke(app, [*args, "--voice", f"S1={voice_of[A]}"])
    assert isinstance(gone.exception, NotFound) and voice_of[A] in str(gone.exception)
    seen: list[object] = []

    def stop(request: LocalDub, *_args: object) -> None:
        seen.append(request.library)
        raise KeyboardInterrupt

    monkeypatch.setattr("globalvoice.cli.dub.run_local", stop)
    runner.invoke(app, [*args, "--no-library"])
    assert seen == [None]  # --no-library: the dub runs without the library
    runner.invoke(app, args)
    assert isinstance(seen[-1], LibraryBinding) and seen[-1].tenant_id == LOCAL_TENANT
