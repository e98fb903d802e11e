"""RFC 9421 with the PyPI package http-message-signatures, a client nobody here wrote.

sign KEY.pem METHOD URL BODYFILE KEYID NONCE CREATED: prints {"headers": {...}} with Content-Digest, Signature-Input
and Signature for a signature covering @method, @target-uri, @authority, content-digest: ed25519, or ecdsa-p256-sha256
for a P-256 key (the algorithm follows the key, in every mode).
send KEY.pem METHOD URL BODYFILE KEYID CLIENT_CERT CLIENT_KEY SERVER_CERT [TAMPER]: signs as `sign` does (a fresh
nonce, now) and sends the request over mutual TLS; prints the status and the body. TAMPER=body changes the body after
signing, TAMPER=path the query, TAMPER=replay sends the same signed request twice (the second answer is printed).
With DG_NODE_KEY (the node's public key PEM) set, `send` also verifies the node's RFC 9421 signature on the response,
requiring it to cover @status, content-digest and the request's @method, @path, @query and signature-input (;req), and
prints a third line: `SIGNED <keyid>` or `UNSIGNED <reason>`; TAMPER=response changes the response body first.
verify KEY.pem METHOD URL BODYFILE HEADERS.json: verifies every signature in the headers (and the digest against the
body); prints the covered components, exits 1 if verification fails."""
import datetime
import json
import os
import sys

import requests
from http_message_signatures import HTTPMessageSigner, HTTPMessageVerifier, HTTPSignatureKeyResolver, MappingKeyResolver, algorithms

mode, key_path, method, url, body_path = sys.argv[1:6]
key = open(key_path, "rb").read()


def algorithm_of(pem):
    """The RFC 9421 algorithm of a key, by its type: ecdsa-p256-sha256 for a P-256 key, ed25519 otherwise."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
    try:
        loaded = load_pem_private_key(pem, password=None)
    except ValueError:
        loaded = load_pem_public_key(pem)
    return algorithms.ECDSA_P256_SHA256 if isinstance(loaded, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) else algorithms.ED25519


body = open(body_path, "rb").read()
request = requests.Request(method, url, data=body or None).prepare()
if mode == "sign":
    key_id, nonce, created = sys.argv[6], sys.argv[7], int(sys.argv[8])
    signer = HTTPMessageSigner(signature_algorithm=algorithm_of(key), key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: key}))
    signer.sign(
        request, key_id=key_id, nonce=nonce, created=datetime.datetime.fromtimestamp(created, datetime.timezone.utc), body=body,
        covered_component_ids=("@method", "@target-uri", "@authority", "content-digest"),
    )
    print(json.dumps({"headers": {name: request.headers[name] for name in ("Content-Digest", "Signature-Input", "Signature")}}))
elif mode == "send":
    import secrets
    key_id, client_cert, client_key, server_cert = sys.argv[6:10]
    tamper = sys.argv[10] if len(sys.argv) > 10 else ""
    signer = HTTPMessageSigner(signature_algorithm=algorithm_of(key), key_resolver=MappingKeyResolver(public_keys={}, private_keys={key_id: key}))
    signer.sign(
        request, key_id=key_id, nonce=secrets.token_urlsafe(24), body=body,
        covered_component_ids=("@method", "@target-uri", "@authority", "content-digest"),
    )
    if tamper == "body":
        request.body = body + b" "
        request.headers["Content-Length"] = str(len(request.body))
    if tamper == "path":
        request.url = request.url + ("&" if "?" in request.url else "?") + "limit=1"
    session = requests.Session()
    session.trust_env = False
    response = session.send(request, cert=(client_cert, client_key), verify=server_cert)
    if tamper == "replay":
        response = session.send(request, cert=(client_cert, client_key), verify=server_cert)
    print(response.status_code)
    print(response.text)
    node_key_path = os.environ.get("DG_NODE_KEY")
    if node_key_path:
        node_key = open(node_key_path, "rb").read()
        class NodeKey(HTTPSignatureKeyResolver):
            def resolve_public_key(self, key_id):
                if not key_id.startswith("node:"):
                    raise KeyError(key_id)
                return node_key
        body = response.content + (b" " if tamper == "response" else b"")
        verifier = HTTPMessageVerifier(signature_algorithm=algorithms.ED25519, key_resolver=NodeKey())
        try:
            results = verifier.verify(
                response, body=body, max_age=datetime.timedelta(minutes=5),
                require_components=("@status", "content-digest", '"@method";req', '"@path";req', '"@query";req', '"signature-input";req'))
            print("SIGNED " + results[0].parameters["keyid"])
        except Exception as error:  # noqa: BLE001 — the oracle reports any refusal
            print(f"UNSIGNED {type(error).__name__}: {error}")
else:
    headers = json.load(open(sys.argv[6]))
    for name, value in headers.items():
        request.headers[name] = value
    class AnyKey(HTTPSignatureKeyResolver):
        def resolve_public_key(self, key_id):
            return key
    verifier = HTTPMessageVerifier(signature_algorithm=algorithm_of(key), key_resolver=AnyKey())
    try:
        results = verifier.verify(request, body=body, max_age=datetime.timedelta(days=3650))
    except Exception as error:  # noqa: BLE001 — the oracle reports any refusal
        print(f"REFUSED {type(error).__name__}: {error}")
        sys.exit(1)
    print(json.dumps([{"label": r.label, "components": dict(r.covered_components)} for r in results]))
