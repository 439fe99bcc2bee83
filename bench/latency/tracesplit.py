"""Split the time of the slowest exchanges in a runtime trace by state.

Reads the text dump of a trace of the gateway (go tool trace -d=parsed
TRACE > parsed.txt), whose exchanges are marked by the "exchange" region
in Gateway.ServeHTTP, and prints for the slowest fraction of them (default
0.01) and for the middle half: the handler goroutine's time running,
runnable, waiting (by reason and blocking function) and in system calls;
which goroutines held the processor while it was runnable; the processor's
use around each GC mark phase; and running stretches by goroutine. It
assumes one P (GOMAXPROCS=1, as with the gateway pinned to one CPU).

    python3 bench/latency/tracesplit.py parsed.txt [0.01]

A 5 s trace at 286/s gives a dump of about 40 million lines, which takes
about 30 s to read.
"""
import sys, re, collections
path = sys.argv[1]
fraction = 0.01
if len(sys.argv) > 2:
    fraction = float(sys.argv[2])
transition_re = re.compile(r'^M=\S+ P=(\S+) G=(\S+) StateTransition Time=(\d+) GoID=(\d+) (\w+)->(\w+) Reason="([^"]*)"')
region_re = re.compile(r'^M=\S+ P=\S+ G=(\S+) Region(Begin|End) Time=(\d+) .*Type="exchange"')
range_re = re.compile(r'^M=\S+ P=\S+ G=(\S+) Range(Begin|End) Time=(\d+) Name="([^"]*)"')
state = {}  # goroutine id -> (state, since, detail)
intervals = collections.defaultdict(list)  # goroutine id -> [(start, end, state, detail)]
root = {}  # goroutine id -> its bottom stack frame, the function it was started with
regions = []; open_reg = {}
gc = []; gc_open = None
cur = None; stack_frames = []
def flush_stack():
    global cur
    if cur is None: return
    goid, kind = cur
    funcs = stack_frames
    if funcs:
        if goid not in root: root[goid] = funcs[-1]
        if kind == 'wait':
            blocker = next((f for f in funcs if not f.startswith(('runtime.', 'internal/', 'sync.', 'sync/'))), funcs[-1])
            # The detail names the runtime function that blocked and the first
            # frame outside the runtime, internal and sync packages.
            first = funcs[0]
            s, since, d = state[goid]
            state[goid] = (s, since, d + '|' + first + '<-' + blocker)
        elif kind == 'sys':
            blocker = next((f for f in funcs if not f.startswith(('runtime.', 'internal/', 'syscall.'))), funcs[-1])
            s, since, d = state[goid]
            state[goid] = (s, since, d + '|' + blocker)
    cur = None
    stack_frames.clear()
in_stack = None
for line in open(path):
    if line.startswith('M='):
        flush_stack(); in_stack = None
        m = transition_re.match(line)
        if m:
            p, g, t, goid, a, b, reason = m.groups()
            t = int(t); goid = int(goid)
            if goid in state:
                s, since, d = state[goid]
                intervals[goid].append((since, t, s, d))
            state[goid] = (b, t, reason)
            if b == 'Waiting':
                cur = (goid, 'wait')
            elif b == 'Syscall':
                cur = (goid, 'sys')
            else:
                cur = (goid, 'any')
            continue
        m = region_re.match(line)
        if m:
            g, be, t = m.groups(); g = int(g); t = int(t)
            if be == 'Begin': open_reg[g] = t
            elif g in open_reg: regions.append((g, open_reg.pop(g), t))
            continue
        m = range_re.match(line)
        if m and 'GC concurrent mark' in m.group(4):
            if m.group(2) == 'Begin': gc_open = int(m.group(3))
            elif gc_open is not None: gc.append((gc_open, int(m.group(3)))); gc_open = None
        continue
    if line.startswith('Stack=') or line.startswith('TransitionStack='):
        in_stack = line[:5]
        if line.startswith('TransitionStack'): in_stack = 'T'
        continue
    if in_stack == 'Stack' and line.startswith('\t') and not line.startswith('\t\t'):
        stack_frames.append(line.strip().split(' @ ')[0])
