#!/usr/bin/env bash
# Container test (npm run test:container): builds the real Dockerfile, starts the real
# docker-compose.yml under a unique project name, and checks the running stack from the host,
# the way an operator following the README would. Talks only to 127.0.0.1 and to this
# project's own containers. Always tears down what it made (containers, network, volumes,
# temporary files), also when a check fails or the time runs out, and ends with the line
# "N passed, M failed".
#
# Environment:
#   CONTAINER_TEST_TIMEOUT  overall limit in seconds (default 2700)
#   COMPOSE                 compose command to use ("docker compose" or "docker-compose");
#                           default: the v2 plugin if present, else docker-compose v1
#   KEEP_IMAGE=0            also remove the built test image at the end (default: keep it as
#                           the build cache for the next run)
set -Euo pipefail

limit="${CONTAINER_TEST_TIMEOUT:-2700}"
# Bound the whole run: GNU timeout signals the whole process group, the TERM trap below tears
# down, and anything still alive 120 s later is killed.
if [ -z "${_CONTAINER_TEST_BOUNDED:-}" ]; then
  export _CONTAINER_TEST_BOUNDED=1
  exec timeout --kill-after=120 "$limit" bash "$0" "$@"
fi

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

passed=0
failed=0
failures=()
started_at=$SECONDS
tmp=""
project=""
dockerd_pid=""
stack_started=0
probe_image=""
image=""

say() { printf '%s\n' "$*"; }
info() { printf '  .. %s\n' "$*"; }
pass() { passed=$((passed + 1)); say "PASS: $1"; }
fail() {
  failed=$((failed + 1))
  failures+=("$1")
  say "FAIL: $1${2:+ -- $2}"
}
# check NAME FUNCTION [ARGS...]: the function prints its reason on stdout when it fails.
check() {
  local name="$1" out rc
  shift
  out="$("$@" 2>&1)"
  rc=$?
  if [ $rc -eq 0 ]; then pass "$name"; else fail "$name" "$(printf '%s' "$out" | tail -n 5 | tr '\n' ' ')"; fi
  return $rc
}

compose() { timeout "${COMPOSE_TIMEOUT:-300}" "${compose_cmd[@]}" -p "$project" -f "$repo/docker-compose.yml" --env-file "$tmp/compose.env" "$@"; }

teardown() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$project" ] && [ "$stack_started" = 1 ]; then
    if [ "$failed" -gt 0 ]; then
      say "---- last log lines of the stack (for the failed checks) ----"
      COMPOSE_TIMEOUT=60 compose logs --no-color --tail 40 2>&1 | tail -n 80 || true
      say "-------------------------------------------------------------"
    fi
    info "tearing down compose project $project"
    COMPOSE_TIMEOUT=120 compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true
    local left
    left="$(docker ps -aq --filter "label=com.docker.compose.project=$project" 2>/dev/null)$(docker volume ls -q --filter "label=com.docker.compose.project=$project" 2>/dev/null)$(docker network ls -q --filter "label=com.docker.compose.project=$project" 2>/dev/null)"
    if [ -z "$left" ]; then pass "teardown: no container, volume or network of the project is left"
    else fail "teardown: no container, volume or network of the project is left" "left: $left"; fi
  fi
  [ -n "$probe_image" ] && docker rmi -f "$probe_image" >/dev/null 2>&1
  if [ -n "$image" ] && [ "${KEEP_IMAGE:-1}" = 0 ]; then docker rmi -f "$image" >/dev/null 2>&1; fi
  # Earlier test images that this run's build replaced.
  docker image prune -f --filter "label=org.opencontainers.image.title=two-factor-service" >/dev/null 2>&1 || true
  if [ -n "$dockerd_pid" ]; then
    info "stopping the dockerd this test started (pid $dockerd_pid)"
    kill "$dockerd_pid" 2>/dev/null
    for _ in $(seq 1 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
  fi
  [ -n "$tmp" ] && rm -rf "$tmp"
  [ $rc -gt 128 ] && [ "$failed" -eq 0 ] && fail "run" "interrupted"
  say ""
  say "container test: $((SECONDS - started_at)) s"
  [ "$failed" -gt 0 ] && say "failed checks: $(printf '%s; ' "${failures[@]}")"
  say "$passed passed, $failed failed"
  [ "$failed" -eq 0 ] && exit 0 || exit 1
}
trap teardown EXIT
trap 'fail "run" "time limit of ${limit}s reached or interrupted"; exit 124' TERM INT

