#!/usr/bin/env bash
# Compares three targets on this machine under the same load. The requests
# are PAS prior-authorization Bundles converted from the Synthea sample.
# The targets:
#   (a) the built-in payer service alone, plain HTTP;
#   (b) nginx as a mutual-TLS reverse proxy in front of a payer service;
#   (c) Gatehouse in development mode, every control on.
# Each target first runs closed loop to find its maximum throughput. Then
# every target runs open loop at half of Gatehouse's maximum. Both phases
# run in ROUNDS rounds taken in turns, and the report takes medians, so
# that a stall of the shared machine does not fall on one target only.
# Writes bench/results/compare.txt (compare-cpus-0-1.txt with
# SERVER_CPUS=0,1).
#
#   bench/compare/run.sh
#   CONCURRENCY=32 MAX_DURATION=10s HALF_DURATION=10s ROUNDS=5 bench/compare/run.sh
#   PROFILE=/tmp/gatehouse-cpu.pprof bench/compare/run.sh   # CPU profile of (c)
#   SERVER_CPUS=0,1 bench/compare/run.sh   # servers on both CPUs
#   WORK_PARENT=/dev/shm bench/compare/run.sh   # data on tmpfs: no disk fsync
#   GATEWAY_GOGC=400 bench/compare/run.sh   # GOGC for Gatehouse's process only
#
# PROFILE needs MAX_DURATION in whole seconds, such as 10s.
# Needs go, curl (for PROFILE only) and nginx. As root it installs nginx
# with apt-get when missing. GATEHOUSE_CORPUS overrides the corpus location
# (default: ../shared/corpus beside the repository). Every server listens
# on 127.0.0.1 and every load is sent there. The script stops what it
# started.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
corpus=${GATEHOUSE_CORPUS:-$(cd "$root/.." && pwd)/shared/corpus}
synthea=$corpus/synthea/synthea-r4-bundles-200.tgz
conc=${CONCURRENCY:-16}
max_dur=${MAX_DURATION:-6s}
half_dur=${HALF_DURATION:-7s}
rounds=${ROUNDS:-3}
warm=${WARMUP:-3s}
profile=${PROFILE:-}

# shellcheck source=../lib.sh
. "$here/../lib.sh"

[ -f "$synthea" ] || fail "Synthea sample not found at $synthea" "set GATEHOUSE_CORPUS to the shared/corpus folder"
if ! command -v nginx >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || fail "nginx is not installed" "run 'apt-get install -y nginx' as root, then run this script again"
  log "installing nginx from the Debian packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y nginx >&2
fi

# WORK_PARENT is the parent directory of the servers' data. On tmpfs
# every fsync returns at once, so a run there shows how much of the
# latency the disk's fsyncs explain.
work=$(mktemp -d "${WORK_PARENT:-/tmp}/gatehouse-compare.XXXXXX")
pids=()
cleanup() {
  if [ -f "$work/nginx/nginx.pid" ]; then
    kill "$(cat "$work/nginx/nginx.pid")" 2>/dev/null || true
  fi
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/out" "$work/payer-a" "$work/payer-b" "$work/nginx"
# nginx's workers drop root privileges and must reach their directory.
chmod 755 "$work" "$work/nginx"

# With two CPUs or more, the servers share CPU 0 and the load generator
# runs on CPU 1, so that sending the load takes no CPU from the targets.
# Go sets GOMAXPROCS from the affinity, so every Go process gets one P.
# SERVER_CPUS=0,1 lets the servers use both CPUs instead, as a gateway on
# a two-core machine would, while the load generator keeps CPU 1: the
# servers then compete with it for that CPU.
server_cpus=${SERVER_CPUS:-0}
# Runs with other servers' CPUs write a results file of their own, so
# that they do not replace the kept one-CPU results.
results=$root/bench/results/compare.txt
if [ "$server_cpus" != 0 ]; then
  results=$root/bench/results/compare-cpus-${server_cpus//,/-}.txt
fi
server_pin=()
client_pin=()
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
  server_pin=(taskset -c "$server_cpus")
  client_pin=(taskset -c 1)
fi

log "building"
(cd "$root" && go build -o "$work/gatehouse" ./cmd/gatehouse && go build -o "$work/compare" ./bench/compare)
bin=$work/compare

log "starting the payer services, the gateway and nginx"
gateway_args=(-data "$work/gh" -addr-file "$work/gh.url" -synthea "$synthea")
if [ -n "$profile" ]; then
  pprof_port=$("$bin" freeport)
  gateway_args+=(-pprof "127.0.0.1:$pprof_port")
fi
# GATEWAY_GOGC sets the collector's target for the gateway's process
# alone, so that a run can compare settings without changing the payer
# services or the load generator.
gateway_env=()
[ -n "${GATEWAY_GOGC:-}" ] && gateway_env=(env "GOGC=$GATEWAY_GOGC")
"${server_pin[@]}" "${gateway_env[@]}" "$bin" gateway "${gateway_args[@]}" 2>"$work/gateway.log" &
pids+=($!)
"${server_pin[@]}" "$bin" payer -db "$work/payer-a/payer.db" -addr-file "$work/payer-a.url" -synthea "$synthea" 2>"$work/payer-a.log" &
pids+=($!)
"${server_pin[@]}" "$bin" payer -db "$work/payer-b/payer.db" -addr-file "$work/payer-b.url" -synthea "$synthea" 2>"$work/payer-b.log" &
pids+=($!)
wait_for "$work/gh.url" "$work"
wait_for "$work/payer-a.url" "$work"
wait_for "$work/payer-b.url" "$work"
gatehouse_url=$(cat "$work/gh.url")
payer_url=$(cat "$work/payer-a.url")
payer_b=$(cat "$work/payer-b.url")

nginx_port=$("$bin" freeport)
"$bin" nginx-conf -data "$work/gh" -listen "127.0.0.1:$nginx_port" -upstream "${payer_b#http://}" -dir "$work/nginx" >"$work/nginx/nginx.conf"
nginx -q -t -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>&1 | grep -v 'could not open error log file' >&2 || true
"${server_pin[@]}" nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" 2>/dev/null
wait_for "$work/nginx/nginx.pid" "$work"
nginx_url=https://localhost:$nginx_port

# load TARGET RATE DURATION OUT sends the same load to one target. RATE 0
# means closed loop.
load() {
  local common=(-synthea "$synthea" -rate "$2" -concurrency "$conc" -duration "$3")
  case $1 in
    payer) "${client_pin[@]}" "$bin" load -kind payer -url "$payer_url" "${common[@]}" >"$4" ;;
    nginx) "${client_pin[@]}" "$bin" load -kind nginx -url "$nginx_url" -data "$work/gh" "${common[@]}" >"$4" ;;
    gatehouse)
      # Exit status 1 means some requests failed, and the summary counts them.
      "${client_pin[@]}" "$work/gatehouse" load --target "$gatehouse_url" --data "$work/gh" --synthea "$synthea" \
        --rate "$2" --concurrency "$conc" --duration "$3" --json >"$4" || true ;;
  esac
}

