"""Shared by the bench reports: one figure in the DESIGN.md §8 shape, and the printed table.

ratio = how many times better ours is than the reference: ours/reference for rates, reference/ours for times.
A figure with no reference states its absolute target instead."""


class Figures:
    def __init__(self):
        self.figures = []

    def add(self, name, value, reference=None, reference_name=None, higher=True, target_ratio=None, target=None, unit=""):
        f = {"name": name, "ours": round(value, 3), "reference": None if reference is None else round(reference, 3),
             "reference_name": reference_name if reference is not None else None, "higher_is_better": higher, "unit": unit}
        if reference is not None:
            f["ratio"] = round(value / reference if higher else reference / value, 3)
            f["target_ratio"] = target_ratio
        else:
            f["ratio"] = None
            f["target"] = target
        self.figures.append(f)

    def print_table(self, width=28):
        print(f"{'figure':{width}} {'ours':>12} {'reference':>12} {'ratio':>8} {'target':>10}")
        for f in self.figures:
            reference = "—" if f["reference"] is None else f"{f['reference']:,.2f}"
            ratio = "—" if f["ratio"] is None else f"{f['ratio']:.2f}×"
            if f["reference"] is None:
                target = "—" if f.get("target") is None else f"{'≥' if f['higher_is_better'] else '≤'}{f['target']:g}{f['unit']}"
            else:
                target = "—" if f.get("target_ratio") is None else f"≥{f['target_ratio']:g}×"
            print(f"{f['name']:{width}} {f['ours']:>12,.2f} {reference:>12} {ratio:>8} {target:>10}")
