#!/usr/bin/env bash
# Times Gatehouse's FHIR validator against JavaScript validators from npm
# on the R4 instance examples and the PAS Bundles, on one core, counts the
# errors each finds in deliberately broken inputs, and writes
# bench/results/validator.txt.
#
#   bench/validator/run.sh           # N=10 timed validations per resource
#   N=20 ROUNDS=10 WARMUP=2 bench/validator/run.sh
#
# The N validations of a resource are split into ROUNDS interleaved
# rounds. The report gives the mean over all rounds and the median round,
# which leaves out bursts of other load on the machine.
#
# Needs go, node (20 or later), npm and tar. npm installs the validators at
# the versions package-lock.json pins. GATEHOUSE_CORPUS overrides the
# corpus location (default: ../shared/corpus beside the repository).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
corpus=${GATEHOUSE_CORPUS:-$(cd "$root/.." && pwd)/shared/corpus}
n=${N:-10}
rounds=${ROUNDS:-5}
warmup=${WARMUP:-1}
out=$here/out
results=$root/bench/results/validator.txt
archive=$corpus/fhir-r4-examples/hl7.fhir.r4.examples-4.0.1.tgz

if [ ! -f "$archive" ]; then
  echo "run.sh: error: $archive not found" >&2
  echo "run.sh: hint: set GATEHOUSE_CORPUS to the shared/corpus folder" >&2
  exit 1
fi
rm -rf "$out/r4-examples" "$out/mutations"
mkdir -p "$out/r4-examples" "$(dirname "$results")"

# One core for every validator: taskset pins every thread of the process
# (V8's compiler and GC threads too), GOMAXPROCS=1 keeps Go to one P.
pin=()
if command -v taskset >/dev/null 2>&1; then
  pin=(taskset -c 0)
fi

# Other work on the machine skews the numbers, so the report records the
# load average before and after the timed runs.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

echo "run.sh: installing the JavaScript validators from package-lock.json" >&2
(cd "$here" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error) >&2

echo "run.sh: building the Go side and writing the inputs" >&2
(cd "$root" && go build -o "$out/validator-bench" ./bench/validator)
bench=$out/validator-bench
tar -xzf "$archive" -C "$out/r4-examples"
"$bench" inputs -examples "$out/r4-examples/package" -bundles "$root/internal/demo/bundles" -out "$out"

echo "run.sh: timing Gatehouse (N=$n in $rounds rounds, warm-up $warmup)" >&2
GOMAXPROCS=1 "${pin[@]}" "$bench" time -inputs "$out/inputs.json" -n "$n" -rounds "$rounds" -warmup "$warmup" -out "$out/gatehouse.json"
for peer in asymmetrik fhirjs; do
  echo "run.sh: timing $peer (N=$n in $rounds rounds, warm-up $warmup)" >&2
  (cd "$here" && "${pin[@]}" node validators.js "$peer" "$out/inputs.json" "$n" "$rounds" "$warmup" "$out/$peer.json")
done

{
  echo "# FHIR validation: Gatehouse internal/validate vs JavaScript validators"
  echo
  echo "command: N=$n ROUNDS=$rounds WARMUP=$warmup bench/validator/run.sh"
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(cd "$root" && git describe --always --dirty 2>/dev/null || echo unknown)"
  echo "pinning: GOMAXPROCS=1 for Go; ${pin[*]:-no taskset available} for all"
  echo "load average (1, 5, 15 min): before $load_before, after $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "go: $(go version)"
  echo "node: $(node --version)"
  echo
  echo "machine (lscpu | head):"
  lscpu | head | sed 's/^/  /'
  "$bench" report -inputs "$out/inputs.json" -known "$root/internal/validate/testdata/known-invalid-examples.txt" \
    -verdicts "$out/gatehouse.json,$out/asymmetrik.json,$out/fhirjs.json"
} | tee "$results"
echo "run.sh: wrote $results" >&2
