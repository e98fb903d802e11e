"""Prints the bench/statistics table and writes bench/results/statistics.json (DESIGN.md §8 shape).

Figures are medians of the runs; the spread (min–max) is printed beside them."""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figures import Figures  # noqa: E402

ours = json.load(open(sys.argv[1]))
phe = json.load(open(sys.argv[2]))
out_path = sys.argv[3]
PHE = "python-paillier 1.5 + gmpy2 (sum per group, decrypt with the whole key)"

figures = Figures()
end_to_end = statistics.median(ours["end_to_end_s"])
recompute = statistics.median(ours["recompute_s"])
reference = statistics.median(phe["recompute_s"])
figures.add("statistic_running_sums_s", end_to_end, higher=False, target=3.0, unit="s")
figures.add("recompute_all_values_s", recompute, reference, PHE, higher=False, target_ratio=3.0, unit="s")
# The same recomputation's homomorphic sums alone (ours on all cores; phe is single-threaded), for the breakdown.
figures.add("sum_all_values_s", statistics.median(ours["sum_s"]), statistics.median(phe["sum_s"]), "python-paillier 1.5 + gmpy2 (sums only)",
            higher=False, unit="s")
result = {"benchmark": "statistics", "values": ours["values"], "groups": ours["groups"], "holders": ours["holders"],
          "threshold": ours["threshold"], "bits": ours["bits"], "cores": ours["cores"], "figures": figures.figures,
          "runs": {"end_to_end_s": ours["end_to_end_s"], "recompute_s": ours["recompute_s"], "sum_s": ours["sum_s"],
                   "reference_recompute_s": phe["recompute_s"], "reference_sum_s": phe["sum_s"]}}
json.dump(result, open(out_path, "w"), indent=2)

print(f"bench/statistics — {ours['values']:,} values, {ours['groups']} groups, {ours['holders']} holders, key {ours['threshold']}, "
      f"n = {ours['bits']} bits, {ours['cores']} cores (ratio: times faster than the reference)")
figures.print_table()
for name, runs in [("end to end", ours["end_to_end_s"]), ("recomputation", ours["recompute_s"]), ("sums", ours["sum_s"]),
                   ("phe recomputation", phe["recompute_s"]), ("phe sums", phe["sum_s"])]:
    print(f"  {name}: runs {', '.join(f'{r:.3f}' for r in runs)} s")
print(f"wrote {out_path}")
