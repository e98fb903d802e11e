"""Sends extreme and malformed values to every header, query parameter, path parameter and body field of every
operation in Schemas/openapi.yaml, one slot at a time, to a live node, and requires each to be refused with a 4xx
problem (or answered 2xx where the value happens to be acceptable) — never a 5xx, never a dropped connection — and
the node to answer /v1/health after every operation.

The class of value that once stopped a node: numbers at and past the limits of Int64 and UInt64 (a request time of
-9223372036854775000, ?from=18446744073709551615, a cursor of 2^64 - 1). Around them: signs, exponents, non-ASCII
digits, huge and empty strings, control characters, nesting, and JSON numbers no integer type holds.

Every request is signed as its department signs it (RFC 9421, Ed25519, SHA-256 Content-Digest) with the fuzzed value
inside what is signed (a covered header, or a parameter of Signature-Input: created, nonce, keyid), so the server must
refuse the value itself, not a broken signature.

Usage: extreme_fuzz.py SCHEMA BASE_URL KEY_PEM DEPARTMENT SEED SECONDS
Seeded: the order of cases comes from SEED (printed), so a run replays; SECONDS bounds the run (cases left over are
counted, not sent). Exit 0 when every answer was acceptable; 1 with each failure (and its seed) on stderr.
"""
import base64
import hashlib
import json
import os
import random
import sys
import time

import requests
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rfc9421_request  # noqa: E402 — beside this file
from cryptography.hazmat.primitives.serialization import load_pem_private_key

# Values for text slots (headers, query and path parameters). Numbers at the edges of every integer type, and
# everything that is almost a number.
EXTREME_TEXT = [
    "-9223372036854775000", "-9223372036854775808", "-9223372036854775809", "9223372036854775807", "9223372036854775808",
    "18446744073709551615", "18446744073709551616", "4611686018427387904", "9007199254740993", "99999999999999999999999999",
    "-1", "0", "-0", "+1", "1e309", "1e3", "0x10", "1.5", "NaN", "Infinity", " 1", "1 ", "007", "١٢٣", "１２３", "",
    "18446744073709551615:x", "1:" + "x" * 200, ":", "x" * 5000, "%00", "%ZZ", "%", "\u00e9\u00e8", "a\tb",
]
# Values for header slots (what an HTTP client can send: Latin-1, no line breaks).
EXTREME_HEADER = [v for v in EXTREME_TEXT if all(ord(c) < 256 for c in v) and "\t" not in v and v == v.strip() and len(v) < 4000]
# Raw JSON texts for body fields (inserted as they are, so numbers no integer type holds reach the server).
EXTREME_JSON = [
    "9223372036854775808", "-9223372036854775809", "18446744073709551616", "1e309", "-1e309", "1.7976931348623157e308",
    "123456789012345678901234567890", "-0", "0.5", "1e-400", "null", "true", "[]", "{}", '""', '"\\u0000"',
    '"' + "x" * 100000 + '"', "[" * 60 + "]" * 60, '["' + '","'.join(["a"] * 2000) + '"]', '"\\ud800"', '"\\u2028"',
    '"2027-02-30"', '"١٢٣"', "[1,2,3]",
]
# The signed slots: two headers and three RFC 9421 signature parameters (values inside Signature-Input).
SIGNATURE_PARAMETERS = ["created", "nonce", "keyid"]
SIGNING_HEADERS = SIGNATURE_PARAMETERS + ["Content-Digest", "DG-Role"]
# What a slot holds when it is not the one being fuzzed: values that reach the handlers.
DEFAULTS = {"category": "citizen", "id": "C0000001", "purpose": "benefit_eligibility", "limit": "10", "from": "1"}
BODY_DEFAULTS = {
    "PublishRequest": {"records": [{"citizen_id": "C0000001"}]},
    "RecordsRequest": {"category": "citizen", "ids": ["C0000001"], "purpose": "benefit_eligibility"},
    "ConsentRequest": {"citizenId": "C0000001", "purpose": "social_welfare", "given": True},
    "GrantRequest": {"grantee": "housing", "category": "citizen", "purpose": "tenant_screening", "expiresAt": "2031-01-01"},
    "AggregateRequest": {"category": "citizen", "field": "monthly_income", "groupBy": ["district"], "purpose": "official_statistics"},
    "GovernanceProposalRequest": {"proposalId": "fuzz", "change": {"kind": "approvePolicyBundle", "bundle": "00"}},
}


def sign(key, department, method, url, body, headers_override):
    """RFC 9421 headers with the fuzzed slot inside what is signed: a header (Content-Digest, DG-Role) or a signature
    parameter (created, nonce, keyid, written into Signature-Input as it is)."""
    overrides = {name: value for name, value in headers_override.items() if name in SIGNATURE_PARAMETERS}
    return rfc9421_request.sign(
        key, department, method, url, body, digest=headers_override.get("Content-Digest"), role=headers_override.get("DG-Role"),
        overrides=overrides)


