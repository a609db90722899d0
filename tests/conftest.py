"""Shared fixtures: real media from ../shared/media, real engines loaded once per session."""

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from globalvoice.config.settings import Settings
from globalvoice.media.ffmpeg import ffmpeg_exe
from globalvoice.pipeline.local import DubEngines

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("GV_SHARED_MEDIA", REPO.parent / "shared" / "media"))


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


def video_from_audio(audio: Path, out: Path, *, size: str = "320x240") -> Path:
    """A still-colour H.264 video carrying `audio` (AAC): a real talking input without a face."""
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"color=c=navy:s={size}:r=25",
        "-i",
        str(audio),
        "-shortest",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        str(out),
    )
    return out


def concat_audio(parts: list[Path], out: Path, *, gap_s: float = 0.4) -> Path:
    """Concatenate audio files with `gap_s` of silence between them (16 kHz mono WAV)."""
    inputs: list[str] = []
    labels = []
    for index, part in enumerate(parts):
        inputs += ["-i", str(part)]
        labels.append(
            f"[{index}:a]aresample=16000,aformat=channel_layouts=mono,"
            f"apad=pad_dur={gap_s}[a{index}]"
        )
    graph = ";".join(labels) + ";" + "".join(f"[a{i}]" for i in range(len(parts)))
    graph += f"concat=n={len(parts)}:v=0:a=1[out]"
    ffmpeg(*inputs, "-filter_complex", graph, "-map", "[out]", str(out))
    return out


@pytest.fixture(scope="session")
def media() -> Path:
    if not MEDIA.exists():
        pytest.fail(f"shared media not found at {MEDIA}; set GV_SHARED_MEDIA")
    return MEDIA


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Default settings; models resolve from the normal cache, artifacts go to a temp cache."""
    return Settings()


@pytest.fixture(scope="session")
def engines(settings: Settings) -> DubEngines:
    from globalvoice.cli.dub import build_engines

    return build_engines(settings)


@pytest.fixture(scope="session")
def lj_minute(media: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """>= 60 s of English: the ten LJSpeech clips in a row, as an H.264/AAC video."""
    folder = tmp_path_factory.mktemp("lj")
    clips = sorted((media / "speech" / "ljspeech").glob("LJ001-00*.wav"))
    wav = concat_audio(clips, folder / "lj.wav")
    return video_from_audio(wav, folder / "lj_minute.mp4")


@pytest.fixture()
def out_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "out"


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A real S3 server (SeaweedFS `weed mini`) on free loopback ports, for the whole session.

    Yields a `tests.services.SeaweedFS` (endpoint_url, access/secret keys, region, client()).
    """
    from tests.services import start_seaweedfs

    with start_seaweedfs(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database, migrated to head, for the session (dropped at the end).

    Skips when no server answers at GV_TEST_POSTGRES_URL (default postgres@127.0.0.1:5432).
    """
    from globalvoice.storage.db.session import migrate
    from tests.services import postgres_database, postgres_unreachable

    if reason := postgres_unreachable():
        pytest.skip(reason)
    with postgres_database() as url:
        migrate(url)
        yield url
