"""Prints the bench/tls table and writes bench/results/tls.json (DESIGN.md §8 shape).

The reference is the same node serving plain HTTP; ratios are TLS over plain (below 1: TLS costs that fraction)."""
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
figures.add("keepalive_requests_per_s", median(ours["tls_keepalive_rps"]), median(ours["plain_keepalive_rps"]),
            "the same node over plain HTTP (same route, same load)", higher=True, unit="req/s")
figures.add("new_connection_requests_per_s", median(ours["tls_new_connection_rps"]), median(ours["plain_new_connection_rps"]),
            "the same node over plain HTTP, a new TCP connection per request", higher=True, unit="req/s")
figures.add("full_handshakes_per_s", median(ours["tls_full_handshakes_per_s"]), higher=True, unit="handshakes/s")
result = {"benchmark": "tls", "cores": ours["cores"], "seconds": ours["seconds"], "connections": ours["connections"],
          "figures": figures.figures, "runs": {k: v for k, v in ours.items() if isinstance(v, list)}}
json.dump(result, open(out_path, "w"), indent=2)
print(f"bench/tls — GET /v1/health, wrk 1 thread × {ours['connections']} connections, {ours['seconds']} s per run, "
      f"{ours['cores']} cores (ratio: TLS over plain HTTP)")
figures.print_table()
for key in sorted(k for k, v in ours.items() if isinstance(v, list)):
    print(f"  {key}: runs {', '.join(f'{r:.0f}' for r in ours[key])}")
print(f"wrote {out_path}")
