#!/usr/bin/env bash
# Build twinshop's base images from Debian packages, with no container registry:
#   debootstrap (minbase) -> chroot + apt (with bookworm-updates/-security) -> tarball -> docker import
#
#   python    twinshop/python-base:bookworm        Debian's python3 (3.11) + venv + ca-certificates
#   postgres  twinshop/postgres-base:15-bookworm   Debian's postgresql-15 + docker-entrypoint.sh
#
# Usage: docker/base/build.sh [--force] [--refresh] [--cache-dir DIR] [python|postgres|all]...
# See docker/README.md.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: docker/base/build.sh [OPTIONS] [KIND...]

Build twinshop base images from Debian packages (debootstrap + docker import); nothing is pulled.

KIND      python | postgres | all   (default: all)

Options
  --force           rebuild (re-import) an image even if its tag already exists;
                    reuses the cached rootfs tarball when the build scripts did not change
  --refresh         ignore every cached tarball: debootstrap again and fetch current
                    Debian updates (implies --force)
  --cache-dir DIR   cache directory (default: ${TWINSHOP_CACHE:-$HOME/.cache/twinshop})
  -h, --help        show this help

Environment
  TWINSHOP_CACHE                    cache root (tarballs go to $TWINSHOP_CACHE/base)
  TWINSHOP_DEBIAN_MIRROR            default http://deb.debian.org/debian
  TWINSHOP_DEBIAN_SECURITY_MIRROR   default http://deb.debian.org/debian-security
EOF
}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SUITE=bookworm
ARCH=amd64
MIRROR=${TWINSHOP_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${TWINSHOP_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
CACHE_ROOT=${TWINSHOP_CACHE:-${HOME:-/root}/.cache/twinshop}

PYTHON_TAG=twinshop/python-base:bookworm
POSTGRES_TAG=twinshop/postgres-base:15-bookworm
PG_MAJOR=15
STD_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

FORCE=0
REFRESH=0
KINDS=()

log() { printf '[build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[build %s] ERROR: %s\n' "$(date +%H:%M:%S)" "$*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --force) FORCE=1 ;;
        --refresh) REFRESH=1; FORCE=1 ;;
        --cache-dir) [[ $# -ge 2 ]] || die "--cache-dir needs a directory"; CACHE_ROOT=$2; shift ;;
        --cache-dir=*) CACHE_ROOT=${1#*=} ;;
        -h|--help) usage; exit 0 ;;
        python|postgres) KINDS+=("$1") ;;
        all) KINDS+=(python postgres) ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done