# Stop here when a step that the rest depends on failed.
abort() { fail "$1" "${2:-}"; say "stopping: the remaining checks need this step"; exit 1; }

# Everything this run writes (logs, keys, .env, the image export) lives here and goes at the end.
tmp="$(mktemp -d /tmp/container-test.XXXXXX)"

# ---------------------------------------------------------------- tools and the docker engine
need_pkgs=()
command -v dockerd >/dev/null || need_pkgs+=(docker.io)
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || need_pkgs+=(docker-compose)
command -v debootstrap >/dev/null || need_pkgs+=(debootstrap)
command -v oathtool >/dev/null || need_pkgs+=(oathtool)
command -v openssl >/dev/null || need_pkgs+=(openssl)
command -v curl >/dev/null || need_pkgs+=(curl)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || abort "tools" "missing ${need_pkgs[*]} and not root to install them"
  info "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  timeout 300 apt-get update -qq >/dev/null 2>&1 || true
  timeout 900 apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" ca-certificates iptables >"$tmp/apt.log" 2>&1 ||
    abort "tools" "apt-get install ${need_pkgs[*]} failed: $(tail -n 5 "$tmp/apt.log" | tr '\n' ' ')"
fi

if ! timeout 20 docker info >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || abort "docker engine" "dockerd is not running and not root to start it"
  info "starting dockerd"
  # Its own session, so that the time limit's signal to this process group does not stop it
  # before the teardown has used it.
  setsid dockerd >"$tmp/dockerd.log" 2>&1 < /dev/null &
  dockerd_pid=$!
  for _ in $(seq 1 60); do timeout 5 docker info >/dev/null 2>&1 && break; sleep 1; done
  timeout 20 docker info >/dev/null 2>&1 || abort "docker engine" "dockerd did not come up: $(tail -n 3 "$tmp/dockerd.log" | tr '\n' ' ')"
fi
pass "docker engine is running ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"

if [ -n "${COMPOSE:-}" ]; then
  read -r -a compose_cmd <<<"$COMPOSE"
elif docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
else
  compose_cmd=(docker-compose)
fi
info "compose: ${compose_cmd[*]} ($("${compose_cmd[@]}" version --short 2>/dev/null || true))"

# ---------------------------------------------------------------- the base image
base_image="$(sed -n 's/^ARG NODE_IMAGE=\(.*\)$/\1/p' Dockerfile | head -n1)"
[ -n "$base_image" ] || abort "Dockerfile names its base image in ARG NODE_IMAGE"
t0=$SECONDS
timeout 1200 bash docker/build-base-image.sh "$base_image" >"$tmp/base-image.log" 2>&1 ||
  abort "base image $base_image" "$(tail -n 5 "$tmp/base-image.log" | tr '\n' ' ')"
pass "base image $base_image is available ($((SECONDS - t0)) s)"

# ---------------------------------------------------------------- keys, .env and compose settings
project="tfactest$$$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
image="two-factor-service:container-test"

if [ "$(id -u)" = 0 ]; then app_uid=1000; app_gid=1000; else app_uid="$(id -u)"; app_gid="$(id -g)"; fi
mkdir -p "$tmp/keys"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out "$tmp/keys/private_key.pem" 2>/dev/null &&
  openssl pkey -in "$tmp/keys/private_key.pem" -pubout -out "$tmp/keys/public_key.pem" ||
  abort "test keys" "openssl could not make an RSA-4096 key pair"
chmod 0600 "$tmp/keys/private_key.pem"
chmod 0644 "$tmp/keys/public_key.pem"
chmod 0750 "$tmp/keys"
# As the README says: the key stays 0600 and is owned by the uid the containers run as.
[ "$(id -u)" = 0 ] && chown -R "$app_uid:$app_gid" "$tmp/keys"

