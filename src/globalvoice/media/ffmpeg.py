"""Running the FFmpeg binary shipped in the imageio-ffmpeg wheel, with typed errors."""

import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from globalvoice.domain.errors import ConfigError, MediaUnreadable

__all__ = ["ffmpeg_exe", "input_arg", "run_ffmpeg"]


@cache
def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg

        exe = str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as err:
        raise ConfigError(
            "ffmpeg is missing: run `pip install imageio-ffmpeg` (it ships a static ffmpeg)."
        ) from err
    if not Path(exe).exists():
        raise ConfigError(f"ffmpeg binary not found at {exe}: reinstall imageio-ffmpeg")
    return exe


def input_arg(path: Path) -> str:
    """`path` as ffmpeg must be given it: absolute, so that a relative name with a colon
    ("take:2.mp4") is a file and never read as a protocol ("take:")."""
    return str(path.absolute())


def run_ffmpeg(
    args: Sequence[str], *, stdin: bytes | None = None, what: str = "process the media"
) -> bytes:
    """Run ffmpeg with `args` (after the binary and global flags); return stdout.

    Only the file and pipe protocols are allowed, so an input can never make ffmpeg open URLs.
    A failure raises MediaUnreadable with the tail of ffmpeg's stderr as detail.
    """
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    result = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip()[-800:]
        raise MediaUnreadable(f"ffmpeg could not {what}.", detail=tail)
    return result.stdout
