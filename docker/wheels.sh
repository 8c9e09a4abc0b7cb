#!/usr/bin/env bash
# Fill a wheelhouse on the host, so that images can `pip install --no-index --find-links` offline.
#
# Usage: docker/wheels.sh [--verify] [--no-build-tools] OUT_DIR (SPEC | -r FILE | -c FILE)...
#   e.g. docker/wheels.sh build/wheels fastapi 'uvicorn[standard]' -r requirements.txt
# Target: CPython 3.11 on Linux x86_64 with glibc 2.36 (Debian bookworm, twinshop/python-base).
# See docker/README.md.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: docker/wheels.sh [OPTIONS] OUT_DIR (SPEC | -r FILE | -c FILE | PIP-OPTION)...

Download (on the host, which needs PyPI) every wheel needed to install the given requirements
on CPython 3.11 / Linux x86_64 / glibc 2.36 (twinshop/python-base:bookworm) without network:
  pip download --only-binary=:all: --platform manylinux_2_36..2_5_x86_64 --python-version 3.11
A requirement that has only an sdist on PyPI is built into a wheel on the host (pip wheel);
this works for pure-python packages only. Files already in OUT_DIR are reused.

Options (before OUT_DIR)
  --verify          afterwards, install everything from OUT_DIR in a throw-away container of
                    twinshop/python-base:bookworm with --network none (needs that image)
  --no-build-tools  do not add pip, setuptools and wheel (by default they are added so that
                    a local project, e.g. `pip install .`, can be built offline too)
  -h, --help        show this help

Environment
  TWINSHOP_CACHE                cache root (host pip venv in $TWINSHOP_CACHE/wheels-venv)
  TWINSHOP_WHEEL_PYTHON         target Python version (default 3.11)
  TWINSHOP_WHEEL_GLIBC_MINOR    newest manylinux glibc minor version accepted (default 36)
  TWINSHOP_PYTHON_BASE_IMAGE    image for --verify (default twinshop/python-base:bookworm)
  PYTHON                        host interpreter for the helper venv (default python3)
EOF
}

log() { printf '[wheels %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[wheels %s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

VERIFY=0
BUILD_TOOLS=1
while [[ $# -gt 0 ]]; do
    case $1 in
        --verify) VERIFY=1 ;;
        --no-build-tools) BUILD_TOOLS=0 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; break ;;
        -*) usage >&2; die "unknown option before OUT_DIR: $1" ;;
        *) break ;;
    esac
    shift