api_key="$(openssl rand -hex 32)"
data_key="$(openssl rand -base64 32)"
# .env as the README makes it: .env.example with API_KEY and DATA_KEY filled in (its other
# values, NODE_ENV=development and ./data paths among them, are what compose must override).
# write_env SCHEDULE: CRON_SCHEDULE set to SCHEDULE; with no argument, left as .env.example has it.
set_var() { # set_var FILE NAME VALUE: replace the NAME= line, or append one
  V="$3" awk -v k="$2" 'BEGIN { v = ENVIRON["V"] } index($0, k "=") == 1 { print k "=" v; f = 1; next } { print } END { if (!f) print k "=" v }' "$1" >"$1.new" && mv "$1.new" "$1"
}
write_env() {
  if [ -f .env.example ]; then cp .env.example "$tmp/.env"; else : >"$tmp/.env"; fi
  set_var "$tmp/.env" API_KEY "$api_key"
  set_var "$tmp/.env" DATA_KEY "$data_key"
  [ -n "${1:-}" ] && set_var "$tmp/.env" CRON_SCHEDULE "$1"
  chmod 0600 "$tmp/.env"
}
write_env '* * * * * *'

port_free() { node -e 'const s=require("net").createServer();s.once("error",()=>process.exit(1));s.listen(+process.argv[1],"0.0.0.0",()=>s.close())' "$1"; }
if port_free 8080; then host_port=8080; else
  host_port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
fi
registry="$(npm config get registry 2>/dev/null || true)"
cat >"$tmp/compose.env" <<EOF
HOST_PORT=$host_port
BIND_ADDRESS=127.0.0.1
APP_UID=$app_uid
APP_GID=$app_gid
HOST_KEYS_DIR=$tmp/keys
ENV_FILE=$tmp/.env
IMAGE_TAG=container-test
NPM_CONFIG_REGISTRY=$registry
EOF
# The shell's variables win over --env-file in both compose versions: set the same ones.
set -a
# shellcheck disable=SC1091
. "$tmp/compose.env"
set +a
base="http://127.0.0.1:$host_port"
info "project $project, API on $base, containers as uid $app_uid"

# ---------------------------------------------------------------- the build context
check_dockerignore() {
  local ctx="$tmp/ctx"
  mkdir -p "$ctx/keys" "$ctx/data" "$ctx/node_modules/x" "$ctx/src"
  cp .dockerignore "$ctx/"
  echo secret >"$ctx/keys/private_key.pem"
  echo secret >"$ctx/keys/public_key.pem"
  echo API_KEY=secret >"$ctx/.env"
  echo sqlite >"$ctx/data/service.db"
  echo module >"$ctx/node_modules/x/index.js"
  echo code >"$ctx/src/server.ts"
  printf 'FROM %s\nCOPY . /ctx\n' "$base_image" >"$tmp/probe.Dockerfile"
  timeout 300 docker build -q -f "$tmp/probe.Dockerfile" -t "$probe_image" "$ctx" >/dev/null 2>&1 || { echo "probe build failed"; return 1; }
  local files
  files="$(timeout 60 docker run --rm --entrypoint find "$probe_image" /ctx -type f)"
  echo "$files" | grep -qx /ctx/src/server.ts || { echo "control file missing: $files"; return 1; }
  if echo "$files" | grep -E '^/ctx/(keys/|data/|\.env$|node_modules/)'; then echo "^ reached the build context"; return 1; fi
}
probe_image="two-factor-service-context-probe:$project"
check ".dockerignore keeps keys/, data/, .env and node_modules out of the build context" check_dockerignore

# ---------------------------------------------------------------- build and start
info "building the image and starting the stack (${compose_cmd[*]} up -d --build)"
t0=$SECONDS
stack_started=1
if COMPOSE_TIMEOUT=1800 compose up -d --build >"$tmp/up.log" 2>&1; then
  pass "compose up -d --build: image built and both services started ($((SECONDS - t0)) s)"
else
  tail -n 40 "$tmp/up.log"
  abort "compose up -d --build" "see the output above"
fi