# Other work on the machine skews the numbers, above all other processes'
# disk flushes, since every target commits each request to SQLite with
# fsync. The report records the load average and the I/O pressure.
pressure() { head -1 /proc/pressure/io 2>/dev/null || echo "not available"; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
io_before=$(pressure)
for t in payer nginx gatehouse; do
  log "$t: warm-up, closed loop for $warm"
  load "$t" 0 "$warm" /dev/null 2>/dev/null
done
if [ -n "$profile" ]; then
  # One profile over the first Gatehouse round, minus a second at each end.
  seconds=$(( ${max_dur%s} - 2 ))
fi
for r in $(seq 1 "$rounds"); do
  for t in payer nginx gatehouse; do
    log "$t: round $r of $rounds, closed loop for $max_dur"
    if [ "$t" = gatehouse ] && [ "$r" = 1 ] && [ -n "$profile" ]; then
      (sleep 1 && curl -sS -o "$profile" "http://127.0.0.1:$pprof_port/debug/pprof/profile?seconds=$seconds") &
      curl_pid=$!
    fi
    load "$t" 0 "$max_dur" "$work/out/$t-max-$r.json" 2>"$work/$t-max-$r.progress"
  done
done
[ -n "$profile" ] && wait "$curl_pid"

half=$("$bin" half "$work"/out/gatehouse-max-*.json)
for r in $(seq 1 "$rounds"); do
  for t in payer nginx gatehouse; do
    log "$t: round $r of $rounds, open loop at $half/s for $half_dur"
    load "$t" "$half" "$half_dur" "$work/out/$t-half-$r.json" 2>"$work/$t-half-$r.progress"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
io_after=$(pressure)

{
  echo "# Gatehouse vs nginx vs the payer service alone"
  echo
  echo "command: SERVER_CPUS=$server_cpus CONCURRENCY=$conc MAX_DURATION=$max_dur HALF_DURATION=$half_dur ROUNDS=$rounds WARMUP=$warm bench/compare/run.sh"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown) (working tree may hold uncommitted changes)"
  echo "gateway GOGC: ${GATEWAY_GOGC:-not set (${GOGC:-100} from the environment)}"
  echo "data: $(df --output=fstype "$work" | tail -1) under ${WORK_PARENT:-/tmp}"
  echo "load average (1, 5, 15 min): before $load_before, after $load_after"
  echo "I/O pressure (/proc/pressure/io): before: $io_before; after: $io_after"
  echo "go: $(go version)"
  echo "nginx: $(nginx -v 2>&1)"
  echo "requests: the insured claims of $(basename "$synthea"), converted by internal/loadgen"
  if [ ${#server_pin[@]} -gt 0 ]; then
    echo "pinning: servers (payer services, nginx, Gatehouse) on CPU $server_cpus, load generator on CPU 1 (taskset); GOMAXPROCS follows the affinity"
  else
    echo "pinning: none; the servers and the load generator share every CPU"
  fi
  echo
  echo "machine (lscpu | head):"
  lscpu | head | sed 's/^/  /'
  "$bin" report -dir "$work/out"
  echo
  echo "## Raw summaries"
  for f in "$work"/out/*.json; do
    echo
    echo "### $(basename "$f")"
    cat "$f"
  done
} | tee "$results"
log "wrote $results"