done
[[ $# -ge 2 ]] || { usage >&2; die "need an output directory and at least one requirement"; }
OUT=$1
shift
REQ_ARGS=("$@")

TARGET_PY=${TWINSHOP_WHEEL_PYTHON:-3.11}
GLIBC_MINOR=${TWINSHOP_WHEEL_GLIBC_MINOR:-36}
BASE_IMAGE=${TWINSHOP_PYTHON_BASE_IMAGE:-twinshop/python-base:bookworm}
CACHE_ROOT=${TWINSHOP_CACHE:-${HOME:-/root}/.cache/twinshop}
HOST_VENV=$CACHE_ROOT/wheels-venv
HOST_PY=${PYTHON:-python3}

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# --- host helper venv with a current pip --------------------------------------------------------
ensure_host_pip() {
    if [[ -x $HOST_VENV/bin/pip ]]; then
        return
    fi
    command -v "$HOST_PY" >/dev/null || die "no $HOST_PY on the host (set PYTHON=...)"
    log "creating helper venv $HOST_VENV (host $("$HOST_PY" --version 2>&1))"
    mkdir -p "$CACHE_ROOT"
    if ! "$HOST_PY" -m venv "$HOST_VENV" </dev/null >&2; then
        rm -rf "$HOST_VENV"
        if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
            log "installing python3-venv on the host"
            DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv </dev/null >&2
            "$HOST_PY" -m venv "$HOST_VENV" </dev/null >&2
        else
            die "'$HOST_PY -m venv' failed; install python3-venv"
        fi
    fi
    "$HOST_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip </dev/null >&2 \
        || { rm -rf "$HOST_VENV"; die "could not upgrade pip in the helper venv (is PyPI reachable?)"; }
}

ensure_host_pip
PIP=("$HOST_VENV/bin/python" -m pip --disable-pip-version-check)

PLATFORMS=()
for ((minor = GLIBC_MINOR; minor >= 5; minor--)); do
    PLATFORMS+=(--platform "manylinux_2_${minor}_x86_64")
done
PLATFORMS+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64 --platform manylinux1_x86_64)
TARGET=(--only-binary=:all: "${PLATFORMS[@]}" --python-version "$TARGET_PY"
    --implementation cp --abi "cp${TARGET_PY/./}")

# pip download for the target; on "no matching distribution" build that one (pure-python) sdist
# into a wheel on the host and try again.
download() { # requirement args...
    local attempt missing logf built
    logf=$(mktemp)
    for attempt in $(seq 1 20); do
        local rc=0
        "${PIP[@]}" download --progress-bar off --dest "$OUT" --find-links "$OUT" "${TARGET[@]}" "$@" \
            </dev/null 2>&1 | tee "$logf" | { grep -E '^(Collecting|Saved|ERROR)' >&2 || true; } || rc=$?
        if [[ $rc -eq 0 ]]; then
            rm -f "$logf"
            return 0
        fi
        missing=$(sed -n 's/^ERROR: No matching distribution found for //p' "$logf" | head -n 1)
        if [[ -z $missing ]]; then
            cat "$logf" >&2
            rm -f "$logf"
            die "pip download failed (output above)"
        fi
        log "no $TARGET_PY/manylinux wheel for '$missing': building one from its sdist on the host (pip wheel)"
        local tmpw
        tmpw=$(mktemp -d)
        if ! "${PIP[@]}" wheel --quiet --no-deps --wheel-dir "$tmpw" "$missing" </dev/null >&2; then
            rm -rf "$tmpw" "$logf"
            die "pip wheel $missing failed"
        fi
        for built in "$tmpw"/*.whl; do
            case $(basename "$built") in
                *-none-any.whl) mv -f "$built" "$OUT/" ; log "built $(basename "$built")" ;;
                *)
                    rm -rf "$tmpw" "$logf"
                    die "'$missing' has no wheel for CPython $TARGET_PY manylinux x86_64 on PyPI and is not pure Python ($(basename "$built")); build it in a matching container or pick another version"
                    ;;
            esac
        done
        rm -rf "$tmpw"
    done
    rm -f "$logf"
    die "gave up after $attempt attempts"
}

start=$SECONDS
log "downloading wheels for CPython $TARGET_PY, manylinux x86_64 (glibc <= 2.$GLIBC_MINOR) into $OUT"
download "${REQ_ARGS[@]}"
if [[ $BUILD_TOOLS == 1 ]]; then
    log "adding build tools (pip, setuptools, wheel) for offline builds of local projects"
    download pip setuptools wheel
fi
count=$(find "$OUT" -maxdepth 1 -name '*.whl' | wc -l)
log "done in $((SECONDS - start))s: $count wheels, $(du -sh "$OUT" | cut -f1) in $OUT"
sdists=$(find "$OUT" -maxdepth 1 -type f ! -name '*.whl' -printf '%f ' )
[[ -z $sdists ]] || log "WARNING: non-wheel files in $OUT (not usable offline): $sdists"

if [[ $VERIFY == 1 ]]; then
    command -v docker >/dev/null || die "--verify needs docker"
    docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 \
        || die "--verify needs $BASE_IMAGE (docker/base/build.sh python)"
    # Requirement/constraint files are copied next to the wheels' mount; other args pass as is.
    reqdir=$(mktemp -d)
    trap 'rm -rf "$reqdir"' EXIT
    vargs=()
    n=0
    while [[ $n -lt ${#REQ_ARGS[@]} ]]; do
        a=${REQ_ARGS[$n]}
        case $a in
            -r|--requirement|-c|--constraint)
                n=$((n + 1))
                f=${REQ_ARGS[$n]:-}
                [[ -f $f ]] || die "no such file: $f"
                cp "$f" "$reqdir/$n.txt"
                vargs+=("$a" "/reqs/$n.txt")
                ;;
            *) vargs+=("$a") ;;
        esac
        n=$((n + 1))
    done
    log "verifying: offline install in $BASE_IMAGE (--network none)"
    docker run --rm --pull never --network none \
        -v "$OUT:/wheels:ro" -v "$reqdir:/reqs:ro" "$BASE_IMAGE" \
        sh -ec 'python3 -m venv /tmp/venv
                /tmp/venv/bin/pip install --quiet --no-index --find-links /wheels "$@"
                /tmp/venv/bin/pip check
                echo "installed $(/tmp/venv/bin/pip list --format=freeze | wc -l) distributions offline"' \
        sh "${vargs[@]}" </dev/null
    log "verify ok"
fi
echo "In a Dockerfile: COPY $(basename "$OUT") /wheels  then  pip install --no-index --find-links /wheels ..."
