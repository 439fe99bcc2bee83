"""Prints the latency report of bench/latency/run.sh.

Arguments: the load summary (JSON), the gateway's SQLite database, the
trace's GC lines (go tool trace -d=parsed, filtered) and the load's
duration such as 8s.
"""
import datetime
import json
import re
import sqlite3
import sys


def percentiles(values):
    values = sorted(values)
    n = len(values)
    return n, values[n // 2], values[int(n * 0.9)], values[int(n * 0.99)], values[-1]


def main():
    load_file, db_file, gc_file, duration = sys.argv[1:5]
    seconds = float(duration.rstrip("s"))

    summary = json.load(open(load_file))
    print("client latency ms:", summary.get("latency_ms"), "failures:", summary.get("failures"))

    # Exchanges of the open-loop phase: the request and response entries
    # of one exchange share its id.
    rows = sqlite3.connect(db_file).execute(
        "SELECT exchange_id, phase, recorded_ns FROM audit_entries").fetchall()
    request, response = {}, {}
    for exchange, phase, ns in rows:
        (request if phase == "request" else response)[exchange] = ns
    end = max(ns for _, _, ns in rows)
    start = end - seconds * 1e9
    spans = [(response[e] - request[e], request[e], response[e])
             for e in request if e in response and request[e] > start]
    n, p50, p90, p99, top = percentiles([s[0] / 1e6 for s in spans])
    print("request entry to response entry, ms: n=%d p50 %.2f p90 %.2f p99 %.2f max %.2f" % (n, p50, p90, p99, top))

    # GC mark phases, converted from trace time to wall-clock time with
    # the trace's first Sync event. The trace covers 3 s from that event.
    lines = open(gc_file).read().splitlines()
    sync = next((l for l in lines if " Sync " in l), None)
    if sync is None:
        print("no trace: GC overlap not computed")
        return
    m = re.search(r"Time=(\d+).*Wall=(\S+)Z", sync)
    t0 = int(m.group(1))
    base, frac = m.group(2).split(".")
    wall0 = int(datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc).timestamp()) * 10**9 + int(frac.ljust(9, "0")[:9])
    marks, begun = [], None
    for line in lines:
        if "GC concurrent mark" not in line:
            continue
        t = wall0 + int(re.search(r"Time=(\d+)", line).group(1)) - t0
        if "RangeBegin" in line:
            begun = t
        elif begun is not None:
            marks.append((begun, t))
            begun = None
    print("GC mark phases in the 3 s trace: %d, ms each: %s" % (
        len(marks), ", ".join("%.1f" % ((b - a) / 1e6) for a, b in marks)))
    if not marks:
        return
    traced = [s for s in spans if wall0 <= s[1] and s[2] <= wall0 + 3e9]
    traced.sort(reverse=True)
    if not traced:
        return

    def overlaps(span):
        return any(a < span[2] and span[1] < b for a, b in marks)

    slowest = traced[:max(1, len(traced) // 50)]
    faster = traced[len(traced) // 2:]
    print("traced exchanges: %d; slowest 2%% overlapping a GC mark: %.0f%%; faster half: %.0f%%" % (
        len(traced), 100 * sum(map(overlaps, slowest)) / len(slowest),
        100 * sum(map(overlaps, faster)) / len(faster)))


main()
