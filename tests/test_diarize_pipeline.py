"""Diarization in the dub: speaker ids on lines, a voice per speaker, the manifest, --speakers."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from globalvoice.config.settings import Settings
from globalvoice.domain.errors import UserFacingError
from globalvoice.dubbing.engines import DubEngines
from globalvoice.dubbing.local import LocalDub, run_local
from globalvoice.dubbing.steps import AnalysisPlan, StepRun, analyse_source
from globalvoice.storage.cache import ArtifactCache
from tests.conftest import concat_audio
from tests.manifests import manifest_data, read_manifest

# A man (2414) and a woman (1998) of LibriSpeech in alternating turns, 0.4 s apart.
TURNS = [("2414", 1), ("1998", 1), ("2414", 3), ("1998", 3)]


def two_readers(media: Path, out: Path) -> tuple[Path, list[tuple[int, int, str]]]:
    import soundfile as sf

    parts = [
        media / "speech" / "librispeech" / f"{r}-{_chapter(media, r)}-{i:04d}.flac"
        for r, i in TURNS
    ]
    spans, at = [], 0
    for (reader, _), part in zip(TURNS, parts, strict=True):
        length = sf.info(str(part)).frames * 1000 // 16_000
        spans.append((at, at + length, reader))
        at += length + 400
    return concat_audio(parts, out), spans


def _chapter(media: Path, reader: str) -> str:
    return next((media / "speech" / "librispeech").glob(f"{reader}-*.flac")).name.split("-")[1]


@pytest.mark.slow
def test_two_readers_get_two_speakers_and_two_voices(
    media: Path, tmp_path: Path, engines: DubEngines, settings: Settings
) -> None:
    audio, spans = two_readers(media, tmp_path / "two_readers.wav")
    out = tmp_path / "out"
    cache = ArtifactCache.local(tmp_path / "cache")
    request = LocalDub(input_path=audio, targets=("es",), out_dir=out)
    manifest = manifest_data(
        run_local(request, engines, StepRun(settings=settings.pipeline, cache=cache)).manifest
    )
    assert manifest == read_manifest(out)
    segments = manifest["segments"]
    assert {s["speaker"] for s in segments} == {"S1", "S2"}
    reader_of = {"S1": "2414", "S2": "1998"}  # ids follow first appearance
    for segment in segments:  # every line lies in a turn of its own reader
        middle = (segment["start_ms"] + segment["end_ms"]) // 2
        owner = next(r for start, end, r in spans if start - 400 <= middle <= end + 400)
        assert reader_of[segment["speaker"]] == owner, segment
    speakers = {s["speaker_id"]: s for s in manifest["speakers"]}
    assert set(speakers) == {"S1", "S2"}
    assert (speakers["S1"]["is_female"], speakers["S2"]["is_female"]) == (False, True)
    assert speakers["S1"]["voice"] != speakers["S2"]["voice"]
    for speaker_id, entry in speakers.items():
        assert entry["lines"] == [s["id"] for s in segments if s["speaker"] == speaker_id]
        assert entry["turns"] and entry["speech_ms"] > 5_000
    assert manifest["diarization"]["estimated_count"] == 2
    assert manifest["diarization"]["requested_count"] is None
    assert manifest["overlaps"] == []
    assert manifest["engines"]["speaker"]["name"] == "speaker.voicefilter"
    assert "diarize" in {s["stage"] for s in manifest["stages"]}

    # The user says it is one speaker: one id, one voice, same words.
    one = settings.pipeline.model_copy(update={"speakers": 1})
    plan = AnalysisPlan(source=None, targets=("es",))
    analysis = analyse_source(audio, plan, engines, StepRun(settings=one, cache=cache))
    assert {line.speaker_id for line in analysis.lines} == {"S1"}
    assert set(analysis.voices) == {"S1"}
    assert analysis.diarization is not None and analysis.diarization.requested_count == 1
    words = " ".join(s["source_text"] for s in segments).split()
    assert " ".join(line.text for line in analysis.lines).split() == words


def test_speakers_option_is_checked() -> None:
    from globalvoice.cli.main import app

    result = CliRunner().invoke(app, ["dub", "missing.mp4", "--to", "es", "--speakers", "0"])
    # checked before the input is looked at; `run` prints it as one line and exits 2
    assert isinstance(result.exception, UserFacingError)
    assert result.exception.user_message == (
        "--speakers must be a whole number between 1 and 20 (got 0)"
    )
