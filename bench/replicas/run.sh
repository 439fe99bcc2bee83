#!/usr/bin/env bash
# Loads one and then two Gatehouse replicas that share one PostgreSQL
# database, and checks the shared audit log afterwards. Each setup gets a
# fresh schema. The replicas are development-mode gateways with the same
# data directory (keys, certificates, audit keys) and the same public URL,
# and differ only in their listen address and audit.checkpoint_file. A
# round-robin TCP balancer (bench/replicas balance) owns the public URL
# and hands each connection to the next replica; TLS passes through it.
#
# Each setup runs `gatehouse load` closed loop (maximum throughput), then
# open loop at half of the one-replica maximum, ROUNDS times each. Each
# load worker keeps one connection, so the workers are spread evenly over
# the replicas. Afterwards `gatehouse audit verify` must find each log
# intact, with exactly the entries the load produced, and must accept
# every replica's checkpoint file as a trusted checkpoint the log extends.
# Writes bench/results/replicas.txt.
#
#   eval "$(bash .ci/postgres.sh)"   # or export GATEHOUSE_TEST_POSTGRES yourself
#   bench/replicas/run.sh
#   CONCURRENCY=16 MAX_DURATION=10s HALF_DURATION=10s ROUNDS=3 bench/replicas/run.sh
#
# Needs go, and a PostgreSQL URL in GATEHOUSE_TEST_POSTGRES (such as
# postgres://user:password@127.0.0.1:5432/db?sslmode=disable) whose user
# may create schemas; the script drops the schemas it created. Every
# server listens on 127.0.0.1 and every load is sent there. The script
# stops what it started.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
conc=${CONCURRENCY:-16}
max_dur=${MAX_DURATION:-5s}
half_dur=${HALF_DURATION:-5s}
rounds=${ROUNDS:-2}
results=$root/bench/results/replicas.txt

# shellcheck source=../lib.sh
. "$here/../lib.sh"

pg=${GATEHOUSE_TEST_POSTGRES:-}
[ -n "$pg" ] || fail "GATEHOUSE_TEST_POSTGRES is not set" \
  "export GATEHOUSE_TEST_POSTGRES='postgres://USER@127.0.0.1:5432/DB?sslmode=disable' (a database where USER may create schemas), then run this script again"
case $pg in
  postgres://*|postgresql://*) ;;
  *) fail "GATEHOUSE_TEST_POSTGRES is not a postgres:// URL" "set it to a URL such as postgres://USER@127.0.0.1:5432/DB?sslmode=disable" ;;
