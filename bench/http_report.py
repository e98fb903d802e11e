"""Prints the bench/http table and writes bench/results/http.json (DESIGN.md §8 shape).

The reference is a bare Hummingbird route behind the same TLS configuration, loaded by the same generator (which signs
every request for both). Medians over the runs; every run's values are kept under "runs"."""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figures import Figures  # noqa: E402

ours = json.load(open(sys.argv[1]))
out_path = sys.argv[2]
figures = Figures()
median = statistics.median
figures.add("signed_read_requests_per_s", median(ours["ours_rps"]), median(ours["bare_rps"]),
            "a bare Hummingbird route, same TLS, same generator", higher=True, target_ratio=0.2, unit="req/s")
figures.add("p99_ms_at_half_max", median(ours["half_p99_ms"]), higher=False, target=25, unit="ms")
figures.add("p50_ms_at_half_max", median(ours["half_p50_ms"]), higher=False, unit="ms")
if "floor_p50_ms" in ours:
    figures.add("p50_ms_at_20_per_s", median(ours["floor_p50_ms"]), higher=False, unit="ms")
    figures.add("p99_ms_at_20_per_s", median(ours["floor_p99_ms"]), higher=False, unit="ms")
figures.add("hundred_ids_request_ms", median(ours["hundred_ids_ms"]), higher=False, unit="ms")
figures.add("resident_memory_mb", ours["rss_peak_mb"], higher=False, target=300, unit="MB")
runs = {k: v for k, v in ours.items() if isinstance(v, list)}
result = {"benchmark": "http", "cores": ours["cores"], "seconds": ours["seconds"], "connections": ours["connections"],
          "suite": ours["suite"], "records": ours["records"], "figures": figures.figures, "runs": runs}
json.dump(result, open(out_path, "w"), indent=2)
print(f"bench/http — signed GET /v1/records/citizen/{{id}} ({ours['suite']} suite, mutual TLS, access event on chain before "
      f"the answer), {ours['connections']} connections for the maximum, open loop at half of it, {ours['seconds']} s per run, "
      f"{ours['cores']} cores (ratio: ours over the bare route)")
figures.print_table()
for key in sorted(k for k in runs if k != "hundred_ids_ms"):
    print(f"  {key}: runs {', '.join(f'{r:.1f}' for r in runs[key])}")
print(f"  hundred_ids_ms: min {min(runs['hundred_ids_ms']):.1f}, median {median(runs['hundred_ids_ms']):.1f}, "
      f"max {max(runs['hundred_ids_ms']):.1f} ({len(runs['hundred_ids_ms'])} requests)")
print(f"wrote {out_path}")