[[ ${#KINDS[@]} -gt 0 ]] || KINDS=(python postgres)

mkdir -p "$CACHE_ROOT"
CACHE_ROOT=$(cd "$CACHE_ROOT" && pwd)
CACHE=$CACHE_ROOT/base
MINBASE_TAR=$CACHE/debian-$SUITE-$ARCH-minbase.tar.gz

# --- temporary directories, removed on exit -------------------------------------------------
WORKDIRS=()
cleanup() {
    local d
    for d in "${WORKDIRS[@]}"; do
        [[ -d $d ]] || continue
        # Mounts only ever live in a private namespace (unshare), but never rm -rf through one.
        if grep -qF " $d/" /proc/self/mountinfo 2>/dev/null; then
            log "WARNING: $d still has mounts; not removing it"
        else
            rm -rf --one-file-system "$d"
        fi
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
WORKDIR=
new_workdir() { # name -> sets WORKDIR (no command substitution: the list must be kept)
    WORKDIR=$(mktemp -d "$CACHE/tmp/$1.XXXXXX")
    WORKDIRS+=("$WORKDIR")
}

# --- host prerequisites ---------------------------------------------------------------------
APT_UPDATED=0
host_apt_install() {
    command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
    export DEBIAN_FRONTEND=noninteractive
    if [[ $APT_UPDATED == 0 ]]; then
        log "apt-get update (host)"
        apt-get update -q </dev/null >&2
        APT_UPDATED=1
    fi
    log "apt-get install $* (host)"
    apt-get install -y -q --no-install-recommends "$@" </dev/null >&2
}

check_host() {
    [[ $(id -u) == 0 ]] || die "must run as root (debootstrap and chroot need it); try: sudo $0"
    command -v docker >/dev/null || die "docker CLI not found"
    docker info >/dev/null 2>&1 || die "no Docker engine answers ('docker info' failed)"
    local tool
    for tool in tar gzip unshare chroot flock mount sha256sum; do
        command -v "$tool" >/dev/null || die "$tool not found"
    done
}

check_debootstrap() {
    command -v debootstrap >/dev/null || host_apt_install debootstrap
    [[ -s /usr/share/keyrings/debian-archive-keyring.gpg ]] || host_apt_install debian-archive-keyring
}

# Hash of everything that defines a rootfs: a change rebuilds it, otherwise the cache is reused.
build_key() { # kind
    {
        printf 'twinshop-base v1 %s %s %s\n' "$SUITE" "$ARCH" "$1"
        cat "$SCRIPT_DIR/build.sh"
        if [[ $1 == postgres ]]; then cat "$SCRIPT_DIR/postgres-entrypoint.sh"; fi
    } | sha256sum | cut -c1-16
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }
image_label() { docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true; }

# Run a script inside the rootfs: private mount namespace, so /proc never leaks to the host.
run_in_chroot() { # rootfs script-file (relative to rootfs)
    # shellcheck disable=SC2016 # expanded by the inner shell
    unshare --mount --propagation private -- /bin/sh -ec '
        root=$1 script=$2
        mount -t proc proc "$root/proc"
        exec chroot "$root" /usr/bin/env -i \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
            /bin/bash "$script"
    ' sh "$1" "$2" </dev/null
}

# --- stage 1: debootstrap minbase (shared by all kinds) --------------------------------------
MINBASE_DONE=0
ensure_minbase() {
    [[ $MINBASE_DONE == 0 ]] || return 0
    if [[ -s $MINBASE_TAR && $REFRESH == 0 ]]; then
        log "stage 1/3: using cached minbase rootfs $MINBASE_TAR"
        MINBASE_DONE=1
        return
    fi
    check_debootstrap
    local work start=$SECONDS
    new_workdir minbase
    work=$WORKDIR
    log "stage 1/3: debootstrap --variant=minbase $SUITE/$ARCH from $MIRROR (about 1 minute; log: $CACHE/logs/debootstrap.log)"
    mkdir -p "$CACHE/debs" "$CACHE/logs"
    if ! debootstrap --variant=minbase --arch="$ARCH" \
            --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
            --cache-dir="$CACHE/debs" \
            "$SUITE" "$work/rootfs" "$MIRROR" >"$CACHE/logs/debootstrap.log" 2>&1 </dev/null; then
        tail -n 30 "$CACHE/logs/debootstrap.log" >&2
        die "debootstrap failed (full log: $CACHE/logs/debootstrap.log)"
    fi
    log "stage 1/3: packing minbase rootfs"
    # Package lists and .debs are fetched again in stage 2; .debs stay in $CACHE/debs.
    rm -rf "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/var/cache/apt/archives/*.deb
    tar --numeric-owner --xattrs --xattrs-include='security.capability' \
        -C "$work/rootfs" --use-compress-program='gzip -1' -cf "$work/minbase.tar.gz" .
    mv -f "$work/minbase.tar.gz" "$MINBASE_TAR"
    MINBASE_DONE=1
    log "stage 1/3: done in $((SECONDS - start))s -> $MINBASE_TAR ($(du -h "$MINBASE_TAR" | cut -f1))"
}

# --- stage 2: configure + install packages in a chroot ---------------------------------------
configure_rootfs() { # rootfs
    local r=$1
    # Debian archive + updates + security (deb822), replacing debootstrap's one-line sources.list.
    rm -f "$r/etc/apt/sources.list"
    cat >"$r/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    # Container-friendly apt/dpkg settings, as in Debian's own docker images.
    cat >"$r/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    cat >"$r/etc/apt/apt.conf.d/docker-no-languages" <<'EOF'
Acquire::Languages "none";
EOF
    cat >"$r/etc/apt/apt.conf.d/docker-no-recommends" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
    mkdir -p "$r/etc/dpkg/dpkg.cfg.d"
    cat >"$r/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
# twinshop base images: no docs, man pages or translations (copyright files are kept)
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*/LC_MESSAGES/*.mo
EOF
    # Never start services while installing packages.
    printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
    chmod 755 "$r/usr/sbin/policy-rc.d"
    # Name resolution for apt while building (docker bind-mounts its own at run time).
    cp -L /etc/resolv.conf "$r/etc/resolv.conf"
}

slim_rootfs() { # rootfs
    local r=$1
    rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin \
        "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/archives/partial/*
    if [[ -d $r/usr/share/doc ]]; then
        find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
        find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
    fi
    rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/lintian "$r"/usr/share/linda
    if [[ -d $r/usr/share/locale ]]; then
        find "$r/usr/share/locale" -name '*.mo' -delete
        find "$r/usr/share/locale" -mindepth 1 -type d -empty -delete
    fi
    find "$r/var/log" -type f -delete
    rm -f "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old "$r/var/cache/ldconfig/aux-cache"
    rm -rf "$r"/tmp/* "$r"/var/tmp/* "$r"/root/.cache "$r"/root/.bash_history
    : >"$r/etc/resolv.conf"
    : >"$r/etc/hostname"
    rm -f "$r/etc/machine-id"
}

write_setup_python() { # rootfs
    cat >"$1/tmp/twinshop-setup.sh" <<'EOF'
set -euo pipefail
apt-get update -q
apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold dist-upgrade
apt-get install -y -q --no-install-recommends \
    python3 python3-venv python-is-python3 ca-certificates netbase tzdata
apt-get clean
python3 -c 'import venv, ssl, sqlite3, ensurepip, zoneinfo; print("python", __import__("platform").python_version(), ssl.OPENSSL_VERSION)'
EOF
}

write_setup_postgres() { # rootfs
    cat >"$1/tmp/twinshop-setup.sh" <<EOF
set -euo pipefail
PG_MAJOR=$PG_MAJOR
EOF
    cat >>"$1/tmp/twinshop-setup.sh" <<'EOF'
# Fixed uid/gid 999, like the official postgres image, so volumes are portable between them.
groupadd --system --gid 999 postgres
useradd --system --gid postgres --uid 999 --home-dir /var/lib/postgresql --shell /bin/bash postgres
# No Debian "main" cluster: the entrypoint runs initdb in $PGDATA itself.
mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' >/etc/postgresql-common/createcluster.d/twinshop.conf
apt-get update -q
apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold dist-upgrade
apt-get install -y -q --no-install-recommends \
    "postgresql-$PG_MAJOR" ca-certificates netbase tzdata
apt-get clean
if [ -d "/etc/postgresql/$PG_MAJOR/main" ]; then pg_dropcluster "$PG_MAJOR" main; fi
mkdir -p /var/lib/postgresql/data /var/run/postgresql /docker-entrypoint-initdb.d
chown postgres:postgres /var/lib/postgresql /var/lib/postgresql/data /var/run/postgresql
chmod 1777 /var/lib/postgresql/data
chmod 3777 /var/run/postgresql
ln -sf usr/local/bin/docker-entrypoint.sh /docker-entrypoint.sh
command -v setpriv >/dev/null
command -v ldd >/dev/null
# Every binary and module must still find its libraries (after the JIT exclusion).
missing=$(find "/usr/lib/postgresql/$PG_MAJOR" -type f \( -perm -u+x -o -name '*.so' \) \
    -exec ldd {} + 2>/dev/null | grep 'not found' || true)
[ -z "$missing" ] || { echo "missing libraries: $missing" >&2; exit 1; }
"/usr/lib/postgresql/$PG_MAJOR/bin/postgres" --version
EOF
    install -D -m 0755 "$SCRIPT_DIR/postgres-entrypoint.sh" "$1/usr/local/bin/docker-entrypoint.sh"
    # Leave out PostgreSQL's LLVM JIT (libLLVM + libz3 are ~130 MB, more than a third of the
    # image). The packages stay installed for dpkg; only these files are not unpacked. Without
    # llvmjit.so the server simply runs without JIT, and the entrypoint sets jit = off.
    cat >"$1/etc/dpkg/dpkg.cfg.d/twinshop-no-jit" <<EOF
path-exclude /usr/lib/x86_64-linux-gnu/libLLVM-*
path-exclude /usr/lib/llvm-*/lib/libLLVM*
path-exclude /usr/lib/x86_64-linux-gnu/libz3.so*
path-exclude /usr/lib/postgresql/$PG_MAJOR/lib/llvmjit*
path-exclude /usr/lib/postgresql/$PG_MAJOR/lib/bitcode/*
EOF
}

make_rootfs() { # kind output-tarball
    local kind=$1 out=$2 work r start=$SECONDS
    ensure_minbase
    new_workdir "$kind"
    work=$WORKDIR
    r=$work/rootfs
    mkdir "$r"
    log "stage 2/3 [$kind]: unpacking minbase, then apt-get dist-upgrade + install in a chroot (log: $CACHE/logs/$kind.log)"
    tar --numeric-owner --xattrs --xattrs-include='security.capability' -C "$r" -xpzf "$MINBASE_TAR"
    configure_rootfs "$r"
    "write_setup_$kind" "$r"
    if ! run_in_chroot "$r" /tmp/twinshop-setup.sh >"$CACHE/logs/$kind.log" 2>&1; then
        tail -n 30 "$CACHE/logs/$kind.log" >&2
        die "package installation for $kind failed (full log: $CACHE/logs/$kind.log)"
    fi
    tail -n 1 "$CACHE/logs/$kind.log" | sed "s/^/[build] [$kind] /" >&2
    # Record package versions for labels.
    # shellcheck disable=SC2016 # dpkg-query format, not shell
    chroot "$r" dpkg-query -W -f '${Package}=${Version}\n' >"$work/packages.txt"
    slim_rootfs "$r"
    log "stage 2/3 [$kind]: packing rootfs ($(du -sh --one-file-system "$r" | cut -f1) unpacked)"
    tar --numeric-owner --xattrs --xattrs-include='security.capability' \
        --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
        -C "$r" --use-compress-program='gzip -1' -cf "$work/rootfs.tar.gz" .
    mv -f "$work/packages.txt" "${out%.tar.gz}.packages.txt"
    mv -f "$work/rootfs.tar.gz" "$out"
    log "stage 2/3 [$kind]: done in $((SECONDS - start))s -> $out ($(du -h "$out" | cut -f1))"
}

pkg_version() { # packages-file package
    sed -n "s/^$2=//p" "$1" | head -n 1
}

# --- stage 3: docker import --------------------------------------------------------------------
import_image() { # kind tarball key tag
    local kind=$1 tar=$2 key=$3 tag=$4 pkgs created id
    pkgs=${tar%.tar.gz}.packages.txt
    created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    local -a changes=(
        --change "LABEL org.opencontainers.image.title=$tag"
        --change "LABEL org.opencontainers.image.created=$created"
        --change "LABEL org.opencontainers.image.description=\"twinshop $kind base image built from Debian $SUITE packages (debootstrap + docker import)\""
        --change "LABEL twinshop.base.kind=$kind"
        --change "LABEL twinshop.base.key=$key"
        --change "LABEL twinshop.base.suite=$SUITE"
        --change "ENV LANG=C.UTF-8"
    )
    case $kind in
    python)
        local pyver
        pyver=$(pkg_version "$pkgs" python3.11)
        changes+=(
            --change "LABEL twinshop.base.python3.11=$pyver"
            --change "ENV PATH=$STD_PATH"
            --change "ENV PYTHONUNBUFFERED=1"
            --change "ENV PIP_DISABLE_PIP_VERSION_CHECK=1"
            --change "ENV PYTHON_VERSION=${pyver%%-*}"
            --change 'CMD ["python3"]'
        )
        log "stage 3/3 [$kind]: docker import -> $tag"
        docker import "${changes[@]}" --message "twinshop $kind base ($key)" "$tar" "$tag" >/dev/null
        ;;
    postgres)
        local pgver
        pgver=$(pkg_version "$pkgs" "postgresql-$PG_MAJOR")
        changes+=(
            --change "LABEL twinshop.base.postgresql-$PG_MAJOR=$pgver"
            --change "ENV PATH=/usr/lib/postgresql/$PG_MAJOR/bin:$STD_PATH"
            --change "ENV PG_MAJOR=$PG_MAJOR"
            --change "ENV PG_VERSION=$pgver"
            --change "ENV PGDATA=/var/lib/postgresql/data"
            --change "VOLUME /var/lib/postgresql/data"
            --change "EXPOSE 5432"
            --change 'ENTRYPOINT ["docker-entrypoint.sh"]'
            --change 'CMD ["postgres"]'
        )
        log "stage 3/3 [$kind]: docker import"
        id=$(docker import "${changes[@]}" --message "twinshop $kind base ($key)" "$tar")
        # 'docker import --change' cannot set STOPSIGNAL; a one-line local build adds it (no layer,
        # nothing pulled). SIGINT = PostgreSQL "fast" shutdown (SIGTERM would be "smart", which
        # waits for every client to disconnect and then gets SIGKILLed by docker).
        log "stage 3/3 [$kind]: adding STOPSIGNAL SIGINT (local docker build FROM the import) -> $tag"
        printf 'FROM %s\nSTOPSIGNAL SIGINT\n' "$id" \
            | DOCKER_BUILDKIT=0 docker build --quiet --tag "$tag" - >/dev/null 2>"$CACHE/logs/$kind-docker-build.log" \
            || { cat "$CACHE/logs/$kind-docker-build.log" >&2; die "docker build (STOPSIGNAL) failed"; }
        ;;
    esac
}

build_kind() { # kind
    local kind=$1 tag key tar old_id="" start=$SECONDS
    case $kind in python) tag=$PYTHON_TAG ;; postgres) tag=$POSTGRES_TAG ;; esac
    key=$(build_key "$kind")
    if image_exists "$tag"; then
        if [[ $FORCE == 0 ]]; then
            local have
            have=$(image_label "$tag" twinshop.base.key)
            if [[ $have == "$key" ]]; then
                log "[$kind] $tag already exists and is up to date; skipping (use --force to rebuild)"
            else
                log "[$kind] $tag already exists; skipping (built from other scripts: key '${have:-none}' != '$key'; use --force to rebuild)"
            fi
            return
        fi
        old_id=$(docker image inspect --format '{{.Id}}' "$tag")
    fi
    tar=$CACHE/$kind-$SUITE-$ARCH-$key.tar.gz
    if [[ -s $tar && $REFRESH == 0 ]]; then
        log "[$kind] stage 1-2/3: using cached rootfs $tar"
    else
        make_rootfs "$kind" "$tar"
        # Drop cached rootfs tarballs of older script versions.
        find "$CACHE" -maxdepth 1 -name "$kind-$SUITE-$ARCH-*" ! -name "$(basename "${tar%.tar.gz}").*" -delete
    fi
    import_image "$kind" "$tar" "$key" "$tag"
    if [[ -n $old_id && $old_id != "$(docker image inspect --format '{{.Id}}' "$tag")" ]]; then
        # Best effort: the old image may still be used by containers or child images.
        docker rmi "$old_id" >/dev/null 2>&1 || log "[$kind] note: previous image ${old_id:7:12} kept (still in use)"
    fi
    log "[$kind] $tag ready in $((SECONDS - start))s: $(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')"
}

main() {
    check_host
    mkdir -p "$CACHE/tmp" "$CACHE/logs"
    exec 9>"$CACHE/.lock"
    if ! flock -n 9; then
        log "another build holds $CACHE/.lock; waiting"
        flock 9
    fi
    local kind start=$SECONDS
    for kind in "${KINDS[@]}"; do
        build_kind "$kind"
    done
    log "all done in $((SECONDS - start))s"
}

main