cid() { compose ps -q "$1" 2>/dev/null | head -n1; }
health_of() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1" 2>/dev/null; }
wait_healthy() {
  local id status=""
  local end=$((SECONDS + 90))
  while [ $SECONDS -lt $end ]; do
    id="$(cid api)"
    [ -n "$id" ] && status="$(health_of "$id")"
    [ "$status" = healthy ] && return 0
    sleep 1
  done
  echo "api is '${status:-absent}' after 90 s"
  return 1
}
wait_running() {
  local id
  local end=$((SECONDS + 60))
  while [ $SECONDS -lt $end ]; do
    id="$(cid "$1")"
    [ -n "$id" ] && [ "$(docker inspect -f '{{.State.Running}}' "$id" 2>/dev/null)" = true ] && return 0
    sleep 1
  done
  echo "$1 is not running after 60 s"
  return 1
}
check "api container is healthy (its HEALTHCHECK probes /health)" wait_healthy
check "cron container is running" wait_running cron

# HTTP helpers: body in $tmp/body, status code on stdout.
http() {
  local method="$1" path="$2"
  shift 2
  curl -sS --max-time 10 -o "$tmp/body" -w '%{http_code}' -X "$method" "$@" "$base$path" 2>/dev/null || echo 000
}
jfield() { node -e 'let v=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));for(const k of process.argv[2].split("."))v=v==null?undefined:v[k];process.stdout.write(v===undefined?"":String(v))' "$tmp/body" "$1" 2>/dev/null; }

check_health() {
  local want_seed="$1" code
  code="$(http GET /health)"
  [ "$code" = 200 ] || { echo "status $code: $(head -c 300 "$tmp/body")"; return 1; }
  [ "$(jfield status)" = ok ] && [ "$(jfield checks.database)" = ok ] && [ "$(jfield checks.seed)" = "$want_seed" ] ||
    { echo "body: $(head -c 300 "$tmp/body")"; return 1; }
}
check "GET /health answers 200 status ok, database ok, seed not_set" check_health not_set

check_public_key() {
  local code
  code="$(http GET /seed/public-key)"
  [ "$code" = 200 ] || { echo "status $code"; return 1; }
  diff <(openssl pkey -pubin -in "$tmp/body" -outform DER 2>/dev/null | od -An -tx1) \
    <(openssl pkey -pubin -in "$tmp/keys/public_key.pem" -outform DER | od -An -tx1) >/dev/null ||
    { echo "served key is not the mounted public_key.pem"; return 1; }
}
check "GET /seed/public-key serves the key mounted from the host" check_public_key

hexseed="$(openssl rand -hex 32)"
check_decrypt_seed() {
  local enc code
  enc="$(printf %s "$hexseed" | openssl pkeyutl -encrypt -pubin -inkey "$tmp/keys/public_key.pem" \
    -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 | base64 -w0)"
  code="$(http POST /decrypt-seed -H "X-API-Key: $api_key" -H 'Content-Type: application/json' \
    --data "{\"encrypted_seed\":\"$enc\"}")"
  [ "$code" = 200 ] && [ "$(jfield status)" = ok ] || { echo "status $code: $(head -c 300 "$tmp/body")"; return 1; }
}
check "POST /decrypt-seed accepts a seed encrypted with openssl (RSA-OAEP SHA-256)" check_decrypt_seed
seed_set_at="$(date -u +%s)"

check_code() {
  local code got want valid attempt
  for attempt in 1 2; do
    code="$(http GET /generate-2fa -H "X-API-Key: $api_key")"
    want="$(oathtool --totp "$hexseed")"
    [ "$code" = 200 ] || { echo "status $code: $(head -c 300 "$tmp/body")"; return 1; }
    got="$(jfield code)"
    valid="$(jfield valid_for)"
    # At a step boundary the two codes may straddle it: ask again once.
    if [ "$got" != "$want" ] && [ "$attempt" = 1 ] && [ "${valid:-0}" -le 2 ]; then sleep 2; continue; fi
    break
  done
  [ "$got" = "$want" ] || { echo "API said '$got' (valid_for $valid), oathtool says '$want'"; return 1; }
  [[ "$valid" =~ ^[0-9]+$ ]] && [ "$valid" -ge 1 ] && [ "$valid" -le 30 ] || { echo "valid_for is '$valid'"; return 1; }
}
check "GET /generate-2fa equals oathtool --totp" check_code