def cases(schema):
    """Every (operation, slot kind, slot name) of the spec."""
    out = []
    for path, item in sorted(schema["paths"].items()):
        shared = item.get("parameters", [])
        for method in ("get", "post", "delete"):
            operation = item.get(method)
            if operation is None:
                continue
            signed = operation.get("security", None) != []
            params = []
            for param in shared + operation.get("parameters", []):
                if "$ref" in param:
                    param = schema["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
                params.append(param)
            body_ref = None
            content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            if "$ref" in content.get("schema", {}):
                body_ref = content["schema"]["$ref"].rsplit("/", 1)[1]
            slots = []
            for param in params:
                if param["in"] in ("path", "query"):
                    slots.append((param["in"], param["name"]))
            if signed:
                slots += [("header", name) for name in SIGNING_HEADERS]
            if body_ref:
                for field in sorted(schema["components"]["schemas"][body_ref].get("properties", {})):
                    slots.append(("body", field))
            query = [p["name"] for p in params if p["in"] == "query"]
            for slot in slots:
                out.append({"path": path, "method": method.upper(), "signed": signed, "query": query, "body": body_ref, "slot": slot})
    return out


def request_for(case, value):
    kind, name = case["slot"]
    path = case["path"]
    for part in ("category", "id"):
        replacement = value if (kind == "path" and name == part) else DEFAULTS[part]
        path = path.replace("{" + part + "}", requests.utils.quote(replacement, safe="") if kind == "path" and name == part else replacement)
    query = []
    for param in case["query"]:
        if kind == "query" and name == param:
            query.append(f"{param}={requests.utils.quote(value, safe='')}")
        elif param in DEFAULTS and case["path"] != "/v1/audit/events":
            query.append(f"{param}={DEFAULTS[param]}")
    target = path + ("?" + "&".join(query) if query else "")
    body = b""
    if case["body"]:
        document = dict(BODY_DEFAULTS.get(case["body"], {}))
        if kind == "body":
            text = json.dumps({k: v for k, v in document.items() if k != name})
            inner = text[1:-1]
            body = ("{" + (inner + ", " if inner else "") + json.dumps(name) + ": " + value + "}").encode("utf-8", "surrogateescape")
        else:
            body = json.dumps(document).encode()
    headers = {}
    if kind == "header":
        headers[name] = value
    return target, body, headers


def main():
    schema_path, base_url, key_path, department, run_seed, seconds = sys.argv[1:7]
    run_seed, seconds = int(run_seed), float(seconds)
    print(f"extreme_fuzz seed {run_seed}", flush=True)
    with open(schema_path) as f:
        schema = yaml.safe_load(f)
    with open(key_path, "rb") as f:
        key = load_pem_private_key(f.read(), password=None)
    work = []
    for case in cases(schema):
        kind = case["slot"][0]
        values = EXTREME_JSON if kind == "body" else EXTREME_HEADER if kind == "header" else EXTREME_TEXT
        for value in values:
            work.append((case, value))
    random.Random(run_seed).shuffle(work)
    deadline = time.monotonic() + seconds
    session = requests.Session()
    # Over HTTPS (DG_TLS_SERVER_CERT: the node's pinned certificate) with the department's TLS client certificate, which
    # lies beside its signing key.
    if os.environ.get("DG_TLS_SERVER_CERT"):
        session.verify = os.environ["DG_TLS_SERVER_CERT"]
        session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would replace the pinned certificate
        keys = os.path.dirname(key_path)
        session.cert = (os.path.join(keys, f"{department}-tls-cert.pem"), os.path.join(keys, f"{department}-tls-key.pem"))
    failures, sent, statuses, operations = [], 0, {}, set()
    for index, (case, value) in enumerate(work):
        if time.monotonic() > deadline:
            break
        target, body, headers = request_for(case, value)
        if case["signed"]:
            headers = sign(key, department, case["method"], base_url + target, body, headers)
        label = f"{case['method']} {case['path']} {case['slot'][0]}:{case['slot'][1]}={value[:60]!r}"
        try:
            response = session.request(case["method"], base_url + target, data=body, headers=headers, timeout=30)
        except requests.RequestException as error:
            failures.append(f"{label}: no answer ({error!r})")
            continue
        sent += 1
        operations.add((case["method"], case["path"]))
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        # By slot kind as well, to show the fuzzed values got past authentication where they were not its headers.
        by_kind = f"{case['slot'][0]}_{response.status_code // 100}xx"
        statuses[by_kind] = statuses.get(by_kind, 0) + 1
        if response.status_code >= 500:
            failures.append(f"{label}: {response.status_code} {response.text[:300]}")
        elif response.status_code >= 400:
            kind = response.headers.get("content-type", "")
            if not kind.startswith("application/problem+json"):
                failures.append(f"{label}: {response.status_code} without problem+json ({kind})")
        if index % 25 == 0:
            try:
                alive = session.get(base_url + "/v1/health", timeout=10).status_code == 200
            except requests.RequestException:
                alive = False
            if not alive:
                failures.append(f"{label}: the node stopped answering /v1/health after this request")
                break
    try:
        alive = session.get(base_url + "/v1/health", timeout=10).status_code == 200
    except requests.RequestException:
        alive = False
    if not alive:
        failures.append("the node does not answer /v1/health at the end")
    summary = {"seed": run_seed, "cases": len(work), "sent": sent, "operations": len(operations), "failures": len(failures),
               "statuses": {str(k): v for k, v in sorted(statuses.items(), key=lambda kv: str(kv[0]))}}
    print(json.dumps(summary), flush=True)
    for failure in failures[:30]:
        print(f"seed {run_seed}: {failure}"[:1500], file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
