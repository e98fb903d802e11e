"""Fuzzes a running DataGateway node with schemathesis, the OpenAPI property-based tester.

Every operation of Schemas/openapi.yaml gets generated requests, both schema-valid (positive) and schema-invalid
(negative) ones. Each request is signed as a department signs it (RFC 9421 by the PyPI package
http-message-signatures, Ed25519, SHA-256 Content-Digest over the exact body bytes), so the fuzzing reaches past
authentication into the handlers.

Checked on every response (schemathesis' own checks):
  not_a_server_error            no 5xx
  status_code_conformance       the status is documented for the operation
  content_type_conformance      the Content-Type is documented for that status
  response_schema_conformance   the body validates against the documented schema
  negative_data_rejection       a request the schema forbids is refused with a 4xx
Plus one of ours: every 4xx/5xx body is RFC 9457 problem+json whose `code` is the one in `type`.

Random strings rarely name a category, purpose or record that exists, so schema-valid cases are steered: each
string slot that names something (a path's category or id, a purpose, a grantee, a field…) is, four times in five,
drawn from the node's real vocabulary instead (VOCABULARY, a JSON file: categories, purposes, departments, fields, and
per path template the ids that exist). The case stays schema-valid; the requests then reach policy decisions, reads,
aggregates, grants and revocations, not just 404s.

Usage: schemathesis_fuzz.py SCHEMA BASE_URL KEYS_DIR DEPARTMENT[,DEPARTMENT…] EXAMPLES SEED VOCABULARY
Exit 0 when every check passed; 1 with each failing case (a curl command to replay it) on stderr.
"""
import base64
import hashlib
import json
import os
import sys
import time

import secrets

import requests
import schemathesis
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import checks as st_checks
from schemathesis.generation import GenerationMode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rfc9421_request  # noqa: E402 — beside this file


class DepartmentSigner(requests.auth.AuthBase):
    """Signs a prepared request (after schemathesis has serialised its body) with RFC 9421: by the PyPI package
    http-message-signatures, a client nobody here wrote, covering @method, @target-uri, content-digest and dg-role."""

    def __init__(self, department, key_pem, keep=None, no_digest=False):
        self.department = department
        self.key_pem = key_pem
        self.key = load_pem_private_key(key_pem, password=None)
        # Signed headers whose generated values are kept (and signed over), so the server judges them: a negative
        # case's malformed Content-Digest or DG-Role. The package rightly refuses to sign those; our own minimal signer
        # (rfc9421_request.py) does.
        self.keep = keep or {}
        # A negative case without the required Content-Digest is signed without one (and refused for lacking it).
        self.no_digest = no_digest

    def __call__(self, request):
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        for name in list(request.headers):
            if name.lower() in SIGNING_HEADERS:
                del request.headers[name]
        role = self.keep.get("dg-role")
        if "content-digest" in self.keep or role is not None or self.no_digest:
            request.headers.update(rfc9421_request.sign(
                self.key, self.department, request.method, request.url, body, digest=self.keep.get("content-digest"), role=role,
                no_digest=self.no_digest))
            return request
        signer = HTTPMessageSigner(
            signature_algorithm=algorithms.ED25519,
            key_resolver=MappingKeyResolver(public_keys={}, private_keys={self.department: self.key_pem}))
        signer.sign(request, key_id=self.department, nonce=secrets.token_urlsafe(24), body=body,
                    covered_component_ids=("@method", "@target-uri", "content-digest"))
        return request


SIGNING_HEADERS = ("signature-input", "signature", "content-digest", "dg-role")


def sendable_header(value):
    """Whether an HTTP/1.1 client can put the value in a header at all (Latin-1, no line breaks)."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return not any(c in value for c in "\r\n\0") and value == value.strip()


# Which vocabulary a string slot draws from, by its name (path and query parameters, body properties).
SLOTS = {"category": "categories", "purpose": "purposes", "grantee": "departments", "field": "fields"}
LIST_SLOTS = {"groupBy": "dimensions", "fields": "fields"}


def steer(case, data, vocabulary):
    """Points a schema-valid case's naming slots at things that exist (each with probability 4/5)."""
    def often():
        return data.draw(st.integers(0, 4)) > 0

    def pick(values):
        return data.draw(st.sampled_from(values))

    ids = vocabulary["ids"].get(case.operation.path, [])
    path = case.path_parameters or {}
    for name in sorted(path):
        if name == "id" and ids and often():
            path[name] = pick(ids)
        elif name in SLOTS and often():
            path[name] = pick(vocabulary[SLOTS[name]])
    query = case.query or {}
    for name in sorted(query):
        if name in SLOTS and isinstance(query[name], str) and often():
            query[name] = pick(vocabulary[SLOTS[name]])
    if isinstance(case.body, dict):
        body = case.body
        for name in sorted(body):
            if name in SLOTS and isinstance(body[name], str) and often():
                body[name] = pick(vocabulary[SLOTS[name]])
            elif name in LIST_SLOTS and isinstance(body[name], list) and often():
                body[name] = data.draw(st.lists(st.sampled_from(vocabulary[LIST_SLOTS[name]]), max_size=3, unique=True))
            elif name in ("ids", "citizenId") and vocabulary["citizens"] and often():
                citizens = vocabulary["citizens"]
                body[name] = pick(citizens) if name == "citizenId" else data.draw(st.lists(st.sampled_from(citizens), min_size=1, max_size=5))