check_no_key_401() {
  local code
  code="$(http GET /generate-2fa)"
  [ "$code" = 401 ] || { echo "without X-API-Key: status $code"; return 1; }
}
check "GET /generate-2fa without X-API-Key is 401" check_no_key_401

# Lines of the code log, read the way the README shows (compose exec cron cat ...).
code_log() { compose exec -T cron cat /cron/last_code.txt 2>/dev/null; }
# Every line must have the format and the code oathtool computes for the line's own time.
verify_lines() {
  local line ts code want n=0
  while IFS= read -r line; do
    [ -z "$line" ] && continue
    [[ "$line" =~ ^([0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2})\ -\ 2FA\ Code:\ ([0-9]{6})$ ]] ||
      { echo "malformed line: '$line'"; return 1; }
    ts="${BASH_REMATCH[1]}"
    code="${BASH_REMATCH[2]}"
    want="$(oathtool --totp --now "$ts UTC" "$hexseed")"
    [ "$code" = "$want" ] || { echo "line '$line': oathtool says $want for that time"; return 1; }
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || { echo "no line"; return 1; }
}
check_cron_every_second() {
  local lines=""
  local end=$((SECONDS + 30))
  while [ $SECONDS -lt $end ]; do
    lines="$(code_log)"
    [ "$(printf '%s\n' "$lines" | grep -c 'Code')" -ge 3 ] && break
    sleep 1
  done
  [ -n "$lines" ] || { echo "no /cron/last_code.txt after 30 s"; return 1; }
  printf '%s\n' "$lines" | verify_lines || return 1
  # Every second: the lines are one second apart.
  local secs
  secs="$(printf '%s\n' "$lines" | tail -n 3 | while read -r d t _; do date -u -d "$d $t" +%s; done | tr '\n' ' ')"
  read -r a b c <<<"$secs"
  # (a tick may be late under load, so allow a little slack)
  [ "$b" -gt "$a" ] && [ "$c" -gt "$b" ] && [ $((c - a)) -le 4 ] || { echo "last 3 lines are not about 1 s apart: $secs"; return 1; }
  # A line exists for a moment after the seed was set.
  local last
  last="$(date -u -d "$(printf '%s\n' "$lines" | tail -n 1 | cut -c1-19)" +%s)"
  [ "$last" -ge "$seed_set_at" ] || { echo "no line after the seed was set"; return 1; }
}
check "cron sidecar writes correct lines to /cron/last_code.txt (CRON_SCHEDULE every second)" check_cron_every_second

# A process that aborts is restarted by the restart policy and can look healthy again by the
# time it is checked: count the restarts too.
check_no_restarts() {
  local svc id n
  for svc in api cron; do
    id="$(cid "$svc")"
    n="$(docker inspect -f '{{.RestartCount}}' "$id" 2>/dev/null)"
    [ "$n" = 0 ] || { echo "$svc restarted $n times; its log: $(docker logs --tail 8 "$id" 2>&1 | grep -v ': 0x' | tr '\n' ' ')"; return 1; }
  done
}
check "no container crashed or restarted so far" check_no_restarts

check_read_only_keys() {
  local id
  id="$(cid api)"
  if docker exec "$id" sh -c 'echo x >/run/keys/probe' 2>/dev/null; then echo "wrote into /run/keys"; return 1; fi
  if docker exec "$id" sh -c 'echo x >/app/probe' 2>/dev/null; then echo "wrote into /app"; return 1; fi
  docker exec "$id" test -r /run/keys/private_key.pem || { echo "private key not readable by the container user"; return 1; }
}
check_production() {
  local svc v
  for svc in api cron; do
    v="$(docker exec "$(cid "$svc")" printenv NODE_ENV)"
    [ "$v" = production ] || { echo "$svc has NODE_ENV=$v"; return 1; }
  done
}
check "both containers run with NODE_ENV=production (whatever .env says)" check_production

check "keys are mounted read-only and readable; the image filesystem is read-only" check_read_only_keys