esac
# The password moves to PGPASSWORD, which the PostgreSQL driver reads, so
# that it appears in no command line of the processes started below.
if [[ $pg =~ ^(postgres(ql)?://[^:/@]+):([^@/]*)@(.*)$ ]]; then
  export PGPASSWORD=${BASH_REMATCH[3]}
  pg="${BASH_REMATCH[1]}@${BASH_REMATCH[4]}"
fi

work=$(mktemp -d /tmp/gatehouse-replicas.XXXXXX)
pids=()
schemas=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  for s in "${schemas[@]}"; do
    "$work/replicas" drop -database "$s" || log "could not drop the schema of $s"
  done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/out"

log "building"
(cd "$root" && go build -o "$work/gatehouse" ./cmd/gatehouse && go build -o "$work/replicas" ./bench/replicas)
gh=$work/gatehouse
bin=$work/replicas

# stop PID stops one server this script started and waits for it, so that
# a replica's shutdown commits and signs its last entries.
stop() {
  kill "$1"
  wait "$1" || true
}

# The balancer's port is the public URL's port, fixed before the replicas
# start, because the token endpoint URL (the assertions' audience) derives
# from it.
lb_port=$("$bin" freeport)
public=https://localhost:$lb_port
data=$work/data

# setup N starts N replicas on a fresh schema and the balancer in front
# of them. It sets db, replica_pids and balancer_pid.
setup() {
  local n=$1 backends=()
  db=$("$bin" schema -database "$pg")
  schemas+=("$db")
  replica_pids=()
  # The replicas start one after another: the first creates the data
  # directory's keys and the schema's tables.
  for r in $(seq 1 "$n"); do
    "$bin" gateway -data "$data" -database "$db" -checkpoint "$work/cp-$n-$r.txt" \
      -listen 127.0.0.1:0 -public-url "$public" -addr-file "$work/replica-$n-$r.addr" \
      2>"$work/replica-$n-$r.log" &
    pids+=($!)
    replica_pids+=($!)
    wait_for "$work/replica-$n-$r.addr" "$work"
    backends+=("$(cat "$work/replica-$n-$r.addr")")
  done
  "$bin" balance -listen "127.0.0.1:$lb_port" -addr-file "$work/balancer-$n.addr" "${backends[@]}" \
    2>"$work/balancer-$n.log" &
  pids+=($!)
  balancer_pid=$!
  wait_for "$work/balancer-$n.addr" "$work"
}

# load RATE DURATION OUT sends one load through the balancer. RATE 0
# means closed loop. Exit status 1 means some requests failed, and the
# summary counts them.
load() {
  "$gh" load --target "$public" --data "$data" --rate "$1" --concurrency "$conc" \
    --duration "$2" --json >"$3" 2>>"$work/load.progress" || true
}

# phase N RATE KIND runs ROUNDS loads of one kind against N replicas.
phase() {
  for r in $(seq 1 "$rounds"); do
    log "$1 replica(s): $3 round $r of $rounds, rate $2"
    load "$2" "$( [ "$3" = max ] && echo "$max_dur" || echo "$half_dur" )" "$work/out/r$1-$3-$r.json"
  done
}

# check N verifies the log of the setup with N replicas after they
# stopped: intact, as many entries as the loads (warm-up included)
# produced, and every replica's checkpoint file extended by the log.
check() {
  local n=$1 vkey=$data/audit/checkpoint.vkey
  log "$n replica(s): verifying the shared audit log"
  "$gh" audit verify --database "$db" --key "$vkey" --no-checkpoint-file >"$work/out/verify-$n.txt" 2>&1 \
    || fail "audit verify of the log of $n replica(s) failed" "see $work/out/verify-$n.txt"
  for r in $(seq 1 "$n"); do
    [ -s "$work/cp-$n-$r.txt" ] || fail "replica $r of $n wrote no checkpoint file"
    "$gh" audit verify --database "$db" --key "$vkey" --from-checkpoint "$work/cp-$n-$r.txt" \
      >"$work/out/verify-$n-cp$r.txt" 2>&1 \
      || fail "the log of $n replica(s) does not extend replica $r's checkpoint file" "see $work/out/verify-$n-cp$r.txt"
  done
  "$bin" count -database "$db" >"$work/out/count-$n.json"
  "$bin" expect -replicas "$n" -counts "$work/out/count-$n.json" -verify "$work/out/verify-$n.txt" \
    "$work/out/warm-$n.json" "$work"/out/r"$n"-*.json >"$work/out/entries-$n.txt" \
    || fail "the log of $n replica(s) does not hold the entries the load produced" "see $work/out/entries-$n.txt"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)

setup 1
log "1 replica: warm-up"
load 0 2s "$work/out/warm-1.json"
phase 1 0 max
half=$("$bin" half "$work"/out/r1-max-*.json)
phase 1 "$half" half
stop "$balancer_pid"
for pid in "${replica_pids[@]}"; do stop "$pid"; done
check 1

setup 2
log "2 replicas: warm-up"
load 0 2s "$work/out/warm-2.json"
phase 2 0 max
phase 2 "$half" half
stop "$balancer_pid"
for pid in "${replica_pids[@]}"; do stop "$pid"; done
check 2

load_after=$(cut -d' ' -f1-3 /proc/loadavg)

{
  echo "# Gatehouse replicas on one PostgreSQL"
  echo
  echo "command: CONCURRENCY=$conc MAX_DURATION=$max_dur HALF_DURATION=$half_dur ROUNDS=$rounds bench/replicas/run.sh"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown) (working tree may hold uncommitted changes)"
  echo "machine: $(lscpu | grep 'Model name' | sed 's/.*: *//'), $(nproc) CPUs shared with other work"
  echo "load average (1, 5, 15 min): before $load_before, after $load_after"
  echo "go: $(go version)"
  echo "postgresql: $("$bin" version -database "$pg")"
  echo "requests: gatehouse load's built-in PAS Claim/\$submit Bundles"
  echo "pinning: none; replicas, balancer, load generator and PostgreSQL share every CPU"
  echo
  "$bin" report -dir "$work/out"
  for n in 1 2; do
    echo
    echo "## Audit log of the setup with $n replica(s)"
    echo
    cat "$work/out/entries-$n.txt"
    grep 'connections to' "$work/balancer-$n.log" | sed 's/^replicas: balance: /balancer: /'
    echo
    echo "gatehouse audit verify --database URL --key checkpoint.vkey --no-checkpoint-file:"
    sed 's/^/  /' "$work/out/verify-$n.txt"
    for r in $(seq 1 "$n"); do
      echo "gatehouse audit verify --from-checkpoint <checkpoint file of replica $r>:"
      sed 's/^/  /' "$work/out/verify-$n-cp$r.txt"
    done
  done
  echo
  echo "## Raw summaries"
  for f in "$work"/out/r*.json; do
    echo
    echo "### $(basename "$f")"
    cat "$f"
  done
} | tee "$results"
log "wrote $results"
