"""The reference side of bench/statistics: python-paillier 1.5 with gmpy2 sums the same ciphertexts per district and
decrypts the sums with the whole key (it has no threshold decryption).

Reads <work>/reference.json (n, p, q, the 256 obfuscators, the expected sums) and <work>/values.bin (little-endian
int32 incomes); value i is in district i mod 10 (and age band (i div 30) mod 4 with GROUP_BY=district,age_band); its ciphertext is (1 + m·n) · obfuscator[i mod 256] mod n², as
ours. Building the ciphertexts is not timed. Prints {"recompute_s": [...]}."""
import json
import struct
import sys
import time

import gmpy2
from phe import paillier, EncryptedNumber

work, runs = sys.argv[1], int(sys.argv[2])
spec = json.load(open(f"{work}/reference.json"))
n = gmpy2.mpz(spec["n"])
nsquare = n * n
pk = paillier.PaillierPublicKey(int(n))
sk = paillier.PaillierPrivateKey(pk, int(spec["p"]), int(spec["q"]))
obfuscators = [gmpy2.mpz(o) for o in spec["obfuscators"]]
raw = open(f"{work}/values.bin", "rb").read()
values = struct.unpack(f"<{len(raw) // 4}i", raw)
groups = spec["groups"]

print(f"[bench] phe: building {len(values)} ciphertexts (not timed)", file=sys.stderr, flush=True)
ciphertexts = [[] for _ in range(groups)]
for i, m in enumerate(values):
    c = gmpy2.f_mod((1 + m * n) * obfuscators[i % 256], nsquare)
    # Value i is in district i mod 10 and age band (i div 30) mod 4, as ours.
    g = (i % 10) * 4 + (i // 30) % 4 if spec.get("by_band") else i % 10
    ciphertexts[g].append(EncryptedNumber(pk, int(c), 0))

timings = []
summing = []
for run in range(runs):
    started = time.perf_counter()
    sums = []
    for group in ciphertexts:
        total = group[0]
        for c in group[1:]:
            total = total + c
        sums.append(total)
    summed = time.perf_counter() - started
    decrypted = [sk.decrypt(s) for s in sums]
    timings.append(time.perf_counter() - started)
    summing.append(summed)
    if decrypted != spec["expected"]:
        sys.exit("phe's sums differ from the plaintext: the benchmark compared different work")
    print(f"[bench] phe: recomputation {timings[-1]:.3f} s (sums {summed:.3f} s)", file=sys.stderr, flush=True)
print(json.dumps({"recompute_s": timings, "sum_s": summing}))
