#!/usr/bin/env bash
# Build twinshop/python-base:bookworm (see build.sh --help and docker/README.md).
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/build.sh" python "$@"