check_non_root() {
  local svc id uids user
  for svc in api cron; do
    id="$(cid "$svc")"
    [ -n "$id" ] || { echo "$svc: no container"; return 1; }
    uids="$(docker top "$id" -o uid,pid,comm 2>/dev/null | tail -n +2 | awk '{ print $1 }')"
    [ -n "$uids" ] || { echo "$svc: no process listed"; return 1; }
    if printf '%s\n' "$uids" | grep -qx 0; then echo "$svc: a process runs as uid 0"; return 1; fi
    user="$(docker exec "$id" id -u)"
    [ "$user" != 0 ] || { echo "$svc: exec runs as root"; return 1; }
  done
  user="$(docker image inspect -f '{{.Config.User}}' "$image")"
  [ -n "$user" ] && [ "$user" != root ] && [ "$user" != 0 ] || { echo "image USER is '$user'"; return 1; }
}
check "every process of both containers runs as a non-root user (and the image's USER is not root)" check_non_root

check_image_config() {
  local env hc
  env="$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$image")"
  printf '%s\n' "$env" | grep -qx NODE_ENV=production || { echo "NODE_ENV=production not set: $env"; return 1; }
  hc="$(docker image inspect -f '{{if .Config.Healthcheck}}{{join .Config.Healthcheck.Test " "}}{{end}}' "$image")"
  [[ "$hc" == *healthcheck* ]] || { echo "no HEALTHCHECK: '$hc'"; return 1; }
  docker run --rm --entrypoint sh "$image" -c 'test ! -e /app/node_modules/typescript && test ! -e /app/node_modules/vitest && test ! -e /app/src && test -f /app/dist/server.js && test -f /app/dist/worker.js' ||
    { echo "runtime image holds dev dependencies or sources, or lacks dist/"; return 1; }
}
check "image sets NODE_ENV=production, has a HEALTHCHECK, holds production dependencies only" check_image_config

check_no_key_in_image() {
  local pats="$tmp/patterns"
  # Distinctive lines of this run's secrets: if keys/ or .env had been baked in, they show.
  { sed -n '2p;5p' "$tmp/keys/private_key.pem"; sed -n '2p' "$tmp/keys/public_key.pem"; echo "$api_key"; echo "$data_key"; } >"$pats"
  timeout 300 docker save -o "$tmp/image.tar" "$image" || { echo "docker save failed"; return 1; }
  local hits
  # grep -c reads everything (no early exit, so no SIGPIPE to tar under pipefail).
  hits="$(tar -xOf "$tmp/image.tar" | grep -a -F -c -f "$pats" || true)"
  [ "${hits:-0}" = 0 ] || { echo "a key or secret of this run is inside the image ($hits hits)"; return 1; }
  local names
  names="$(tar -xOf "$tmp/image.tar" --wildcards '*.tar' | tar -ti 2>/dev/null | grep -E '^(app/|run/)?(keys|data|cron)/.+|^app/\.env|\.(db|pem|key)$' | grep -vE '^(usr|etc|lib|app/node_modules)/' || true)"
  rm -f "$tmp/image.tar"
  [ -z "$names" ] || { echo "files that should not be in the image: $(echo "$names" | head -n 5 | tr '\n' ' ')"; return 1; }
  [ "$(docker image inspect -f '{{json .Config.Env}}' "$image" | grep -c -F -e "$api_key" -e "$data_key")" = 0 ] ||
    { echo "a secret is in the image's environment"; return 1; }
}
check "the image holds no key, no .env and no data" check_no_key_in_image

check_survives() {
  local how="$1"
  case "$how" in
    restart) compose restart >"$tmp/op.log" 2>&1 || { tail -n 5 "$tmp/op.log"; echo "compose restart failed"; return 1; } ;;
    down-up)
      compose down >"$tmp/op.log" 2>&1 || { tail -n 5 "$tmp/op.log"; echo "compose down failed"; return 1; }
      compose up -d >"$tmp/op.log" 2>&1 || { tail -n 5 "$tmp/op.log"; echo "compose up -d failed"; return 1; }
      ;;
  esac
  wait_healthy || return 1
  check_health set || return 1
  check_code || return 1
  wait_running cron || return 1
}
check "the seed survives compose restart" check_survives restart
check "the seed survives compose down and up (without -v)" check_survives down-up

