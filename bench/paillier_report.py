"""Prints the bench/paillier table and writes bench/results/paillier.json (DESIGN.md §8 shape).

ratio = how many times better ours is than the reference: ours/reference for rates, reference/ours for times."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from figures import Figures  # noqa: E402

ours = json.load(open(sys.argv[1]))
phe = json.load(open(sys.argv[2]))
sigs = json.load(open(sys.argv[3]))
speed = open(sys.argv[4]).read()
out_path = sys.argv[5]

if ours["sum_residue"] != phe["sum_residue"]:
    sys.exit("sum of the shared sequence differs between ours and phe: the benchmark compared different work")

PHE = "python-paillier 1.5 + gmpy2"

figures = Figures()


def figure(name, value, reference=None, higher=True, target_ratio=None, target=None, reference_name=PHE, unit=""):
    figures.add(name, value, reference, reference_name, higher, target_ratio, target, unit)


figure("keygen_s", ours["keygen_s"], phe["keygen_s"], higher=False, unit="s")
figure("encrypt_per_s", ours["encrypt_per_s"], phe["encrypt_per_s"], target_ratio=10.0, unit="/s")
figure("encrypt_per_s_1core", ours["encrypt_per_s_1core"], phe["encrypt_per_s"], unit="/s")
figure("encrypt_plain_per_s_1core", ours["encrypt_plain_per_s_1core"], phe["encrypt_per_s"], unit="/s")
figure("encrypt_online_us", ours["encrypt_online_us"], higher=False, target=50.0, unit="µs")
figure("decrypt_per_s", ours["decrypt_per_s"], phe["decrypt_per_s"], target_ratio=2.0, unit="/s")
figure("add_per_s", ours["add_per_s"], phe["add_per_s"], unit="/s")
figure("sum_100k_s", ours["sum_s"], phe["sum_s"], higher=False, target_ratio=3.0, unit="s")
figure("threshold_deal_s", ours["threshold_deal_s"], higher=False, target=300.0, unit="s")
figure("threshold_partial_per_s", ours["threshold_partial_per_s"], target=20.0, unit="/s")
# A statistics query with 10 groups: each party's partials in ≤ 0.5 s, the combination (with proof checks) in ≤ 1 s.
figure("threshold_combine_per_s", ours["threshold_combine_per_s"], target=10.0, unit="/s")

def openssl_rate(label):
    for line in speed.splitlines():
        if label in line:
            numbers = re.findall(r"[0-9]+\.[0-9]+", line)
            return float(numbers[-2]), float(numbers[-1])
    sys.exit(f"openssl speed printed no {label} line")

for name, label in [("sm2", "SM2"), ("ed25519", "Ed25519"), ("p256", "nistp256")]:
    sign, verify = openssl_rate(label)
    figure(f"{name}_sign_per_s", sigs[f"{name}_sign_per_s"], sign, reference_name="openssl speed (OpenSSL 3.0)", unit="/s")
    figure(f"{name}_verify_per_s", sigs[f"{name}_verify_per_s"], verify, reference_name="openssl speed (OpenSSL 3.0)", unit="/s")

json.dump({"benchmark": "paillier", "bits": ours["bits"], "cores": ours["cores"], "figures": figures.figures}, open(out_path, "w"), indent=2)

print(f"bench/paillier — n = {ours['bits']} bits, {ours['cores']} cores (ratio: times better than the reference)")
figures.print_table()
print(f"wrote {out_path}")
