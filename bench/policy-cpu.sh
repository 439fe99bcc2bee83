#!/bin/sh
# Compare the CPU time per operation of the policy benchmarks at two git
# revisions. On a shared machine wall time per operation varies by a factor
# of two with the load, while user plus system CPU time varies far less, so
# this is the steadier before/after figure.
#
# Usage: bench/policy-cpu.sh OLD_REV [NEW_REV] [ROUNDS]
#   NEW_REV defaults to the working tree, ROUNDS to 3.
#
# Each benchmark runs N times (-benchtime Nx) and once (1x) under
# /usr/bin/time. The difference, divided by N, removes the start-up cost
# of the test binary. Rounds alternate between the revisions, so both run
# under the same load. Output: one line per revision and benchmark with the CPU
# microseconds per operation of every round, sorted.
set -eu

old=${1:?usage: bench/policy-cpu.sh OLD_REV [NEW_REV] [ROUNDS]}
new=${2:-}
rounds=${3:-3}
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# build REV NAME: the policy test binary of REV (empty: the working tree).
build() {
	if [ -z "$1" ]; then
		(cd "$root" && go test -c -o "$work/$2.test" ./internal/policy)
		return
	fi
	mkdir "$work/src-$2"
	git -C "$root" archive "$1" | tar -x -C "$work/src-$2"
	(cd "$work/src-$2" && go test -c -o "$work/$2.test" ./internal/policy)
}
build "$old" old
build "$new" new

# The benchmarks and their iteration counts, about one second each.
benches="DecideTransaction50:20000 DecideSubmit:10000 DecideRead:5000000"
log="$work/times"
for _ in $(seq "$rounds"); do
	for rev in old new; do
		for b in $benches; do
			name=${b%%:*}
			n=${b##*:}
			# The test binary reads testdata relative to its package.
			(cd "$root/internal/policy" &&
				/usr/bin/time -f "$rev $name $n %U %S" "$work/$rev.test" -test.run XXX -test.bench "^Benchmark$name\$" -test.benchtime "${n}x" >/dev/null 2>>"$log" &&
				/usr/bin/time -f "$rev $name 1 %U %S" "$work/$rev.test" -test.run XXX -test.bench "^Benchmark$name\$" -test.benchtime 1x >/dev/null 2>>"$log")
		done
	done
done

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
awk '
	$3 == 1 { base[$1" "$2] = $4 + $5; next }
	{ big[$1" "$2] = big[$1" "$2] " " $3 ":" ($4 + $5) }
	END {
		for (k in big) {
			n = split(substr(big[k], 2), runs, " ")
			line = ""
			for (i = 1; i <= n; i++) {
				split(runs[i], p, ":")
				line = line sprintf(" %.2f", (p[2] - base[k]) / p[1] * 1e6)
			}
			print k " µs CPU/op:" line
		}
	}' "$log" | sort
