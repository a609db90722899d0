#!/usr/bin/env bash
# Installs everything GlobalVoice needs on a fresh Debian 12 machine: Debian packages (Apertium
# and its language pairs) and a virtual environment in .venv with the embedded engines.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(apertium apertium-eng-spa apertium-es-pt apertium-fr-es apertium-spa-ita apertium-eng-cat)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[embedded,service,dev]"
# MediaPipe 0.10.21 is the last release that ships its face models; its metadata pins numpy<2
# and pulls jax, neither of which it needs for the face mesh: installed without its declared
# dependencies (what it does need is in the `embedded` extra: absl-py, attrs, flatbuffers,
# protobuf<7, opencv-python-headless, matplotlib).
.venv/bin/python -m pip show -q mediapipe >/dev/null 2>&1 \
  || .venv/bin/python -m pip install -q --no-deps "mediapipe==0.10.21"
# The shipped voices' reference takes (the voice search compares every speaker to them): made
# once here rather than inside the first dub. Skipped when already there.
.venv/bin/globalvoice prepare
echo "GlobalVoice installed: run .venv/bin/globalvoice doctor"
