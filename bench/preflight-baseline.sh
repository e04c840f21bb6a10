#!/usr/bin/env bash
# The baseline for bench/preflight: the same probes as `pytest -m preflight`, one after
# another, in plain bash, the way the original health-check.sh ran them. No report files.
#
# Input (environment, set by bench/preflight from the target file):
#   STACK_DIR PROJECT COMPOSE_FILES ENV_FILE SECRETS_DIR SECRETS REQUIRED_ENV PORTS MIN_FREE_GB
# Exit status: 0 all passed, 1 something failed. Prints one line per check.
set -u
passed=0
failed=0
ok() { printf 'ok   %s\n' "$1"; passed=$((passed + 1)); }
bad() { printf 'FAIL %s\n' "$1"; failed=$((failed + 1)); }
check() { local name="$1"; shift; if "$@" >/dev/null 2>&1; then ok "$name"; else bad "$name"; fi; }

disk_ok() {  # free KiB on the filesystem holding $1 >= MIN_FREE_GB GiB
    local free
    free=$(df -Pk "$1" | awk 'NR==2 {print $4}') || return 1
    [ -n "$free" ] && [ "$free" -ge $((MIN_FREE_GB * 1024 * 1024)) ]
}
secret_ok() {  # present, not blank, owner-only
    local mode
    [ -f "$1" ] && [ -s "$1" ] && grep -q '[^[:space:]]' "$1" || return 1
    mode=$(stat -L -c %a "$1") && [ $((8#$mode & 8#077)) -eq 0 ]
}
port_ok() {  # nothing listens, or only this project's containers publish it
    local port="$1" listening mine
    listening=$(ss -Hltn "sport = :$port")
    [ -z "$listening" ] && return 0
    mine=$(docker ps --filter "label=com.docker.compose.project=$PROJECT" \
        --filter "publish=$port" --quiet)
    [ -n "$mine" ]
}
env_ok() {
    local name
    [ -f "$ENV_FILE" ] || return 1
    for name in $REQUIRED_ENV; do grep -qE "^(export )?$name=.+" "$ENV_FILE" || return 1; done
}
variables_ok() {  # every ${VAR} without a default is in the env file or the environment
    local name
    for name in $(cd "$STACK_DIR" && grep -ohE '\$\{[A-Za-z_][A-Za-z0-9_]*[}?:]' $COMPOSE_FILES \
            | grep -vE ':$' | tr -d '${}?' | sort -u); do
        [ -n "${!name+x}" ] || grep -qE "^(export )?$name=" "$ENV_FILE" 2>/dev/null || return 1
    done
}

files=()
for file in $COMPOSE_FILES; do files+=(-f "$STACK_DIR/$file"); done

check "disk: stack dir" disk_ok "$STACK_DIR"
check "disk: docker data root" disk_ok "$(docker info --format '{{.DockerRootDir}}')"
check "docker daemon" docker info
check "compose plugin" docker compose version
for file in $COMPOSE_FILES; do check "compose file $file" test -f "$STACK_DIR/$file"; done
check "compose config" docker compose --project-name "$PROJECT" --project-directory "$STACK_DIR" \
    "${files[@]}" --env-file "$ENV_FILE" config --quiet
check "compose variables" variables_ok
check "secrets dir" test -d "$SECRETS_DIR"
for name in $SECRETS; do check "secret $name" secret_ok "$SECRETS_DIR/$name"; done
for port in $PORTS; do check "port $port" port_ok "$port"; done
check "env file" env_ok

echo "preflight: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