flush_stack()
# The processor's timeline, one P assumed: (start, end, goroutine id).
running = []
for goid, ivs in intervals.items():
    for a, b, s, d in ivs:
        if s == 'Running': running.append((a, b, goid))
running.sort()
import bisect
rstarts = [r[0] for r in running]
def kind(goid):
    return root.get(goid, '?')
regions.sort(key=lambda r: r[2]-r[1], reverse=True)
n = len(regions)
durs = sorted(r[2]-r[1] for r in regions)
print("regions", n, "p50 %.2f p90 %.2f p99 %.2f max %.2f ms" % (durs[n//2]/1e6, durs[int(n*.9)]/1e6, durs[int(n*.99)]/1e6, durs[-1]/1e6))
print("GC mark phases", len(gc), ["%.1f" % ((b-a)/1e6) for a, b in gc])
def analyze(sel, label):
    tot = collections.Counter(); who = collections.Counter(); wait = collections.Counter(); sysc = collections.Counter()
    T = 0; gco = 0
    for g, a, b in sel:
        T += b - a
        if any(x < b and y > a for x, y in gc): gco += 1
        for x, y, s, d in intervals.get(g, []):
            lo, hi = max(x, a), min(y, b)
            if hi <= lo: continue
            tot[s] += hi - lo
            if s == 'Waiting': wait[d] += hi - lo
            if s == 'Syscall': sysc[d] += hi - lo
            if s == 'Runnable':
                i = bisect.bisect_left(rstarts, lo) - 1
                i = max(i, 0)
                while i < len(running) and running[i][0] < hi:
                    rx, ry, rg = running[i]
                    o = min(ry, hi) - max(rx, lo)
                    if o > 0: who[kind(rg)] += o
                    i += 1
    print("\n== %s: %d exchanges, mean %.2f ms, overlapping GC mark: %d" % (label, len(sel), T/len(sel)/1e6, gco))
    for s, v in tot.most_common(): print("  %-10s %5.1f%%  %.2f ms/exchange" % (s, 100*v/T, v/len(sel)/1e6))
    print("  -- waiting on:")
    for s, v in wait.most_common(8): print("    %5.1f%%  %s" % (100*v/T, s[:200]))
    print("  -- syscall in:")
    for s, v in sysc.most_common(5): print("    %5.1f%%  %s" % (100*v/T, s[:200]))
    print("  -- while runnable, the P ran (root function of running goroutine):")
    rt = sum(who.values())
    for s, v in who.most_common(10): print("    %5.1f%% of runnable  %s" % (100*v/max(rt,1), s[:160]))
k = max(1, int(n*fraction))
analyze(regions[:k], "slowest %g%%" % (fraction*100))
analyze(regions[n//4: 3*n//4], "middle half")

def pbreak(windows, label):
    c = collections.Counter(); T = 0
    for a, b in windows:
        T += b - a
        i = max(bisect.bisect_left(rstarts, a) - 1, 0)
        busy = 0
        # A stretch that began before the window may still run into it.
        i = max(i - 50, 0)
        while i < len(running) and running[i][0] < b:
            rx, ry, rg = running[i]
            o = min(ry, b) - max(rx, a)
            if o > 0: c[kind(rg)] += o; busy += o
            i += 1
        c['(idle or syscall without P)'] += (b - a) - busy
    print("\n== P time during %s (%.1f ms total)" % (label, T/1e6))
    for s, v in c.most_common(9): print("   %5.1f%%  %s" % (100*v/T, s[:150]))
pbreak(gc, "GC mark phases")
# The 30 ms before each mark phase, then the 30 ms after it.
pbreak([(a-30_000_000, a) for a, b in gc], "30 ms before each mark phase")
pbreak([(b, b+30_000_000) for a, b in gc], "30 ms after each mark phase")

print("\n== Running stretches by root function (ms): count p50 p99 max, and total of stretches >= 1 ms")
by = collections.defaultdict(list)
for a, b, g in running: by[kind(g)].append((b-a)/1e6)
for k2, v in sorted(by.items(), key=lambda kv: -sum(kv[1]))[:8]:
    v.sort(); n2 = len(v)
    print("  %-70s n=%6d p50 %.3f p99 %.3f max %.2f  sum>=1ms %.1f ms of %.1f" % (k2[:70], n2, v[n2//2], v[int(n2*.99)], v[-1], sum(x for x in v if x >= 1), sum(v)))
# The longest running stretches that touch a mark phase.
lst = sorted(((b-a)/1e6, kind(g)) for a, b, g in running if any(x < b and y > a for x, y in gc))[-15:]
print("longest stretches touching GC mark:", [("%.1f" % d, k2.split('.')[-1]) for d, k2 in lst])

print("\n== slowest exchanges relative to the nearest GC mark start (ms): start, end, GC length")
for g, a, b in regions[:k]:
    x, y = min(gc, key=lambda w: abs(w[0] - a))
    print("  start %+6.1f end %+6.1f  (mark %.1f)" % ((a-x)/1e6, (b-x)/1e6, (y-x)/1e6))
print("\n== around GC mark start, 5 ms bins: P busy %, mark worker %, exchanges in flight, exchanges started")
for lo in range(-30, 45, 5):
    busy = mw = 0; infl = 0; started = 0
    for x, y in gc:
        a, b = x + lo*1_000_000, x + (lo+5)*1_000_000
        i = max(bisect.bisect_left(rstarts, a) - 60, 0)
        while i < len(running) and running[i][0] < b:
            rx, ry, rg = running[i]
            o = min(ry, b) - max(rx, a)
            if o > 0:
                busy += o
                if 'gcBgMark' in kind(rg): mw += o
            i += 1
        infl += sum(1 for _, ra, rb in regions if ra < b and rb > a)
        started += sum(1 for _, ra, rb in regions if a <= ra < b)
    W = len(gc) * 5e6
    print("  %+4d..%+4d ms  busy %5.1f%%  mark %5.1f%%  in flight %.1f  started %.1f" % (lo, lo+5, 100*busy/W, 100*mw/W, infl/len(gc), started/len(gc)))

print("\n== goroutine states, ms per window-ms x100 (i.e. average number of goroutines x100 in each state), GC mark vs 60 ms before")
exg = set(g for g, _, _ in regions)
def states(windows):
    c = collections.Counter(); W = sum(b-a for a, b in windows)
    for goid, ivs in intervals.items():
        r = kind(goid)
        if 'conn).serve' in r: r = 'gateway conn.serve' if goid in exg else 'other conn.serve (payer)'
        for x, y, s, d in ivs:
            for a, b in windows:
                o = min(y, b) - max(x, a)
                if o > 0:
                    key = s if s != 'Waiting' else 'Waiting ' + d.split('|')[0] + ' ' + d.split('<-')[-1].split('.')[-1][:40]
                    c[(r, key)] += o
    return c, W
cg, Wg = states(gc)
cb, Wb = states([(a-60_000_000, a) for a, b in gc])
keys = set(k2 for k2 in cg if 'netpoll' not in k2[1] and ('Runnable' in k2[1] or 'Syscall' in k2[1] or 'Running' in k2[1] or 'auditlog' in k2[0] or 'Keeper' in k2[0] or 'serve' in k2[0]))
rows = sorted(keys, key=lambda k2: -cg[k2])
for k2 in rows[:30]:
    print("  %-45s %-50s mark %6.1f  before %6.1f" % (k2[0].split('/')[-1][:45], k2[1][:50], 100*cg[k2]/Wg, 100*cb[k2]/Wb))
