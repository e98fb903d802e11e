"""A minimal RFC 9421 request signer for the fuzzers, written from the RFC (section 2.5), not from the Swift code.

Well-formed requests are better signed by the PyPI package http-message-signatures (see http_signatures.py and the
schemathesis fuzzer); this one exists for what that package rightly refuses to produce: a signature over a malformed
Content-Digest, DG-Role or signature parameter, so that the server must refuse the value itself and not a broken
signature. Parameter values are inserted as given: `raw` values go in unquoted (a `created` of
-9223372036854775000), others as structured-field strings.
"""
import base64
import hashlib
import os
import time
from urllib.parse import urlsplit


def sf_string(value):
    """An RFC 8941 string if the value can be one, else None."""
    if any(ord(c) < 0x20 or ord(c) > 0x7E for c in value):
        return None
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def signature_params(components, params):
    """`("@method" …);created=…;keyid="…"`: params is a list of (name, value, raw)."""
    text = "(" + " ".join(f'"{c}"' for c in components) + ")"
    for name, value, raw in params:
        if raw:
            text += f";{name}={value}"
        else:
            quoted = sf_string(value)
            text += f";{name}={quoted if quoted is not None else value}"
    return text


def component_value(name, method, url, headers):
    parts = urlsplit(url)
    if name == "@method":
        return method
    if name == "@target-uri":
        return url
    if name == "@path":
        return parts.path or "/"
    if name == "@query":
        return "?" + parts.query
    for key, value in headers.items():
        if key.lower() == name:
            return value.strip()
    raise KeyError(name)


def sign(key, key_id, method, url, body, digest=None, role=None, created=None, nonce=None, overrides=None, no_digest=False):
    """Headers of a signed request. `overrides` maps a parameter name (created, nonce, keyid) to a raw text value;
    `no_digest` leaves Content-Digest out (and uncovered)."""
    overrides = overrides or {}
    headers = {}
    components = ["@method", "@target-uri"]
    if not no_digest:
        headers["Content-Digest"] = digest if digest is not None else \
            "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
        components.append("content-digest")
    if role is not None:
        headers["DG-Role"] = role
        components.append("dg-role")
    params = [
        ("created", overrides.get("created", str(int(created if created is not None else time.time()))), True),
        ("nonce", overrides.get("nonce", nonce or os.urandom(16).hex()), False),
        ("keyid", overrides.get("keyid", key_id), False),
        ("alg", "ed25519", False),
    ]
    params_text = signature_params(components, params)
    lines = [f'"{c}": {component_value(c, method, url, headers)}' for c in components]
    lines.append(f'"@signature-params": {params_text}')
    signature = key.sign("\n".join(lines).encode("utf-8", "surrogateescape"))
    headers["Signature-Input"] = "sig1=" + params_text
    headers["Signature"] = "sig1=:" + base64.b64encode(signature).decode() + ":"
    return headers
