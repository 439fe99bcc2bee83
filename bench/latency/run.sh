#!/usr/bin/env bash
# Looks into Gatehouse's tail latency at one open-loop rate. It starts the
# development gateway of bench/compare alone on CPU 0, warms it up, sends
# `gatehouse load` at RATE from CPU 1 for DURATION, and takes a 3 s runtime
# trace in the middle. It then prints:
#   - the client's latency percentiles;
#   - the span from each exchange's request-entry commit to its
#     response-entry commit (forwarding, payer service, response
#     validation, commit), read from the audit log's recorded_ns;
#   - the garbage collections in the trace and how many of the slowest 2%
#     of traced exchanges overlapped one.
#
#   bench/latency/run.sh                 # RATE=300 DURATION=8s
#   RATE=200 DURATION=15s GOGC=400 bench/latency/run.sh
#
# GOGC and other Go variables in the environment reach the gateway. Needs
# go, curl, python3 and taskset. Everything listens on 127.0.0.1. DURATION
# should be at least 5s, so that the trace ends before the load does.
# GATEHOUSE_CORPUS overrides the corpus location.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
corpus=${GATEHOUSE_CORPUS:-$(cd "$root/.." && pwd)/shared/corpus}
synthea=$corpus/synthea/synthea-r4-bundles-200.tgz
rate=${RATE:-300}
duration=${DURATION:-8s}

[ -f "$synthea" ] || { echo "run.sh: error: $synthea not found" >&2; echo "run.sh: hint: set GATEHOUSE_CORPUS to the shared/corpus folder" >&2; exit 1; }
work=$(mktemp -d /tmp/gatehouse-latency.XXXXXX)
gateway=""
cleanup() {
  [ -n "$gateway" ] && kill "$gateway" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "run.sh: building" >&2
(cd "$root" && go build -o "$work/gatehouse" ./cmd/gatehouse && go build -o "$work/compare" ./bench/compare)
pprof_port=$("$work/compare" freeport)
mkdir -p "$work/gh"
taskset -c 0 "$work/compare" gateway -data "$work/gh" -addr-file "$work/gh.url" -pprof "127.0.0.1:$pprof_port" 2>"$work/gateway.log" &
gateway=$!
for _ in $(seq 300); do [ -s "$work/gh.url" ] && break; sleep 0.1; done
[ -s "$work/gh.url" ] || { echo "run.sh: error: the gateway did not start; see $work/gateway.log" >&2; exit 1; }
url=$(cat "$work/gh.url")

load() {
  taskset -c 1 "$work/gatehouse" load --target "$url" --data "$work/gh" --synthea "$synthea" \
    --rate "$1" --concurrency 16 --duration "$2" --json
}
echo "run.sh: warm-up, closed loop for 3s" >&2
load 0 3s >/dev/null 2>&1 || true
echo "run.sh: $rate/s open loop for $duration, tracing 3 s of it" >&2
(sleep 2; curl -s -o "$work/trace.out" "http://127.0.0.1:$pprof_port/debug/pprof/trace?seconds=3") &
tracer=$!
load "$rate" "$duration" >"$work/load.json" 2>/dev/null || true
wait "$tracer" || true
kill "$gateway"
wait "$gateway" 2>/dev/null || true
gateway=""

go tool trace -d=parsed "$work/trace.out" 2>/dev/null |
  grep -E '^M=' | grep -E 'GC concurrent mark|^M=-1 P=-1 G=-1 Sync' >"$work/gc.txt" || true
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$here/report.py" "$work/load.json" "$work/gh/gatehouse.db" "$work/gc.txt" "$duration"
