"""bench/heavy-bodies: /v1/health latency on a live node while it is sent the heaviest bodies it accepts in bytes.

    heavy_bodies.py <base-url> <key-pem> <department> <seconds> <out.json>

Four clients each send, back to back for SECONDS, a signed POST /v1/records/citizen: 8 MB of four million small
numbers (the body that once took 18 s of CPU and left health unanswered for a minute); 8 MB of 240,000 short
strings (a body that parses within the element limit, so it is parsed in full and then refused by the shape check);
or 5,000 valid records (the heaviest valid publish: validation, sealing, 10,000 Paillier encryptions, the chain). Meanwhile
one client asks /v1/health every 50 ms. The reference, in the same run on the same node, is health with no other
request in flight. Target: every health answer within 1 s under load."""
import base64
import hashlib
import json
import os
import sys
import threading
import time

import requests
from cryptography.hazmat.primitives.serialization import load_pem_private_key

base, key_path, department, seconds, out_path = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
key = load_pem_private_key(open(key_path, "rb").read(), password=None)
BODY_MAX = 8 * 1024 * 1024


def signed_headers(method, target, body):
    """RFC 9421 (ed25519) over @method, @target-uri and content-digest, as a department signs."""
    quoted = lambda text: '"' + text + '"'
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
    components = ["@method", "@target-uri", "content-digest"]
    params = "(" + " ".join(quoted(c) for c in components) + ")" + \
        f";created={int(time.time())};nonce={quoted(os.urandom(16).hex())};keyid={quoted(department)};alg=\"ed25519\""
    base_lines = [f'"@method": {method}', f'"@target-uri": {base + target}', f'"content-digest": {digest}', f'"@signature-params": {params}']
    signature = base64.b64encode(key.sign("\n".join(base_lines).encode())).decode()
    return {"Content-Digest": digest, "Content-Type": "application/json", "Signature-Input": "sig1=" + params,
            "Signature": f"sig1=:{signature}:"}


def fill(prefix, item, suffix):
    count = (BODY_MAX - len(prefix) - len(suffix)) // (len(item) + 1)
    body = prefix + b",".join([item] * count) + suffix
    assert len(body) <= BODY_MAX
    return body


BODIES = {
    "numbers": fill(b'{"records":[', b"0", b"]}"),
    "strings": b'{"records":[' + b",".join([b'"' + b"x" * 30 + b'"'] * 240_000) + b"]}",
}


def health_latencies(stop_at, out):
    session = requests.Session()
    while time.monotonic() < stop_at:
        start = time.monotonic()
        answer = session.get(base + "/v1/health", timeout=60)
        out.append(time.monotonic() - start)
        assert answer.status_code == 200, answer.status_code
        time.sleep(0.05)


DISTRICTS = ["fatima", "santo_antonio", "sao_lazaro", "se", "sao_lourenco", "taipa", "coloane"]
BANDS = ["0-17", "18-34", "35-64", "65+"]
next_batch = [0]
batch_lock = threading.Lock()


def records_body():
    """The heaviest valid publish: 5,000 records (the most one request may carry), each validated, sealed and with
    two Paillier-encrypted aggregate fields; ids never repeat within a run."""
    with batch_lock:
        batch = next_batch[0]
        next_batch[0] += 1
    records = [{"citizen_id": f"C{batch * 5000 + i:07d}", "full_name": "Heavy Body Test Citizen " + "x" * 150,
                "birth_date": "1980-01-01", "sex": "F", "district": DISTRICTS[i % 7], "age_band": BANDS[i % 4],
                "monthly_income": 1000 + i, "household_size": 1 + i % 5} for i in range(5000)]
    return json.dumps({"records": records}).encode()


def sender(kind, stop_at, statuses, cpu):
    session = requests.Session()
    while time.monotonic() < stop_at:
        body = records_body() if kind == "records" else BODIES[kind]
        headers = signed_headers("POST", "/v1/records/citizen", body)
        start = time.monotonic()
        answer = session.post(base + "/v1/records/citizen", data=body, headers=headers, timeout=300)
        cpu.append(time.monotonic() - start)
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


results = {}
idle = []
print(f"[heavy] reference: /v1/health with nothing else in flight, {seconds:.0f} s", file=sys.stderr)
health_latencies(time.monotonic() + seconds, idle)
results["idle"] = {"p50_ms": percentile(idle, 0.5) * 1e3, "p99_ms": percentile(idle, 0.99) * 1e3, "max_ms": max(idle) * 1e3,
                   "samples": len(idle)}
for kind in ("numbers", "strings", "records"):
    print(f"[heavy] four clients sending bodies of {kind} for {seconds:.0f} s while /v1/health is polled", file=sys.stderr)
    stop_at = time.monotonic() + seconds
    statuses, durations, latencies = {}, [], []
    threads = [threading.Thread(target=sender, args=(kind, stop_at, statuses, durations)) for _ in range(4)]
    for thread in threads:
        thread.start()
    health_latencies(stop_at, latencies)
    for thread in threads:
        thread.join()
    results[kind] = {"p50_ms": percentile(latencies, 0.5) * 1e3, "p99_ms": percentile(latencies, 0.99) * 1e3,
                     "max_ms": max(latencies) * 1e3, "samples": len(latencies), "bodies": sum(statuses.values()),
                     "statuses": {str(k): v for k, v in sorted(statuses.items())},
                     "body_seconds_p50": percentile(durations, 0.5) if durations else None}
    print(f"[heavy] {kind}: health p50 {results[kind]['p50_ms']:.1f} ms, max {results[kind]['max_ms']:.1f} ms; "
          f"{results[kind]['bodies']} bodies answered {results[kind]['statuses']}", file=sys.stderr)
json.dump(results, open(out_path, "w"))
