"""Prints the bench/chain table and writes bench/results/chain.json (DESIGN.md §8 shape).

The reference of the signed-transaction figure is the machine's signature-verification rate measured in the same
run, divided by the number of validators (every validator verifies every transaction once, and they all share this
machine's cores): the most any chain could commit here. Latency and event figures have absolute targets."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figures import Figures  # noqa: E402

out_path = sys.argv[1]
loaded = [json.load(open(path)) for path in sys.argv[2:]]
runs = [run for run in loaded if run.get("kind") != "restart"]
restarts = [run for run in loaded if run.get("kind") == "restart"]
figures = Figures()
figure = figures.add

for run in runs:
    n, suite = run["validators"], run["suite"]
    tag = f"{suite}_n{n}"
    events_target = 10_000.0 if n == 4 else None
    figure(f"events_per_s_max_{tag}", run["events_max"]["events_per_s"], target=events_target, unit="/s")
    figure(f"events_p50_ms_max_{tag}", run["events_max"]["p50_ms"], higher=False, unit="ms")
    figure(f"events_p99_ms_max_{tag}", run["events_max"]["p99_ms"], higher=False, unit="ms")
    figure(f"events_per_s_half_{tag}", run["events_half"]["events_per_s"], unit="/s")
    figure(f"events_p50_ms_half_{tag}", run["events_half"]["p50_ms"], higher=False, unit="ms")
    figure(f"events_p99_ms_half_{tag}", run["events_half"]["p99_ms"], higher=False, target=1000.0, unit="ms")
    if run.get("events_one_down"):
        figure(f"events_per_s_one_validator_down_{tag}", run["events_one_down"]["events_per_s"], run["events_max"]["events_per_s"],
               reference_name="all validators up, same run", target_ratio=0.5, unit="/s")
        figure(f"events_p99_ms_one_validator_down_{tag}", run["events_one_down"]["p99_ms"], higher=False, unit="ms")
    limit = run["verify_per_s"] / n
    figure(f"signed_tx_per_s_{tag}", run["transactions_max"]["events_per_s"], limit,
           reference_name=f"signature verification limit: {run['verify_per_s']:.0f} verify/s on {run['verify_threads']} cores ÷ {n} validator(s)",
           target_ratio=0.7 if n == 4 else None, unit="/s")

# Restart: median of the runs at each chain length; the reference is the same node restarting on an empty chain in
# the same run. Listening has an absolute target (5 s whatever the length); readiness grows with the chain.
def median(values):
    return sorted(values)[len(values) // 2]


for suite in sorted({r["suite"] for r in restarts}):
    by_blocks = {r["blocks"]: r["runs"] for r in restarts if r["suite"] == suite}
    empty = by_blocks.get(0)
    for blocks in sorted(by_blocks):
        listen = [m["listen_s"] for m in by_blocks[blocks]]
        ready = [m["ready_s"] for m in by_blocks[blocks]]
        spread = f"runs {min(listen):.2f}–{max(listen):.2f} s"
        figure(f"restart_listen_s_{blocks}_blocks_{suite}", median(listen), target=5.0, higher=False, unit="s")
        figures.figures[-1]["spread"] = spread
        if empty and blocks:
            figure(f"restart_ready_s_{blocks}_blocks_{suite}", median(ready), median([m["ready_s"] for m in empty]),
                   reference_name="the same node restarting on an empty chain, same run", higher=False, unit="s")
        else:
            figure(f"restart_ready_s_{blocks}_blocks_{suite}", median(ready), higher=False, unit="s")
        figures.figures[-1]["spread"] = f"runs {min(ready):.2f}–{max(ready):.2f} s"

json.dump({"benchmark": "chain", "cores": os.cpu_count(), "figures": figures.figures}, open(out_path, "w"), indent=2)

print(f"bench/chain — {os.cpu_count()} cores shared by all validators")
figures.print_table(width=34)
print(f"wrote {out_path}")
