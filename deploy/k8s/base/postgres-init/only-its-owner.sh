#!/usr/bin/env bash
# Sourced once, on a database's first start, by docker-entrypoint.sh (the offline
# twinshop/postgres-base and the official postgres image alike), as the postgres user,
# while the temporary socket-only server runs.
#
# TWINSHOP_DB_OWNER (e.g. catalog) becomes a plain login role (not a superuser) that owns
# POSTGRES_DB, with the password of POSTGRES_PASSWORD(_FILE). pg_hba.conf is replaced so
# that over the network only that role, to that database, with that password, gets in; the
# superuser is reachable through the container's own unix socket only (docker exec ... psql).

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then set -Eeuo pipefail; fi  # run, not sourced

: "${TWINSHOP_DB_OWNER:?set TWINSHOP_DB_OWNER: the one role that may log in over the network}"
[[ $TWINSHOP_DB_OWNER =~ ^[a-z_][a-z0-9_]*$ ]] || {
    echo "TWINSHOP_DB_OWNER '$TWINSHOP_DB_OWNER' must be a plain lower-case identifier" >&2
    return 1 2>/dev/null || exit 1
}

psql -X -v ON_ERROR_STOP=1 --no-password --dbname postgres \
    --set owner="$TWINSHOP_DB_OWNER" --set password="$POSTGRES_PASSWORD" --set db="$POSTGRES_DB" \
    >/dev/null <<'SQL'
CREATE ROLE :"owner" LOGIN PASSWORD :'password';
ALTER DATABASE :"db" OWNER TO :"owner";
SQL

cat >"$PGDATA/pg_hba.conf" <<HBA
# written by only-its-owner.sh (twinshop): TYPE DATABASE USER ADDRESS METHOD
# inside this container (docker exec): the unix socket, any role
local all all trust
# over the network: the service's own role, to its own database, with its password; nothing else
host $POSTGRES_DB $TWINSHOP_DB_OWNER all scram-sha-256
HBA
echo "only-its-owner.sh: role $TWINSHOP_DB_OWNER owns $POSTGRES_DB; pg_hba.conf lets in nothing else over the network" >&2
