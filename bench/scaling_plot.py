#!/usr/bin/env python3
"""Turns bench/scaling.sh's JSONL (one line per round, hidden width and batch) into a Markdown
table of medians with clvae's ratios to the PyTorch peer (its faster thread setting), the JAX peer
and the better of the two, and an SVG plot of samples/s against batch (log axes): one colour per
hidden width, solid for clvae, dashed for PyTorch, dotted for JAX.
Lines look like {"round": 1, "hidden": 400, "batch": 128, "clvae": 30000, "torch": {"1": 20000,
"2": 26000}, "jax": 35000} ("jax": null when it was not measured); the older {"peer": x} lines
(PyTorch at 1 thread, no JAX) are read too.
usage: scaling_plot.py IN.jsonl OUT.md OUT.svg"""
import json
import math
import statistics
import sys
from collections import defaultdict

SYSTEMS = (("clvae", ""), ("PyTorch", ' stroke-dasharray="6,4"'), ("JAX", ' stroke-dasharray="2,3"'))


def load(path):
    """{(hidden, batch): (clvae, torch best, torch threads, jax)} of medians over the rounds
    (0 where a system was not measured)."""
    runs = defaultdict(lambda: {"clvae": [], "torch": defaultdict(list), "jax": []})
    for line in open(path):
        if not line.strip():
            continue
        r = json.loads(line)
        v = runs[(r["hidden"], r["batch"])]
        v["clvae"].append(float(r["clvae"]))
        torch = r.get("torch", {"1": r["peer"]} if "peer" in r else {})
        for threads, sps in torch.items():
            v["torch"][threads].append(float(sps))
        if r.get("jax") is not None:
            v["jax"].append(float(r["jax"]))
    med = lambda xs: statistics.median(xs) if xs else 0.0
    out = {}
    for k, v in runs.items():
        per_thread = {t: med(xs) for t, xs in v["torch"].items()}
        best_t = max(per_thread, key=per_thread.get) if per_thread else ""
        out[k] = (med(v["clvae"]), per_thread.get(best_t, 0.0), best_t, med(v["jax"]))
    return out


def ratio(a, b):
    return "%.2f" % (a / b) if a and b else "n/a"


def table(med):
    rows = ["| hidden | batch | clvae samples/s | PyTorch samples/s (threads) | JAX scan samples/s "
            "| clvae / PyTorch | clvae / JAX | clvae / better peer |",
            "|---|---|---|---|---|---|---|---|"]
    for (h, b) in sorted(med):
        c, t, threads, j = med[(h, b)]
        rows.append("| %d | %d | %.0f | %s | %s | %s | %s | %s |" % (
            h, b, c, "%.0f (%s)" % (t, threads) if t else "n/a", "%.0f" % j if j else "n/a",
            ratio(c, t), ratio(c, j), ratio(c, max(t, j))))
    return "\n".join(rows) + "\n"


def svg(med):
    W, H, L, R, T, B = 680, 440, 70, 170, 20, 50
    hs, bs = sorted({h for h, _ in med}), sorted({b for _, b in med})
    series = lambda v: (v[0], v[1], v[3])   # clvae, PyTorch (best threads), JAX
    vals = [x for v in med.values() for x in series(v) if x > 0] or [1.0]
    lo, hi = math.log10(min(vals) / 1.3), math.log10(max(vals) * 1.3)
    bx = lambda b: L + (W - L - R) * (math.log2(b) - math.log2(bs[0])) / max(math.log2(bs[-1] / bs[0]), 1)
    vy = lambda v: T + (H - T - B) * (1 - (math.log10(v) - lo) / (hi - lo))
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (L, H - B, W - R, H - B),
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (L, T, L, H - B)]
    for b in bs:
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' % (bx(b), H - B + 16, b))
    e = math.floor(lo)
    while e <= hi:
        for m in (1, 2, 5):
            v = m * 10 ** e
            if lo <= math.log10(v) <= hi:
                out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (L, vy(v), W - R, vy(v)))
                out.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>' % (L - 4, vy(v) + 4, v))
        e += 1
    out.append('<text x="%d" y="%d" text-anchor="middle">batch</text>' % ((L + W - R) / 2, H - 12))
    out.append('<text x="16" y="%d" transform="rotate(-90 16 %d)" text-anchor="middle">samples/s</text>' % ((T + H - B) / 2, (T + H - B) / 2))
    row = 0
    for i, h in enumerate(hs):
        for k, (name, dash) in enumerate(SYSTEMS):
            pts = [(bx(b), vy(series(med[(h, b)])[k])) for b in bs if (h, b) in med and series(med[(h, b)])[k] > 0]
            if not pts:
                continue
            out.append('<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>' %
                       (colors[i % 5], dash, " ".join("%.1f,%.1f" % p for p in pts)))
            y = T + 16 + row * 18
            row += 1
            out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>' % (W - R + 10, y - 4, W - R + 36, y - 4, colors[i % 5], dash))
            out.append('<text x="%d" y="%d">%s h=%d</text>' % (W - R + 40, y, name, h))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: scaling_plot.py IN.jsonl OUT.md OUT.svg")
    med = load(sys.argv[1])
    if not med:
        sys.exit("scaling_plot.py: %s holds no measurements" % sys.argv[1])
    open(sys.argv[2], "w").write(table(med))
    open(sys.argv[3], "w").write(svg(med))


if __name__ == "__main__":
    main()
