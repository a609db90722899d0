"""Bad input through the real CLI: one clear line, a non-zero exit, no traceback, no outputs."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ffmpeg, run_cli, video_from_audio
from tests.manifests import read_manifest


def assert_clean_failure(result: subprocess.CompletedProcess[str], code: str, out: Path) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    error_lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error")]
    assert len(error_lines) == 1 and f"({code})" in error_lines[0], result.stderr
    leftovers = [p for p in out.rglob("*") if p.is_file()] if out.exists() else []
    assert leftovers == [], f"half-written outputs left behind: {leftovers}"


@pytest.fixture(scope="module")
def jfk_video(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return video_from_audio(media / "speech" / "jfk.flac", tmp_path_factory.mktemp("v") / "jfk.mp4")


def test_not_media(tmp_path: Path, out_dir: Path, media: Path) -> None:
    result = run_cli("dub", str(media / "MEDIA.md"), "--to", "es", "--out", str(out_dir))
    assert_clean_failure(result, "media.unsafe", out_dir)


def test_random_bytes(tmp_path: Path, out_dir: Path) -> None:
    junk = tmp_path / "movie.mp4"
    junk.write_bytes(bytes(range(256)) * 400)
    assert_clean_failure(
        run_cli("dub", str(junk), "--to", "es", "--out", str(out_dir)), "media.unreadable", out_dir
    )


def test_truncated_video(tmp_path: Path, out_dir: Path, jfk_video: Path) -> None:
    data = jfk_video.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    assert_clean_failure(
        run_cli("dub", str(cut), "--to", "es", "--out", str(out_dir)), "media.unreadable", out_dir
    )


def test_truncated_wav_is_refused(tmp_path: Path, out_dir: Path, media: Path) -> None:
    source = media / "speech" / "ljspeech" / "LJ001-0001.wav"
    data = source.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 3])  # header still declares the full length
    assert_clean_failure(
        run_cli("dub", str(cut), "--to", "es", "--out", str(out_dir)), "media.unreadable", out_dir
    )


def test_video_without_audio(tmp_path: Path, out_dir: Path) -> None:
    silent = tmp_path / "noaudio.mp4"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=64x64:r=10:d=2",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(silent),
    )
    assert_clean_failure(
        run_cli("dub", str(silent), "--to", "es", "--out", str(out_dir)), "media.no_audio", out_dir
    )


def test_missing_path(tmp_path: Path, out_dir: Path) -> None:
    result = run_cli("dub", str(tmp_path / "nope.mp4"), "--to", "es", "--out", str(out_dir))
    assert_clean_failure(result, "media.unreadable", out_dir)
    assert "does not exist" in result.stderr


def test_playlist_pointing_at_local_file(tmp_path: Path, out_dir: Path, media: Path) -> None:
    playlist = tmp_path / "evil.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXTINF:11,\nfile://{media / 'speech' / 'jfk.flac'}\n")
    assert_clean_failure(
        run_cli("dub", str(playlist), "--to", "es", "--out", str(out_dir)), "media.unsafe", out_dir
    )


def test_concat_list_pointing_at_url(tmp_path: Path, out_dir: Path) -> None:
    concat = tmp_path / "evil.ffconcat"
    concat.write_text("ffconcat version 1.0\nfile 'http://127.0.0.1:9/secret.wav'\n")
    assert_clean_failure(
        run_cli("dub", str(concat), "--to", "es", "--out", str(out_dir)), "media.unsafe", out_dir
    )


def test_output_dir_not_writable(tmp_path: Path, jfk_video: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = run_cli("dub", str(jfk_video), "--to", "es", "--out", str(blocker / "out"))
    assert result.returncode == 2 and "output.not_writable" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("target", ["de", "xx"])
def test_unsupported_target(out_dir: Path, jfk_video: Path, target: str) -> None:
    result = run_cli("dub", str(jfk_video), "--to", target, "--out", str(out_dir))
    assert_clean_failure(result, "lang.unsupported", out_dir)
    assert "es" in result.stderr  # names what is supported


@pytest.mark.slow
def test_unsupported_source_pair(out_dir: Path, media: Path) -> None:
    german = media / "speech" / "leopard" / "leopard_test_de.wav"
    if not german.exists():
        german = next((media / "speech" / "leopard").glob("*de*.wav"))
    result = run_cli("dub", str(german), "--to", "es", "--out", str(out_dir))
    assert_clean_failure(result, "lang.unsupported", out_dir)
    assert "de to es" in result.stderr


@pytest.mark.slow
def test_audio_without_speech_writes_source_and_empty_subtitles(out_dir: Path, media: Path) -> None:
    empty = media / "speech" / "leopard" / "leopard_empty.wav"
    result = run_cli("dub", str(empty), "--to", "es", "--out", str(out_dir))
    assert result.returncode == 0, result.stderr
    assert "No speech found" in result.stderr
    copy = out_dir / "leopard_empty.es.wav"
    assert copy.read_bytes() == empty.read_bytes()
    assert (out_dir / "leopard_empty.es.srt").read_text().strip() == ""
    manifest = read_manifest(out_dir)
    assert manifest["has_speech"] is False and manifest["segments"] == []
    assert not list(out_dir.glob(".globalvoice-work-*"))
    shutil.rmtree(out_dir)


def test_bad_glossary_file(jfk_video: Path, tmp_path: Path, out_dir: Path) -> None:
    glossary = tmp_path / "terms.csv"
    glossary.write_text("word,meaning\ncountry,nación\n", encoding="utf-8")
    result = run_cli(
        "dub", str(jfk_video), "--to", "es", "--out", str(out_dir), "--glossary", str(glossary)
    )
    assert_clean_failure(result, "input.invalid", out_dir)
    assert "header row" in result.stderr and str(glossary) in result.stderr.replace("\n", "")
