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
runs = [json.load(open(path)) for path in sys.argv[2:]]
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
    limit = run["verify_per_s"] / n
    figure(f"signed_tx_per_s_{tag}", run["transactions_max"]["events_per_s"], limit,
           reference_name=f"signature verification limit: {run['verify_per_s']:.0f} verify/s on {run['verify_threads']} cores ÷ {n} validator(s)",
           target_ratio=0.7 if n == 4 else None, unit="/s")

json.dump({"benchmark": "chain", "cores": os.cpu_count(), "figures": figures.figures}, open(out_path, "w"), indent=2)

print(f"bench/chain — {os.cpu_count()} cores shared by all validators")
figures.print_table(width=34)
print(f"wrote {out_path}")
