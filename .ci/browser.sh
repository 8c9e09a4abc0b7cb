#!/usr/bin/env bash
# CI: Debian's chromium (and a font) for the browser tests (tests/e2e/test_dashboard.py),
# installed with apt-get only when missing. Playwright drives it; it never downloads a browser.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
[[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || missing+=(fonts-dejavu-core)
if ((${#missing[@]})); then
    echo "ci: installing ${missing[*]}"
    apt-get update -qq </dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
fi
