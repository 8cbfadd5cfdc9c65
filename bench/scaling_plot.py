#!/usr/bin/env python3
"""Turns bench/scaling.sh's JSONL (one line per round, hidden width and batch) into a Markdown
table of medians with the clvae / peer ratio, and an SVG plot of samples/s against batch (log
axes), one solid line per hidden width for clvae and a dashed one for the peer.
usage: scaling_plot.py IN.jsonl OUT.md OUT.svg"""
import json
import math
import statistics
import sys
from collections import defaultdict


def load(path):
    runs = defaultdict(lambda: {"clvae": [], "peer": []})
    for line in open(path):
        if line.strip():
            r = json.loads(line)
            runs[(r["hidden"], r["batch"])]["clvae"].append(float(r["clvae"]))
            runs[(r["hidden"], r["batch"])]["peer"].append(float(r["peer"]))
    return {k: (statistics.median(v["clvae"]), statistics.median(v["peer"])) for k, v in runs.items()}


def table(med):
    rows = ["| hidden | batch | clvae samples/s | peer samples/s | clvae / peer |", "|---|---|---|---|---|"]
    for (h, b) in sorted(med):
        c, p = med[(h, b)]
        rows.append("| %d | %d | %.0f | %.0f | %s |" % (h, b, c, p, "%.2f" % (c / p) if p else "n/a"))
    return "\n".join(rows) + "\n"


def svg(med):
    W, H, L, R, T, B = 640, 420, 70, 150, 20, 50
    hs, bs = sorted({h for h, _ in med}), sorted({b for _, b in med})
    vals = [v for cp in med.values() for v in cp if v > 0]
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
    for i, h in enumerate(hs):
        for k, (name, dash) in enumerate((("clvae", ""), ("peer", ' stroke-dasharray="6,4"'))):
            pts = [(bx(b), vy(med[(h, b)][k])) for b in bs if (h, b) in med and med[(h, b)][k] > 0]
            if not pts:
                continue
            out.append('<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>' %
                       (colors[i % 5], dash, " ".join("%.1f,%.1f" % p for p in pts)))
            y = T + 16 + (2 * i + k) * 18
            out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>' % (W - R + 10, y - 4, W - R + 36, y - 4, colors[i % 5], dash))
            out.append('<text x="%d" y="%d">%s h=%d</text>' % (W - R + 40, y, name, h))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    med = load(sys.argv[1])
    open(sys.argv[2], "w").write(table(med))
    open(sys.argv[3], "w").write(svg(med))


if __name__ == "__main__":
    main()
