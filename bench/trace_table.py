#!/usr/bin/env python3
"""Per-kernel table of a `clvae bench --profile` trace: device time per step (mean over the
recorded steps), launches per step and share of the step's compute-queue time.
usage: bench/trace_table.py TRACE.json [TRACE2.json]   (two traces: before/after side by side)"""
import json
import sys
from collections import defaultdict


def table(path):
    t = json.load(open(path))
    ev = t["traceEvents"] if isinstance(t, dict) else t
    per = defaultdict(float)
    cnt = defaultdict(int)
    steps = set()
    for e in ev:
        if e.get("ph") != "X" or e.get("cat") != "compute queue":
            continue
        steps.add(e["args"]["step"])
        per[e["name"]] += e["dur"]
        cnt[e["name"]] += 1
    n = max(len(steps), 1)
    return {k: (per[k] / n / 1000.0, cnt[k] / n) for k in per}, n


def main():
    tabs = [table(p) for p in sys.argv[1:]]
    names = sorted(set().union(*[t[0].keys() for t in tabs]),
                   key=lambda k: -max(t[0].get(k, (0, 0))[0] for t in tabs))
    head = "| kernel |" + "".join(" ms/step | launches | share |" for _ in tabs)
    print(head)
    print("|---|" + "---|---|---|" * len(tabs))
    totals = [sum(v[0] for v in t[0].values()) for t in tabs]
    for k in names:
        row = "| %s |" % k
        for t, tot in zip(tabs, totals):
            ms, c = t[0].get(k, (0.0, 0))
            row += " %.3f | %g | %.1f%% |" % (ms, c, 100 * ms / tot if tot else 0)
        print(row)
    row = "| total |"
    for t, tot in zip(tabs, totals):
        gemm = t[0].get("gemm", (0, 0))[0]
        row += " %.3f | %g | non-GEMM %.1f%% |" % (tot, sum(v[1] for v in t[0].values()),
                                                  100 * (tot - gemm) / tot if tot else 0)
    print(row)
    print("steps recorded: " + ", ".join(str(t[1]) for t in tabs))


if __name__ == "__main__":
    main()
