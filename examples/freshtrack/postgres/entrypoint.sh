#!/bin/sh
# Entrypoint of the FreshTrack postgres image.
#
# Runs as root only to prepare: fixes ownership of the data directory and, when it is
# empty, creates the cluster with the superuser password from POSTGRES_PASSWORD_FILE and
# the database POSTGRES_DB owned by POSTGRES_USER. Then execs the command as the
# postgres user, so PostgreSQL is PID 1 and gets docker's stop signal itself.
set -eu

: "${PGDATA:=/var/lib/postgresql/data}"
: "${POSTGRES_DB:=freshtrack}"
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_PASSWORD_FILE:=/run/secrets/postgres_password}"

as_postgres() {
    if [ "$(id -u)" = 0 ]; then
        set -- setpriv --reuid=postgres --regid=postgres --init-groups "$@"
    fi
    "$@"
}

init_cluster() {
    if [ ! -s "$POSTGRES_PASSWORD_FILE" ]; then
        echo "postgres-entrypoint: no password in $POSTGRES_PASSWORD_FILE (mount the postgres_password secret)" >&2
        exit 1
    fi
    # The secret is readable by root only; initdb gets a private copy it can read.
    pwfile=$(mktemp)
    trap 'rm -f "$pwfile"' EXIT
    cat "$POSTGRES_PASSWORD_FILE" > "$pwfile"
    if [ "$(id -u)" = 0 ]; then chown postgres "$pwfile"; fi

    # Local socket: trust, so `docker compose exec postgres pg_dump ...` needs no
    # password (whoever can exec here is root in the container anyway).
    # TCP: password (SCRAM) from anywhere on the compose network.
    as_postgres initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"

    if [ "$POSTGRES_DB" != postgres ]; then
        # Socket only while the database is created: healthchecks over TCP keep failing
        # until the real server is up.
        as_postgres pg_ctl --pgdata="$PGDATA" --options="-c listen_addresses=''" --wait --silent start
        as_postgres createdb --username="$POSTGRES_USER" --owner="$POSTGRES_USER" "$POSTGRES_DB"
        as_postgres pg_ctl --pgdata="$PGDATA" --mode=fast --wait --silent stop
    fi
    echo "postgres-entrypoint: initialised $PGDATA with database $POSTGRES_DB"
}

if [ "${1:-}" = postgres ]; then
    if [ "$(id -u)" = 0 ]; then
        mkdir -p "$PGDATA" /run/postgresql
        chown postgres:postgres "$PGDATA" /run/postgresql
        chmod 0700 "$PGDATA"
    fi
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        init_cluster
    fi
    if [ "$(id -u)" = 0 ]; then
        exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
    fi
fi
exec "$@"