check_cron_after_restart() {
  local before lines
  before="$(date -u +%s)"
  local end=$((SECONDS + 30))
  while [ $SECONDS -lt $end ]; do
    lines="$(code_log | while read -r d t rest; do [ -n "$d" ] && [ "$(date -u -d "$d $t" +%s)" -gt "$before" ] && echo "$d $t $rest"; done)"
    [ -n "$lines" ] && break
    sleep 1
  done
  [ -n "$lines" ] || { echo "no new line within 30 s after down/up"; return 1; }
  printf '%s\n' "$lines" | verify_lines
}
check "after down/up the cron sidecar still writes correct lines (volume and seed kept)" check_cron_after_restart

# README "Backup and restore", its two blocks as written: a backup taken while the stack serves,
# the seed changed, the backup put back, and the first seed's codes again.
check_backup_restore() {
  local first="$hexseed"
  compose exec -T api node dist/cli/backup.js - >"$tmp/backup.db" 2>"$tmp/op.log" || { tail -n 5 "$tmp/op.log"; echo "the backup failed"; return 1; }
  [ "$(head -c 15 "$tmp/backup.db")" = "SQLite format 3" ] || { echo "the backup is not an SQLite database ($(wc -c <"$tmp/backup.db") bytes)"; return 1; }
  hexseed="$(openssl rand -hex 32)"
  check_decrypt_seed || { hexseed="$first"; return 1; }
  check_code || { hexseed="$first"; return 1; }
  hexseed="$first"
  compose stop >"$tmp/op.log" 2>&1 || { tail -n 5 "$tmp/op.log"; echo "compose stop failed"; return 1; }
  compose run --rm -T --no-deps --entrypoint sh cron \
    -c 'rm -f /data/two-factor.db-wal /data/two-factor.db-shm && cat > /data/two-factor.db' <"$tmp/backup.db" >"$tmp/op.log" 2>&1 \
    || { tail -n 5 "$tmp/op.log"; echo "the restore failed"; return 1; }
  compose start >"$tmp/op.log" 2>&1 || { tail -n 5 "$tmp/op.log"; echo "compose start failed"; return 1; }
  wait_healthy || return 1
  check_health set || return 1
  check_code || { echo "after the restore: not the first seed's code"; return 1; }
  wait_running cron || return 1
}
check "a backup taken while serving restores the seed it held (README, Backup and restore)" check_backup_restore

# The default schedule, as shipped: once a minute at second 0. Start the stack with .env's
# CRON_SCHEDULE as .env.example has it (or none, the service's default) and watch the minute.
check_default_schedule() {
  write_env ""
  compose up -d >"$tmp/op.log" 2>&1 || { tail -n 5 "$tmp/op.log"; echo "compose up -d with the default schedule failed"; return 1; }
  wait_running cron || return 1
  local sched
  sched="$(docker inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$(cid cron)" | sed -n 's/^CRON_SCHEDULE=//p')"
  [ "$sched" != '* * * * * *' ] || { echo "cron still has the test's schedule"; return 1; }
  local n0 lines new
  sleep 2
  n0="$(code_log | grep -c Code)"
  local end=$((SECONDS + 75))
  while [ $SECONDS -lt $end ]; do
    lines="$(code_log)"
    [ "$(printf '%s\n' "$lines" | grep -c Code)" -gt "$n0" ] && break
    sleep 1
  done
  sleep 3
  lines="$(code_log)"
  new="$(printf '%s\n' "$lines" | grep Code | tail -n +"$((n0 + 1))")"
  [ -n "$new" ] || { echo "no line within 75 s"; return 1; }
  [ "$(printf '%s\n' "$new" | wc -l)" -eq 1 ] || { echo "expected one line for the minute, got: $(echo "$new" | tr '\n' '|')"; return 1; }
  [[ "$new" =~ ^[0-9-]{10}\ [0-9]{2}:[0-9]{2}:00\ - ]] || { echo "not at second 0: $new"; return 1; }
  printf '%s\n' "$new" | verify_lines
}
check "default CRON_SCHEDULE writes one line a minute, at second 0" check_default_schedule
check "no container crashed or restarted after the recreations" check_no_restarts

exit 0
