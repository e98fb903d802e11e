"""Prints the bench/policy table and writes bench/results/policy.json (DESIGN.md §8 shape).

Arguments: out.json, then per policy count: COUNT OURS.json REFERENCE.json. Before any figure is reported the two
engines' decisions and determining policies must agree on every request: otherwise they did different work."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figures import Figures  # noqa: E402

out_path = sys.argv[1]
runs = [(int(sys.argv[i]), json.load(open(sys.argv[i + 1])), json.load(open(sys.argv[i + 2]))) for i in range(2, len(sys.argv), 3)]

figures = Figures()
INTERNAL = "Cedar 4 (Rust) authz_duration_micros, via cedarpy 4.12.2"
BATCH = "cedarpy 4.12.2 is_authorized_batch (incl. Python overhead)"
for count, ours, ref in runs:
    if ours["decisions"] != ref["decisions"] or ours["determining"] != ref["determining"]:
        bad = next(i for i in range(len(ours["decisions"]))
                   if ours["decisions"][i] != ref["decisions"][i] or ours["determining"][i] != ref["determining"][i])
        sys.exit(f"{count} policies: request {bad} decided differently (ours {ours['determining'][bad]}, "
                 f"cedar {ref['determining'][bad]}): the benchmark compared different work")
    figures.add(f"p50_us_{count}", ours["p50_us"], ref["internal_p50_us"], INTERNAL, higher=False,
                target_ratio=2.0, unit="µs")
    figures.add(f"p99_us_{count}", ours["p99_us"], ref["internal_p99_us"], INTERNAL, higher=False, unit="µs")
    figures.add(f"decisions_per_s_{count}", ours["per_s"], ref["batch_per_s"], BATCH, unit="/s")
    if count == 100:
        figures.add("p50_us_100_absolute", ours["p50_us"], higher=False, target=2.0, unit="µs")

json.dump({"benchmark": "policy", "requests": runs[0][1]["requests"], "figures": figures.figures}, open(out_path, "w"), indent=2)
print(f"bench/policy — {runs[0][1]['requests']} requests per policy count, decisions identical to Cedar's "
      f"(ratio: times better than the reference; Cedar's own timing has 1 µs resolution, cedarpy's batch includes Python)")
figures.print_table()
print(f"wrote {out_path}")
