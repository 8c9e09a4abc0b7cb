#!/usr/bin/env bash
# Build twinshop/postgres-base:15-bookworm (see build.sh --help and docker/README.md).
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/build.sh" postgres "$@"
