#!/usr/bin/env python3
"""Summary of one bench/device-check.sh run: reads its result folder (steps.tsv, devices.txt,
check.txt, MODEL.{clvae,torch,jax}.json), prints the step list and one Markdown table (samples/s of
clvae, the PyTorch peer and the JAX peer per model, clvae / the better peer) and writes one JSON
file. Standard library only (it runs with whatever python3 the GPU machine has).
usage: device_check_report.py RESDIR OUT.json MODE HOST NETWORK SECONDS BUDGET BUNDLE
Exit 0 when the build, the check and every clvae bench passed, else 1."""
import json
import os
import re
import sys

MODELS = [("default", 400, 128), ("wide", 2048, 2048)]


def last_json(path):
    """The last JSON object line of a file (the peers print one per epoch: the last counts)."""
    try:
        lines = [l for l in open(path) if l.lstrip().startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def read_text(path):
    try:
        return open(path).read()
    except OSError:
        return ""


def main():
    res, out, mode, host, network, seconds, budget, bundle = sys.argv[1:9]
    steps = []
    for line in read_text(os.path.join(res, "steps.tsv")).splitlines():
        f = line.split("\t") + ["", "", "", ""]
        steps.append({"step": f[0], "status": f[1], "seconds": float(f[2] or 0), "note": f[3]})
    status = {s["step"]: s["status"] for s in steps}
    check_txt = read_text(os.path.join(res, "check.txt"))
    m = re.search(r"check: (\d+) passed, (\d+) failed", check_txt)
    check = {"status": status.get("check", "not run"),
             "passed": int(m.group(1)) if m else None, "failed": int(m.group(2)) if m else None}
    rows, bench = [], []
    for name, hidden, batch in MODELS:
        r = {"model": name, "hidden": hidden, "batch": batch}
        for system in ("clvae", "torch", "jax"):
            j = last_json(os.path.join(res, "%s.%s.json" % (name, system)))
            r[system] = j
        sps = {k: (r[k] or {}).get("samples_per_s") for k in ("clvae", "torch", "jax")}
        peers = [v for v in (sps["torch"], sps["jax"]) if v]
        r["clvae_over_better_peer"] = round(sps["clvae"] / max(peers), 3) if sps["clvae"] and peers else None
        bench.append(r)
        fmt = lambda v: "%.0f" % v if v else "-"
        dev = lambda k: " (%s)" % r[k]["device"] if r[k] and r[k].get("device") else ""
        rows.append("| %s (h%d, b%d) | %s%s | %s%s | %s%s | %s |" % (
            name, hidden, batch, fmt(sps["clvae"]), dev("clvae"), fmt(sps["torch"]), dev("torch"),
            fmt(sps["jax"]), dev("jax"),
            "%.2f" % r["clvae_over_better_peer"] if r["clvae_over_better_peer"] else "-"))
    ok = (status.get("build") == "ok" and check["status"] == "ok" and check["failed"] == 0
          and all(status.get("bench-%s-clvae" % n) == "ok" for n, _, _ in MODELS))
    report = {"mode": mode, "host": host, "network": network, "seconds": int(seconds), "budget_s": int(budget),
              "bundle": bundle, "ok": ok, "steps": steps, "check": check,
              "platforms": read_text(os.path.join(res, "devices.txt")).splitlines(), "bench": bench}
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
        f.write("\n")
    print("== steps")
    for s in steps:
        print("  %-20s %-18s %7.1f s  %s" % (s["step"], s["status"], s["seconds"], s["note"]))
    print("  check: %s passed, %s failed" % (check["passed"], check["failed"]))
    print("== training throughput, samples/s (%s, %s s of %s)" % (mode, seconds, budget))
    print("| model | clvae | PyTorch | JAX scan | clvae / better peer |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print("device check: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
