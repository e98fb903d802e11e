"""The reference side of bench/paillier: python-paillier 1.5 with gmpy2, on the same key and inputs as ours.

Reads {"n", "p", "q", "sum_count", ...} on stdin, prints one JSON object of figures on stdout."""
import json
import sys
import time

import gmpy2
from phe import paillier, EncryptedNumber

spec = json.load(sys.stdin)
n = int(spec["n"])
pk = paillier.PaillierPublicKey(n)
sk = paillier.PaillierPrivateKey(pk, int(spec["p"]), int(spec["q"]))
out = {}

def best(body, rounds=3):
    """Fastest of `rounds` timings, as ours takes (gateway-bench `best`)."""
    fastest = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        body()
        fastest = min(fastest, time.perf_counter() - t)
    return fastest

def log(message):
    print("[bench] phe: " + message, file=sys.stderr, flush=True)

log("key generation ×3")
t = time.perf_counter()
for _ in range(3):
    paillier.generate_paillier_keypair(n_length=spec["bits"])
out["keygen_s"] = (time.perf_counter() - t) / 3

log("encryption ×300 (phe is single-threaded)")
t = time.perf_counter()
ciphertexts = [pk.encrypt(i * 1000 - 200000) for i in range(300)]
out["encrypt_per_s"] = 300 / (time.perf_counter() - t)

log("decryption ×300")
out["decrypt_per_s"] = 300 / best(lambda: [sk.decrypt(c) for c in ciphertexts])

log("addition ×50000")
def add_many():
    acc = ciphertexts[0]
    for i in range(50000):
        acc = acc + ciphertexts[i % 300]
out["add_per_s"] = 50000 / best(add_many)

count = spec["sum_count"]
log(f"sum of {count} ciphertexts")
nsquare = n * n
x = gmpy2.mpz(3)
sequence = []
for _ in range(count):
    x = gmpy2.powmod(x, 2, nsquare)
    sequence.append(EncryptedNumber(pk, int(x), 0))
def sum_all():
    global total
    total = sequence[0]
    for c in sequence[1:]:
        total = total + c
out["sum_s"] = best(sum_all)
out["sum_residue"] = str(sk.raw_decrypt(total.ciphertext(be_secure=False)))
print(json.dumps(out))
