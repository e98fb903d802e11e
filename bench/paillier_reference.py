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
t = time.perf_counter()
for c in ciphertexts:
    sk.decrypt(c)
out["decrypt_per_s"] = 300 / (time.perf_counter() - t)

log("addition ×50000")
acc = ciphertexts[0]
t = time.perf_counter()
for i in range(50000):
    acc = acc + ciphertexts[i % 300]
out["add_per_s"] = 50000 / (time.perf_counter() - t)

count = spec["sum_count"]
log(f"sum of {count} ciphertexts")
nsquare = n * n
x = gmpy2.mpz(3)
sequence = []
for _ in range(count):
    x = gmpy2.powmod(x, 2, nsquare)
    sequence.append(EncryptedNumber(pk, int(x), 0))
t = time.perf_counter()
total = sequence[0]
for c in sequence[1:]:
    total = total + c
out["sum_s"] = time.perf_counter() - t
out["sum_residue"] = str(sk.raw_decrypt(total.ciphertext(be_secure=False)))
print(json.dumps(out))
