#!/usr/bin/env bash
# docker-entrypoint.sh of twinshop/postgres-base (Debian's postgresql-15, see docker/base/build.sh).
#
# A compatible subset of the official postgres image's entrypoint:
#   POSTGRES_USER (default postgres), POSTGRES_PASSWORD, POSTGRES_DB (default: the user),
#   PGDATA (default /var/lib/postgresql/data), POSTGRES_INITDB_ARGS, POSTGRES_INITDB_WALDIR,
#   POSTGRES_HOST_AUTH_METHOD (default scram-sha-256), and *_FILE variants of the first four;
#   scripts in /docker-entrypoint-initdb.d (*.sh, *.sql, *.sql.gz) run once, on first start.
# On first start (no $PGDATA/PG_VERSION) it runs initdb, allows password (scram-sha-256) logins
# over TCP from anywhere and listens on all addresses (port 5432); later starts reuse the data
# as is and ignore these variables. The server then runs in the foreground as user postgres,
# exec'ed (PID 1), so the image's STOPSIGNAL (SIGINT) does a fast, clean shutdown.
# Any other command (psql, pg_isready, bash ...) is exec'ed as given.
set -Eeuo pipefail

log() { printf '%s [entrypoint] %s\n' "$(date -u '+%Y-%m-%d %H:%M:%S UTC')" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# file_env VAR [DEFAULT]: take VAR from $VAR or from the file named by $VAR_FILE (docker secrets).
file_env() {
    local var=$1 file_var="${1}_FILE" def=${2:-} val
    if [[ -n ${!var:-} && -n ${!file_var:-} ]]; then
        die "both $var and $file_var are set (they are exclusive)"
    fi
    val=$def
    if [[ -n ${!var:-} ]]; then
        val=${!var}
    elif [[ -n ${!file_var:-} ]]; then
        val=$(<"${!file_var}")
    fi
    export "$var=$val"
    unset "$file_var"
}

setup_env() {
    : "${PGDATA:=/var/lib/postgresql/data}"
    export PGDATA
    file_env POSTGRES_USER postgres
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
    export POSTGRES_HOST_AUTH_METHOD
    [[ $POSTGRES_USER =~ ^[A-Za-z_][A-Za-z0-9_$-]*$ ]] \
        || die "POSTGRES_USER '$POSTGRES_USER' must be a plain identifier"
}

# As root: prepare directories, then run this script again as postgres.
drop_root() {
    mkdir -p "$PGDATA"
    find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
    chmod 0700 "$PGDATA"
    if [[ -n ${POSTGRES_INITDB_WALDIR:-} ]]; then
        mkdir -p "$POSTGRES_INITDB_WALDIR"
        find "$POSTGRES_INITDB_WALDIR" \! -user postgres -exec chown postgres:postgres '{}' +
        chmod 0700 "$POSTGRES_INITDB_WALDIR"
    fi
    mkdir -p /var/run/postgresql
    chown postgres:postgres /var/run/postgresql
    chmod 3777 /var/run/postgresql
    HOME=/var/lib/postgresql exec setpriv --reuid=postgres --regid=postgres --init-groups -- \
        "$(readlink -f "${BASH_SOURCE[0]}")" "$@"
}

# psql against the temporary, socket-only init server.
init_psql() {
    psql -X -v ON_ERROR_STOP=1 --no-password --username "$POSTGRES_USER" --host "$INIT_SOCKET_DIR" "$@"
}

run_init_scripts() {
    local f
    shopt -s nullglob
    for f in /docker-entrypoint-initdb.d/*; do
        case $f in
            *.sh)
                if [[ -x $f ]]; then
                    log "running $f"
                    "$f"
                else
                    log "sourcing $f"
                    # shellcheck disable=SC1090
                    . "$f"
                fi
                ;;
            *.sql) log "running $f"; init_psql --dbname "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) log "running $f"; gzip -dc "$f" | init_psql --dbname "$POSTGRES_DB" ;;
            *) log "ignoring $f" ;;
        esac
    done
    shopt -u nullglob
}

init_cluster() {
    if [[ -z $POSTGRES_PASSWORD && $POSTGRES_HOST_AUTH_METHOD != trust ]]; then
        die "the database is uninitialised and POSTGRES_PASSWORD is empty: set POSTGRES_PASSWORD" \
            "(or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without a password)"
    fi
    log "initialising a new cluster in $PGDATA (superuser $POSTGRES_USER, database $POSTGRES_DB)"
    local -a args=(--username="$POSTGRES_USER" --encoding=UTF8 --locale=C.UTF-8
        --auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD")
    [[ -z ${POSTGRES_INITDB_WALDIR:-} ]] || args+=(--waldir="$POSTGRES_INITDB_WALDIR")
    if [[ -n $POSTGRES_PASSWORD ]]; then
        # shellcheck disable=SC2294
        eval 'initdb "${args[@]}" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"
    else
        # shellcheck disable=SC2294
        eval 'initdb "${args[@]}" '"$POSTGRES_INITDB_ARGS"
    fi

    # TCP: password logins from anywhere (the container network); the unix socket stays trusted.
    cat >>"$PGDATA/pg_hba.conf" <<EOF

# added by docker-entrypoint.sh: any host on the container network, with a password
host all all all $POSTGRES_HOST_AUTH_METHOD
EOF
    cat >>"$PGDATA/postgresql.conf" <<'EOF'

# added by docker-entrypoint.sh
listen_addresses = '*'
port = 5432
# this image ships without PostgreSQL's LLVM JIT provider
jit = off
EOF

    # Temporary server on a private socket, so that pg_isready on the normal socket does not
    # report "ready" before the real server runs.
    INIT_SOCKET_DIR=$(mktemp -d /tmp/pg-init.XXXXXX)
    log "starting a temporary server (socket only) for database creation and init scripts"
    pg_ctl -D "$PGDATA" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$INIT_SOCKET_DIR'" start >&2
    if [[ $POSTGRES_DB != postgres ]]; then
        local exists
        exists=$(init_psql --dbname postgres --tuples-only --no-align --set db="$POSTGRES_DB" <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")
        if [[ -z $exists ]]; then
            log "creating database $POSTGRES_DB"
            init_psql --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >/dev/null
        fi
    fi
    (
        export PGHOST=$INIT_SOCKET_DIR PGUSER=$POSTGRES_USER PGDATABASE=$POSTGRES_DB
        run_init_scripts
    )
    pg_ctl -D "$PGDATA" -m fast -w stop >&2
    rmdir "$INIT_SOCKET_DIR" 2>/dev/null || true
    log "initialisation complete"
}

main() {
    # "docker run IMAGE -c foo=bar" means "postgres -c foo=bar", like the official image.
    if [[ ${1:-} == -* ]]; then
        set -- postgres "$@"
    fi
    if [[ ${1:-} != postgres ]]; then
        exec "$@"
    fi
    setup_env
    if [[ $(id -u) == 0 ]]; then
        drop_root "$@"
    fi
    if [[ -s $PGDATA/PG_VERSION ]]; then
        local have
        have=$(<"$PGDATA/PG_VERSION")
        [[ $have == "${PG_MAJOR:-15}" ]] \
            || die "$PGDATA holds a PostgreSQL $have cluster; this image runs PostgreSQL ${PG_MAJOR:-15}"
        log "$PGDATA already holds a cluster; skipping initialisation (POSTGRES_* variables are ignored)"
    else
        init_cluster
    fi
    log "starting PostgreSQL in the foreground as $(id -un)"
    exec "$@"
}

main "$@"
