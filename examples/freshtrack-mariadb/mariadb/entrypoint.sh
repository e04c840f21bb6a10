#!/bin/sh
# Entrypoint of the example's MariaDB image.
#
# When the data directory is empty: installs the system tables, sets the root password
# from MARIADB_ROOT_PASSWORD_FILE (root over TCP needs it; root on the local socket is
# the container's root, so `docker compose exec db mariadb-dump ...` needs none), creates
# MARIADB_DATABASE and loads every *.sql in /docker-entrypoint-initdb.d into it. Then
# execs the server as PID 1, so it gets docker's stop signal itself.
set -eu

: "${MARIADB_DATABASE:=freshtrack}"
: "${MARIADB_ROOT_PASSWORD_FILE:=/run/secrets/db_password}"
datadir=/var/lib/mysql

init_datadir() {
    if [ ! -s "$MARIADB_ROOT_PASSWORD_FILE" ]; then
        echo "mariadb-entrypoint: no password in $MARIADB_ROOT_PASSWORD_FILE (mount the db_password secret)" >&2
        exit 1
    fi
    mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db \
        --auth-root-authentication-method=socket >/dev/null
    # Socket only while initialising: healthchecks over TCP keep failing until it is done.
    mariadbd --user=mysql --datadir="$datadir" --skip-networking &
    pid=$!
    i=0
    until mariadb-admin --silent ping >/dev/null 2>&1; do
        i=$((i + 1)); [ "$i" -lt 60 ] || { echo "mariadb-entrypoint: server did not start" >&2; exit 1; }
        sleep 1
    done
    # SQL string escaping (backslash, quote); the password reaches the server on stdin.
    escaped=$(head -n 1 "$MARIADB_ROOT_PASSWORD_FILE" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")
    {
        printf 'CREATE DATABASE `%s` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n' "$MARIADB_DATABASE"
        printf "CREATE USER 'root'@'%%' IDENTIFIED BY '%s';\n" "$escaped"
        printf "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%%' WITH GRANT OPTION;\n"
    } | mariadb
    for file in /docker-entrypoint-initdb.d/*.sql; do
        [ -e "$file" ] || continue
        mariadb --default-character-set=utf8mb4 "$MARIADB_DATABASE" < "$file"
    done
    mariadb-admin shutdown
    wait "$pid" || true
    echo "mariadb-entrypoint: initialised $datadir with database $MARIADB_DATABASE"
}

if [ "${1:-}" = mariadbd ]; then
    chown mysql:mysql "$datadir" /run/mysqld
    if [ ! -d "$datadir/mysql" ]; then
        init_datadir
    fi
    exec "$@" --user=mysql --datadir="$datadir" --bind-address=0.0.0.0 --skip-name-resolve \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci
fi
exec "$@"
