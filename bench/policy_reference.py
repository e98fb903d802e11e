"""The reference side of bench/policy: cedarpy (the Cedar engine, Rust, called from Python) on the same workload.

Prints JSON: the decisions and determining policies (by @id), the batch wall time per decision (includes Python and
JSON conversion overhead) and Cedar's own per-request authorization time (metrics.authz_duration_micros, whole µs).
Usage: policy_reference.py WORKLOAD.json ROUNDS"""
import json
import statistics
import sys
import time

import cedarpy

workload = json.load(open(sys.argv[1]))
rounds = int(sys.argv[2])
requests, policies, entities = workload["requests"], workload["policies"], workload["entities"]

best = float("inf")
internal = []
results = None
for _ in range(rounds):
    start = time.perf_counter()
    results = cedarpy.is_authorized_batch(requests, policies, entities)
    best = min(best, time.perf_counter() - start)
    internal += [r.metrics["authz_duration_micros"] for r in results]
internal.sort()
print(json.dumps({
    "decisions": [r.allowed for r in results],
    "determining": [sorted(r.diagnostics.id_annotations_by_reason.get(p, p) for p in r.diagnostics.reasons) for r in results],
    "batch_per_s": len(requests) / best,
    "internal_p50_us": float(statistics.median(internal)),
    "internal_p99_us": float(internal[min(len(internal) - 1, len(internal) * 99 // 100)]),
    "errors": sum(len(r.diagnostics.errors) for r in results),
}))
