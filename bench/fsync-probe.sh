#!/usr/bin/env bash
# Measures the disk's fsync latency under the repository: 1,500 appends of
# 8 KiB, each followed by fsync and a 2 ms pause, and prints p50, p90, p99
# and max in milliseconds. Run it with the machine otherwise idle, to
# tell the disk's own tail from the gateway's.
#
#   bench/fsync-probe.sh
set -euo pipefail
dir=$(mktemp -d "$(cd "$(dirname "$0")" && pwd)/.fsync-probe.XXXXXX")
trap 'rm -rf "$dir"' EXIT
python3 - "$dir/probe.dat" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
lat = []
buf = b"x" * 8192
for _ in range(1500):
    os.write(fd, buf)
    t = time.perf_counter()
    os.fsync(fd)
    lat.append((time.perf_counter() - t) * 1000)
    time.sleep(0.002)
os.close(fd)
lat.sort()
q = lambda p: lat[int(p * (len(lat) - 1))]
print("fsync ms: p50 %.2f p90 %.2f p99 %.2f max %.2f" % (q(.5), q(.9), q(.99), lat[-1]))
PY
