#!/usr/bin/env python3
"""Turns loadgen RESULT lines into medians and the bench table.

  table.py --brief                     < one RESULT line   -> short summary
  table.py --median SCEN SERVER KEY    < results file      -> median value
  table.py --table                     < results file      -> the table
"""
import statistics
import sys

# Which numbers matter for each kind of scenario, and whether higher is
# better (1), lower is better (-1), or neither, so no ratio is shown (0).
METRICS = {
    "max": [("deliveries_per_s", "deliv/s", 1), ("loss_pct", "loss %", -1),
            ("lat_p99_us", "p99 us", -1), ("srv_cpu_us_per_delivery", "cpu us/deliv", -1),
            ("srv_hwm_kb", "peak rss kB", -1)],
    "half": [("msgs_per_s", "msg/s", 1), ("lat_p50_us", "p50 us", -1), ("lat_p99_us", "p99 us", -1),
             ("lat_p999_us", "p999 us", -1), ("loss_pct", "loss %", -1),
             ("srv_cpu_us_per_delivery", "cpu us/deliv", -1)],
    "rooms-1s": [("deliveries_per_s", "deliv/s", 1), ("loss_pct", "loss %", -1),
                 ("lat_p50_us", "p50 us", -1), ("lat_p99_us", "p99 us", -1),
                 ("srv_cpu_pct", "server cpu %", -1)],
    "rooms-max": [("deliveries_per_s", "deliv/s", 1), ("loss_pct", "loss %", -1),
                  ("lat_p99_us", "p99 us", -1), ("srv_cpu_us_per_delivery", "cpu us/deliv", -1)],
    "idle": [("connected", "connected", 1), ("srv_rss_per_conn_b", "rss B/conn", -1),
             ("srv_rss_conn_kb", "rss kB", -1)],
    "churn": [("joins_leaves_per_s", "joins+leaves/s", 1), ("events_per_s", "events/s", 1),
              ("cpu_us_per_join_leave", "cpu us/join+leave", -1), ("fails", "failed conns", -1)],
    "slow": [("loss_pct", "healthy loss %", -1), ("lat_p99_us", "healthy p99 us", -1),
             ("slow_closed", "slow cut off", 0), ("slow_received", "slow got", 0),
             ("srv_hwm_kb", "peak rss kB", -1)],
}


def parse(line):
    d = {}
    for tok in line.split()[1:]:
        if "=" in tok:
            k, v = tok.split("=", 1)
            d[k] = v
    return d


def kind(label):
    if label.endswith("-max") and label.startswith("fanout"):
        return "max"
    if label.endswith("-half"):
        return "half"
    for k in ("rooms-1s", "rooms-max", "idle", "slow", "churn"):
        if label.startswith(k):
            return k
    return "max"


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(x):
    if x is None:
        return "-"
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 1:
        return "%.2f" % x
    return "%.3g" % x


def load(stream):
    rows, notes = [], []
    for line in stream:
        if line.startswith("RESULT "):
            rows.append(parse(line))
        elif line.startswith("NOTE "):
            notes.append(line[5:].strip())
    return rows, notes


def median(rows, scen, server, key):
    vals = [num(r.get(key)) for r in rows if r.get("label") == scen and r.get("server") == server]
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def table(rows, notes):
    scens, servers = [], []
    for r in rows:
        if r["label"] not in scens:
            scens.append(r["label"])
        if r.get("server") not in servers:
            servers.append(r.get("server"))
    base = "switchboard" if "switchboard" in servers else (servers[0] if servers else None)
    peers = [s for s in servers if s != base]
    head = ["scenario", "metric"] + servers + ["%s/%s" % (base, p) for p in peers]
    out = [head]
    for sc in scens:
        # the machine's load during the run, to read the rest against
        for key, name, better in METRICS[kind(sc)] + [("loadavg", "load avg", 0)]:
            vals = {s: median(rows, sc, s, key) for s in servers}
            line = [sc, name] + [fmt(vals[s]) for s in servers]
            for p in peers:
                b, v = vals.get(base), vals.get(p)
                # -1 means "not measured": no ratio against it
                ok = better and b is not None and b >= 0 and v is not None and v > 0
                line.append("x%.2f" % (b / v) if ok else "-")
            out.append(line)
    widths = [max(len(r[i]) for r in out) for i in range(len(head))]
    reps = max((int(r.get("rep", 1)) for r in rows), default=0)
    print("\nMedians of %d repetition(s) per server; ratios are %s's value over each peer's." % (reps, base))
    if base != "switchboard":
        print("switchboard was not measured: ratios use %s as the base." % base)
    for i, r in enumerate(out):
        print("  ".join(c.ljust(widths[j]) if j < 2 else c.rjust(widths[j]) for j, c in enumerate(r)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for n in dict.fromkeys(notes):
        print("note:", n)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "--table"
    if mode == "--brief":
        d = parse(sys.stdin.readline())
        print("%s/%s conn, %s msg/s, %s deliv/s, loss %s%%, p50 %s us, p99 %s us, cpu %s%% (%s us/deliv), "
              "rss %s kB" % (d.get("connected"), d.get("conns"), d.get("msgs_per_s"),
                             d.get("deliveries_per_s"), d.get("loss_pct"), d.get("lat_p50_us"),
                             d.get("lat_p99_us"), d.get("srv_cpu_pct"), d.get("srv_cpu_us_per_delivery"),
                             d.get("srv_rss_end_kb")))
    elif mode == "--median":
        rows, _ = load(sys.stdin)
        m = median(rows, sys.argv[2], sys.argv[3], sys.argv[4])
        print("" if m is None else m)
    else:
        rows, notes = load(sys.stdin)
        table(rows, notes)


if __name__ == "__main__":
    main()
