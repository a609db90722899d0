#!/usr/bin/env bash
# Installs GlobalVoice, then dubs a sample from ../shared/media (JFK's inaugural excerpt over a
# still picture) into Spanish and Portuguese. Outputs land in ./demo-output.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
media="${GV_SHARED_MEDIA:-../shared/media}"
mkdir -p demo-output
ffmpeg_bin=$(.venv/bin/python -c "import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())")
"$ffmpeg_bin" -v error -y -f lavfi -i color=c=navy:s=640x360:r=25 -i "$media/speech/jfk.flac" \
  -shortest -c:v libx264 -pix_fmt yuv420p -c:a aac demo-output/jfk.mp4
.venv/bin/globalvoice dub demo-output/jfk.mp4 --to es,pt --out demo-output/jfk.dub
