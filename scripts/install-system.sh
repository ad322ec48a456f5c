#!/usr/bin/env bash
# Install the Debian packages the VMS and its tests need, when any is missing.
# Needs root (or sudo). Idempotent and quick when everything is present.
set -euo pipefail
packages=(
    ffmpeg                        # ffprobe: an independent RTSP/MP4 reader in tests
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
    gir1.2-gst-rtsp-server-1.0 python3-gi   # Debian's RTSP server as a third-party camera
    chromium chromium-driver      # page tests in headless Chromium
    postgresql redis-server       # real database and message queue for the tests
    libgl1 libglib2.0-0           # opencv-python's shared libraries (redaction, issue 16)
    poppler-utils                 # pdftoppm/pdftotext: the monthly audit PDF renders (issue 14.3)
)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm (the npm 'onvif' package is an independent ONVIF client in the tests):
# any install will do (a NodeSource node ships its own npm, which Debian's npm conflicts
# with), so they are looked for as commands.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}" >&2
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
