"""The pieces of one validated request: output stems, scratch names, the options a DubJob carries
through Temporal, the CLI's output folder, and the downloads' Content-Disposition."""

import asyncio
from pathlib import Path

import pytest

from globalvoice.cli.preflight import default_out_dir, removing_empty_out_dir
from globalvoice.config.settings import LimitSettings, PipelineSettings
from globalvoice.domain.media import MediaInfo
from globalvoice.dubbing.request import (
    DubOptions,
    InputTooLarge,
    InputTooLong,
    check_limits,
    output_stem,
    scratch_name,
)
from tests.conftest import ApiHarness


@pytest.mark.parametrize(
    ("filename", "stem"),
    [
        ("talk.mp4", "talk"),
        (".hidden.mp4", "hidden"),
        (".bashrc", "bashrc"),
        ("..", "input"),
        ("...", "input"),
        ("", "input"),
        ("../../etc/passwd.mp4", "passwd"),
        ("C:\\Users\\me\\talk show.mkv", "talk show"),
        ("take:2.mp4", "take:2"),
        ("a\x00b\nc\x7f.mp4", "abc"),
        ("\udcff.mp4", "input"),  # an undecodable byte, as os.fsdecode gives it
        ("日本語の動画.mp4", "日本語の動画"),
        ("x" * 246 + ".mp4", "x" * 100),
        ("é" * 120 + ".wav", "é" * 50),  # 2 bytes each: cut at 100 bytes, never mid-character
        ("語" * 246 + ".mp4", "語" * 33),  # 3 bytes each: 99 bytes
    ],
)
def test_output_stem(filename: str, stem: str) -> None:
    assert output_stem(filename) == stem
    assert len(output_stem(filename).encode()) <= 100


@pytest.mark.parametrize(
    ("filename", "name"),
    [
        ("talk.MP4", "source.mp4"),
        ("..", "source"),
        (".hidden.mp4", "source.mp4"),
        ("a.b c", "source"),
        ("a." + "b" * 20, "source"),
        ("../x.wav", "source.wav"),
    ],
)
def test_scratch_name_keeps_only_a_plain_extension(filename: str, name: str) -> None:
    assert scratch_name(filename) == name


def test_options_apply_and_ride_a_dub_job_through_temporal() -> None:
    from temporalio.converter import DataConverter

    from globalvoice.orchestration.jobs import DubJob, job_pipeline

    job = DubJob(
        dub_id="dub_1",
        tenant_id="ten_1",
        upload_key="uploads/ten_1/upl_1/source",
        filename=".hidden.mp4",
        targets=["pt"],
        options=DubOptions(max_tempo=1.2, loudness_lufs=-16.0, speakers=2),
    )
    converter = DataConverter.default
    payloads = asyncio.run(converter.encode([job]))
    [back] = asyncio.run(converter.decode(payloads, [DubJob]))
    assert back == job
    settings = job_pipeline(PipelineSettings(), back)
    assert (settings.max_tempo, settings.loudness_lufs, settings.speakers) == (1.2, -16.0, 2)
    plain = DubJob(dub_id="d", tenant_id="t", upload_key="k", filename="f", targets=["pt"])
    assert job_pipeline(PipelineSettings(), plain) == PipelineSettings()


def test_limits_name_the_fix() -> None:
    info = MediaInfo(
        container="wav",
        duration_ms=0,  # unknown to the container: the audio stream's header counts
        size_bytes=30 << 30,
        audio_codec="pcm_s16le",
        audio_rate_hz=16_000,
        audio_channels=1,
        audio_duration_ms=5 * 3600 * 1000,
    )
    with pytest.raises(InputTooLarge, match=r"talk\.wav is 30\.0 GiB; inputs may be at most 20"):
        check_limits(info, LimitSettings(), name="talk.wav")
    with pytest.raises(InputTooLong, match=r"lasts 5\.0 h; inputs may last at most 4\.0 h"):
        check_limits(info, LimitSettings(max_input_bytes=40 << 30), name="talk.wav")


def test_limit_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from globalvoice.config.settings import Settings

    monkeypatch.setenv("GV_LIMITS__MAX_DURATION_S", "60")
    monkeypatch.setenv("GV_LIMITS__MAX_TARGETS", "3")
    limits = Settings().limits
    assert (limits.max_duration_s, limits.max_targets, limits.max_input_bytes) == (60, 3, 20 << 30)
    monkeypatch.setenv("GV_LIMITS__MAX_DURATION_S", "nan")
    with pytest.raises(ValidationError):
        Settings()


def test_default_out_dir_is_named_from_the_output_stem(tmp_path: Path) -> None:
    assert default_out_dir(tmp_path / ".hidden.mp4") == tmp_path / "hidden.dub"
    long_dir = default_out_dir(tmp_path / ("x" * 246 + ".mp4"))
    assert long_dir == tmp_path / ("x" * 100 + ".dub")


def test_failed_dub_leaves_no_empty_folder_it_made(tmp_path: Path) -> None:
    made = tmp_path / "new" / "deeper" / "out"
    with pytest.raises(RuntimeError), removing_empty_out_dir(made):
        made.mkdir(parents=True)
        raise RuntimeError("the dub failed")
    assert list(tmp_path.iterdir()) == []
    existing = tmp_path / "mine"
    existing.mkdir()
    with pytest.raises(RuntimeError), removing_empty_out_dir(existing):
        raise RuntimeError("the dub failed")
    assert existing.is_dir()  # the user's folder stays
    kept = tmp_path / "kept"
    with pytest.raises(RuntimeError), removing_empty_out_dir(kept):
        kept.mkdir()
        (kept / "result.srt").write_text("1")
        raise RuntimeError("the dub failed")
    assert (kept / "result.srt").exists()  # never removes a file
    done = tmp_path / "done"
    with removing_empty_out_dir(done):
        done.mkdir()
    assert done.is_dir()  # success keeps it, empty or not


def test_download_names_unicode_outputs_per_rfc_6266(api: ApiHarness, speech_clip: Path) -> None:
    from globalvoice.storage.db import repo

    dub = api.create_dub(api.upload(speech_clip, name="語り.mp4"))
    key = f"dubs/{api.a.id}/{dub['id']}/語り.pt.mp4"
    with api.context.sessions.begin() as session:
        repo.add_artifact(
            session,
            dub["id"],
            language="pt",
            kind="video",
            object_key=key,
            size_bytes=5,
            content_type="video/mp4",
        )
    api.context.store.put_bytes(key, b"movie")
    response = api.client.get(f"/v1/dubs/{dub['id']}/artifacts/pt/video", headers=api.a.headers)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"__.pt.mp4\"; filename*=UTF-8''%E8%AA%9E%E3%82%8A.pt.mp4"
    )
