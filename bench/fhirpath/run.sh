#!/usr/bin/env bash
# Times Gatehouse's FHIRPath engine against fhirpath.js on the official
# FHIRPath R4 suite, on one core, and writes bench/results/fhirpath.txt.
#
#   bench/fhirpath/run.sh            # N=1000 timed evaluations per case
#   N=200 ROUNDS=5 WARMUP=10 bench/fhirpath/run.sh
#
# The N evaluations of a case are split into ROUNDS interleaved rounds.
# The report gives the mean over all rounds and the median round, which
# leaves out bursts of other load on the machine.
#
# Needs go, node (20 or later) and npm. npm installs fhirpath.js at the
# version package-lock.json pins. GATEHOUSE_CORPUS overrides the corpus
# location (default: ../shared/corpus beside the repository).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
corpus=${GATEHOUSE_CORPUS:-$(cd "$root/.." && pwd)/shared/corpus}
n=${N:-1000}
rounds=${ROUNDS:-5}
warmup=${WARMUP:-50}
out=$here/out
results=$root/bench/results/fhirpath.txt

if [ ! -f "$corpus/fhirpath-tests/tests-fhir-r4.xml" ]; then
  echo "run.sh: error: FHIRPath suite not found under $corpus" >&2
  echo "run.sh: hint: set GATEHOUSE_CORPUS to the shared/corpus folder" >&2
  exit 1
fi
mkdir -p "$out" "$(dirname "$results")"

# One core for both engines: taskset pins every thread of the process
# (V8's compiler and GC threads too), GOMAXPROCS=1 keeps Go to one P.
pin=()
if command -v taskset >/dev/null 2>&1; then
  pin=(taskset -c 0)
fi

# Other work on the machine skews the numbers, so the report records the
# load average before and after the timed runs.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

echo "run.sh: installing fhirpath.js from package-lock.json" >&2
(cd "$here" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) >&2

echo "run.sh: building the Go side" >&2
(cd "$root" && go build -o "$out/fhirpath-bench" ./bench/fhirpath)
bench=$out/fhirpath-bench

echo "run.sh: selecting the cases both engines evaluate without error" >&2
"$bench" extract -corpus "$corpus" -out "$out/candidates.json"
(cd "$here" && node fhirpathjs.js check "$out/candidates.json" "$out/js-check.json")
"$bench" select -candidates "$out/candidates.json" -js "$out/js-check.json" -out "$out/cases.json"

echo "run.sh: timing Gatehouse (N=$n in $rounds rounds, warm-up $warmup)" >&2
GOMAXPROCS=1 "${pin[@]}" "$bench" time -cases "$out/cases.json" -n "$n" -rounds "$rounds" -warmup "$warmup" -out "$out/gatehouse-time.json"
echo "run.sh: timing fhirpath.js (N=$n in $rounds rounds, warm-up $warmup)" >&2
(cd "$here" && "${pin[@]}" node fhirpathjs.js time "$out/cases.json" "$n" "$rounds" "$warmup" "$out/js-time.json")

{
  echo "# FHIRPath: Gatehouse internal/fhirpath vs fhirpath.js"
  echo
  echo "command: N=$n ROUNDS=$rounds WARMUP=$warmup bench/fhirpath/run.sh"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(cd "$root" && git describe --always --dirty 2>/dev/null || echo unknown)"
  echo "pinning: GOMAXPROCS=1 for Go; ${pin[*]:-no taskset available} for both"
  echo "load average (1, 5, 15 min): before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "go: $(go version)"
  echo "node: $(node --version)"
  echo "fhirpath.js: $(cd "$here" && node -p "require('fhirpath/package.json').version") with fhirpath/fhir-context/r4"
  echo
  echo "machine (lscpu | head):"
  lscpu | head | sed 's/^/  /'
  "$bench" report -cases "$out/cases.json" -gatehouse "$out/gatehouse-time.json" -js "$out/js-time.json"
} | tee "$results"
echo "run.sh: wrote $results" >&2
