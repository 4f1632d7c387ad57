#!/usr/bin/env bash
# Screenshots a gallery page with headless Chromium (Debian's `chromium`), for looking at it:
#   scripts/gallery-screenshot.sh outputs/prompts/index.html gallery.png [WIDTHxHEIGHT]
set -euo pipefail
page=${1:?usage: $0 INDEX.html OUT.png [WxH]}
out=${2:?usage: $0 INDEX.html OUT.png [WxH]}
size=${3:-1200x900}
command -v chromium >/dev/null || { echo "$0: chromium is not installed (apt-get install chromium)" >&2; exit 2; }
[ -f "$page" ] || { echo "$0: $page: no such file" >&2; exit 2; }
abs=$(cd "$(dirname "$page")" && pwd)/$(basename "$page")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$tmp" \
  --window-size="${size/x/,}" --screenshot="$tmp/shot.png" "file://$abs" >/dev/null 2>&1
mv "$tmp/shot.png" "$out"
echo "$out"
