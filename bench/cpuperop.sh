#!/usr/bin/env bash
# Prints the CPU time (user + system, all threads, GC included) one
# benchmark operation takes, from two runs of a compiled test binary: one
# of 1 operation and one of N+1, so set-up and warm-up cancel out. CPU
# time is steadier than ns/op on a machine shared with other work.
#
#   go test -c -o /tmp/validate.test ./internal/validate
#   cd internal/validate && ../../bench/cpuperop.sh /tmp/validate.test 'PASRequestBundle$' 2000
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: cpuperop.sh TEST-BINARY BENCH-REGEXP N" >&2
  exit 2
fi
bin=$1 bench=$2 n=$3

cpu() {
  /usr/bin/time -f "%U %S" "$bin" -test.run '^$' -test.bench "$bench" -test.benchtime "${1}x" 2>&1 >/dev/null |
    tail -1 | awk '{print $1 + $2}'
}
one=$(cpu 1)
many=$(cpu $((n + 1)))
awk -v a="$one" -v b="$many" -v n="$n" -v name="$bench" \
  'BEGIN { printf "%s: %.3f ms CPU per operation\n", name, (b - a) * 1000 / n }'