def problem_document(ctx, response, case):
    """Errors are RFC 9457 problem+json with a stable code that `type` repeats."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])
    content_type = content_type[0] if isinstance(content_type, list) else content_type
    if not content_type.startswith("application/problem+json"):
        raise AssertionError(f"{response.status_code} with Content-Type {content_type!r}, not application/problem+json")
    document = json.loads(response.content)
    code = document.get("code")
    if not isinstance(code, str) or document.get("type") != f"urn:datagateway:problem:{code}":
        raise AssertionError(f"problem document without a matching code/type: {document}")
    if document.get("status") != response.status_code:
        raise AssertionError(f"problem status {document.get('status')} differs from HTTP status {response.status_code}")
    return None


def main():
    schema_path, base_url, keys_dir, departments, examples, run_seed, vocabulary_path = sys.argv[1:8]
    examples, run_seed = int(examples), int(run_seed)
    with open(vocabulary_path) as f:
        vocabulary = json.load(f)
    schema = schemathesis.openapi.from_path(schema_path)
    checks = [
        st_checks.not_a_server_error,
        schemathesis.specs.openapi.checks.status_code_conformance,
        schemathesis.specs.openapi.checks.content_type_conformance,
        schemathesis.specs.openapi.checks.response_schema_conformance,
        schemathesis.specs.openapi.checks.negative_data_rejection,
        problem_document,
    ]
    session = requests.Session()
    failures = []
    requests_sent = 0
    statuses = {}  # status class -> count, e.g. {"2xx": 40, "4xx": 200}: shows the fuzzing got past authentication
    # Over HTTPS (DG_TLS_SERVER_CERT: the node's pinned certificate) each department connects with its own TLS client
    # certificate, as mutual TLS requires.
    server_certificate = os.environ.get("DG_TLS_SERVER_CERT")
    for department in departments.split(","):
        with open(os.path.join(keys_dir, f"{department}-key.pem"), "rb") as f:
            signer = DepartmentSigner(department, f.read())
        transport = {}
        if server_certificate:
            transport = {"verify": server_certificate,
                         "cert": (os.path.join(keys_dir, f"{department}-tls-cert.pem"), os.path.join(keys_dir, f"{department}-tls-key.pem"))}
        for result in schema.get_all_operations():
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failed_here = []
                seen = {}  # status -> count, for this operation and mode

                @seed(run_seed)
                @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                          suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
                @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
                def run(case, data):
                    if mode == GenerationMode.POSITIVE:
                        steer(case, data, vocabulary)
                    nonlocal requests_sent
                    # The security scheme makes Signature a header schemathesis generates, and Signature-Input is a
                    # required one; a negative case may leave either out, and must then go unsigned (and be refused),
                    # not be repaired by the signer.
                    generated_names = {name.lower() for name in (case.headers or {})}
                    signed = {"signature", "signature-input"} <= generated_names
                    auth = signer
                    if mode == GenerationMode.NEGATIVE:
                        # The negative case's own signing headers are signed over as they are, so the server must refuse
                        # the value itself (a 401), not a broken signature.
                        generated = {name.lower(): value for name, value in (case.headers or {}).items()
                                     if name.lower() in SIGNING_HEADERS and isinstance(value, str)}
                        generated = {name: value for name, value in generated.items() if name in ("content-digest", "dg-role")}
                        auth = DepartmentSigner(signer.department, signer.key_pem, generated,
                                                no_digest="content-digest" not in generated_names)
                        if not all(sendable_header(value) for value in generated.values()):
                            return  # no HTTP client can send it: nothing for the server to judge
                    try:
                        response = case.call(base_url=base_url, session=session, auth=auth if signed else None, timeout=30, **transport)
                    except requests.RequestException as error:  # no answer at all (a hang, a reset) is a failure too
                        if not failed_here:
                            failed_here.append(f"{department} {operation.label} [{mode.value}]: no answer: {error!r}\n  replay: {case.as_curl_command()}")
                        return
                    requests_sent += 1
                    status_class = f"{response.status_code // 100}xx"
                    statuses[status_class] = statuses.get(status_class, 0) + 1
                    seen[response.status_code] = seen.get(response.status_code, 0) + 1
                    try:
                        case.validate_response(response, checks=checks)
                    except (KeyboardInterrupt, SystemExit):
                        raise
                    except BaseException as error:  # schemathesis groups failures; keep the first per operation/mode
                        if not failed_here:
                            failed_here.append(f"{department} {operation.label} [{mode.value}]: {error}\n  replay: {case.as_curl_command()}")

                try:
                    run()
                except Unsatisfiable:  # nothing in the operation can be made invalid (e.g. no parameters, no body)
                    print(f"{department} {operation.label} [{mode.value}]: no such data", flush=True)
                    continue
                failures.extend(failed_here)
                answered = " ".join(f"{status}x{count}" for status, count in sorted(seen.items()))
                print(f"{department} {operation.label} [{mode.value}]: {'FAIL' if failed_here else 'ok'} ({answered})", flush=True)
    print(json.dumps({"requests": requests_sent, "statuses": dict(sorted(statuses.items())), "failures": len(failures)}))
    for failure in failures[:20]:  # bounded: the caller reads stdout before stderr, through pipes
        print(failure[:2_000], file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
