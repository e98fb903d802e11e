#!/usr/bin/env python3
"""Checks a DataGateway evidence bundle (datagateway-evidence-bundle/v1) without a node and without the gateway's code.

Written from docs/evidence-bundle.md alone: `cryptography` for the intl suite (SHA-256, Ed25519, ECDSA P-256) and
`gmssl` for the sm suite's SM3; SM2 verification (GB/T 32918.2, ID 1234567812345678) is done here on the curve's
published parameters, as gmssl's own raises on rare valid signatures.

    verify_bundle.py BUNDLE [--genesis GENESIS]

Prints one line per verified event, then OK; or INVALID with the first problem. Exit 0 valid, 2 invalid, 1 the files
cannot be read.
"""

import argparse
import hashlib
import json
import sys

FORMAT = "datagateway-evidence-bundle/v1"
EVENTS_MAX = 10_000


class Invalid(Exception):
    pass


# --- primitives -------------------------------------------------------------------------------------------------


def sm3(data: bytes) -> bytes:
    from gmssl import func, sm3 as gm_sm3

    return bytes.fromhex(gm_sm3.sm3_hash(func.bytes_to_list(data)))


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def unhex(text, what):
    if not isinstance(text, str):
        raise Invalid(f"{what} is not a hex string")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise Invalid(f"{what} is not hex")


class Reader:
    """The canonical encoding: big-endian u64 lengths and counts, length-prefixed bytes."""

    def __init__(self, data: bytes):
        self.data = data
        self.at = 0

    def u8(self):
        if self.at >= len(self.data):
            raise Invalid("encoding ends early")
        self.at += 1
        return self.data[self.at - 1]

    def u64(self):
        if len(self.data) - self.at < 8:
            raise Invalid("encoding ends early")
        value = int.from_bytes(self.data[self.at:self.at + 8], "big")
        self.at += 8
        return value

    def i64(self):
        value = self.u64()
        return value - (1 << 64) if value >= 1 << 63 else value

    def bytes(self):
        length = self.u64()
        if length > len(self.data) - self.at:
            raise Invalid("a length prefix exceeds the data")
        value = self.data[self.at:self.at + length]
        self.at += length
        return value

    def string(self):
        try:
            return self.bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("a string is not UTF-8")

    def list(self, item):
        count = self.u64()
        if count > len(self.data) - self.at:
            raise Invalid("a list count exceeds the data")
        return [item() for _ in range(count)]

    def at_end(self):
        return self.at == len(self.data)

    def end(self):
        if not self.at_end():
            raise Invalid("trailing bytes after an encoded value")


def u64(value):
    return value.to_bytes(8, "big")


def enc_bytes(value: bytes):
    return u64(len(value)) + value


def enc_string(value: str):
    return enc_bytes(value.encode("utf-8"))


def der_read(data: bytes, at: int):
    """One DER TLV at `at`: (tag, value, next offset)."""
    if at + 2 > len(data):
        raise Invalid("DER ends early")
    tag = data[at]
    length = data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or at + count > len(data):
            raise Invalid("bad DER length")
        length = int.from_bytes(data[at:at + count], "big")
        at += count
    if at + length > len(data):
        raise Invalid("DER value exceeds the data")
    return tag, data[at:at + length], at + length


def pem_der(pem: str) -> bytes:
    import base64

    lines = [line.strip() for line in pem.strip().splitlines()]
    body = "".join(line for line in lines if line and not line.startswith("-----"))
    try:
        return base64.b64decode(body, validate=True)
    except Exception:
        raise Invalid("a member's public key is not PEM")


class SM2Key:
    def __init__(self, spki: bytes):
        tag, body, _ = der_read(spki, 0)
        if tag != 0x30:
            raise Invalid("an SM2 key is not a SubjectPublicKeyInfo")
        _, _, after = der_read(body, 0)  # AlgorithmIdentifier
        tag, bits, _ = der_read(body, after)
        if tag != 0x03 or len(bits) != 66 or bits[0] != 0 or bits[1] != 0x04:
            raise Invalid("an SM2 key is not an uncompressed point")
        self.point_hex = bits[2:].hex()
        self.point = (int.from_bytes(bits[2:34], "big"), int.from_bytes(bits[34:66], "big"))
        x, y = self.point
        if not (x < SM2_P and y < SM2_P and (y * y - x * x * x - SM2_A * x - SM2_B) % SM2_P == 0):
            raise Invalid("an SM2 key is not a point of the curve")

    def verify(self, signature: bytes, message: bytes) -> bool:
        """GB/T 32918.2 §7.1, with SM3 from gmssl. (gmssl's own SM2 verification raises on rare valid inputs, so
        the curve arithmetic is done here, on Python integers.)"""
        try:
            tag, body, end = der_read(signature, 0)
            if tag != 0x30 or end != len(signature):
                return False
            tag_r, r, after = der_read(body, 0)
            tag_s, s, after = der_read(body, after)
            if tag_r != 2 or tag_s != 2 or after != len(body):
                return False
        except Invalid:
            return False
        r_int, s_int = int.from_bytes(r, "big"), int.from_bytes(s, "big")
        if not (0 < r_int < SM2_N and 0 < s_int < SM2_N):
            return False
        t = (r_int + s_int) % SM2_N
        if t == 0:
            return False
        z = sm3(b"\x00\x80" + b"1234567812345678" + b"".join(v.to_bytes(32, "big") for v in (SM2_A, SM2_B, SM2_GX, SM2_GY))
                + bytes.fromhex(self.point_hex))
        e = int.from_bytes(sm3(z + message), "big")
        point = sm2_add(sm2_mul(s_int, (SM2_GX, SM2_GY)), sm2_mul(t, self.point))
        return point is not None and (e + point[0]) % SM2_N == r_int


# The SM2 curve (GB/T 32918.5): y² = x³ + ax + b over F_p, base point G of order n.
SM2_P = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF", 16)
SM2_A = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC", 16)
SM2_B = int("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93", 16)
SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)
SM2_GX = int("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7", 16)
SM2_GY = int("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0", 16)


def sm2_add(p1, p2):
    """Affine point addition; None is the point at infinity."""
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % SM2_P == 0:
        return None
    if p1 == p2:
        slope = (3 * x1 * x1 + SM2_A) * pow(2 * y1, -1, SM2_P) % SM2_P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, SM2_P) % SM2_P
    x3 = (slope * slope - x1 - x2) % SM2_P
    return x3, (slope * (x1 - x3) - y1) % SM2_P


def sm2_mul(k, point):
    result = None
    while k:
        if k & 1:
            result = sm2_add(result, point)
        point = sm2_add(point, point)
        k >>= 1
    return result


class IntlKey:
    def __init__(self, pem: str):
        from cryptography.hazmat.primitives.serialization import load_pem_public_key

        try:
            self.key = load_pem_public_key(pem.encode("utf-8"))
        except Exception:
            raise Invalid("a member's public key is neither Ed25519 nor P-256")

    def verify(self, signature: bytes, message: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519

        try:
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, message)
            elif isinstance(self.key, ec.EllipticCurvePublicKey) and isinstance(self.key.curve, ec.SECP256R1):
                self.key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            else:
                return False
            return True
        except (InvalidSignature, ValueError):
            return False


# --- Merkle (RFC 9162 §2.1.3.2) ---------------------------------------------------------------------------------


def verify_inclusion(H, index, size, leaf_hash, path, root):
    if index >= size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = H(b"\x01" + p + r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = H(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# --- encodings (docs/evidence-bundle.md §4) ----------------------------------------------------------------------


def decode_transaction(data: bytes):
    outer = Reader(data)
    signed = outer.bytes()
    signature = outer.bytes()
    outer.end()
    r = Reader(signed)
    if r.string() != "datagateway/tx/v1":
        raise Invalid("unknown transaction version")
    tx = {"chainID": r.string(), "kind": r.u8(), "submitter": r.string(), "nonce": r.u64(), "timestampMs": r.i64(), "payload": r.bytes()}
    r.end()
    tx["signed"] = signed
    tx["signature"] = signature
    return tx


def decode_header(data: bytes):
    r = Reader(data)
    if r.string() != "datagateway/header/v2":
        raise Invalid("unknown header version")
    header = {
        "chainID": r.string(), "height": r.u64(), "round": r.u64(), "parentHash": r.bytes(), "transactionsRoot": r.bytes(),
        "transactionCount": r.u64(), "justifyDigest": r.bytes(), "timeoutTag": r.u64(), "proposer": r.u64(), "timestampMs": r.i64(),
    }
    r.end()
    return header


def decode_event(data: bytes):
    r = Reader(data)
    event = {
        "eventID": r.string(), "requester": r.string(), "action": r.string(), "category": r.string(), "recordKeys": r.list(r.bytes),
        "purpose": r.string(), "policyBundleHash": r.bytes(), "decision": r.string(), "determiningPolicies": r.list(r.string),
        "requestDigest": r.bytes(), "timestampMs": r.i64(),
    }
    if event["decision"] not in ("allow", "deny"):
        raise Invalid("an access event's decision is neither allow nor deny")
    for name, read in (("role", r.string), ("grantID", r.string), ("epsilonMicros", r.i64), ("resultDigest", r.bytes), ("discloseAtMs", r.i64)):
        if r.at_end():
            break
        event[name] = read()
    r.end()
    return event


def access_events(tx):
    if tx["kind"] == 2:
        return [decode_event(tx["payload"])]
    if tx["kind"] == 5:
        r = Reader(tx["payload"])
        if r.string() != "datagateway/access-batch/v1":
            raise Invalid("unknown access batch version")
        events = [decode_event(item) for item in r.list(r.bytes)]
        r.end()
        return events
    raise Invalid("its transaction is not an access event or batch")


def decode_proposal(data: bytes):
    r = Reader(data)
    proposal_id = r.string()
    change = r.u8()
    if change in (1, 4):
        member = {"nodeID": r.string(), "department": r.string(), "role": r.string(), "publicKey": r.string(), "address": r.string()}
        if change == 4:
            r.string()
        if member["role"] not in ("validator", "observer"):
            raise Invalid("unknown member role")
        body = ("add", member)
    elif change == 2:
        body = ("remove", r.string())
    elif change == 3:
        body = ("bundle", r.bytes())
    elif change == 5:
        body = ("key", (r.string(), r.string()))
    else:
        raise Invalid("unknown proposal kind")
    r.end()
    return proposal_id, body


# --- governance (§5) --------------------------------------------------------------------------------------------


class Governance:
    def __init__(self, genesis):
        self.members = [dict(m) for m in genesis["members"]]
        self.bundles = [bytes.fromhex(b) for b in genesis.get("policyBundles", [])]
        self.department_keys = []
        self.history = [(1, self.validators())]
        self.pending = {}
        self.decided = set()

    def validators(self):
        return [m["nodeID"] for m in self.members if m["role"] == "validator"]

    def at(self, height):
        index = max(i for i, (start, _) in enumerate(self.history) if start <= height) if height >= 1 else 0
        return self.history[index][1], index

    def allowed(self, change):
        kind, value = change
        if kind == "add":
            return all(m["nodeID"] != value["nodeID"] for m in self.members)
        if kind == "remove":
            member = next((m for m in self.members if m["nodeID"] == value), None)
            return member is not None and (member["role"] != "validator" or len(self.validators()) > 1)
        if kind == "bundle":
            return len(value) > 0 and value not in self.bundles
        department, key = value
        current = [k for d, k, _ in self.department_keys if d == department]
        return not current or current[-1] != key

    def apply(self, tx, height):
        """Applies one step to a copy; returns the new state, or None when the chain skipped it."""
        import copy

        state = copy.deepcopy(self)
        if tx["submitter"] not in state.validators():
            return None
        if tx["kind"] == 3:
            proposal_id, change = decode_proposal(tx["payload"])
            if not proposal_id or proposal_id in state.pending or proposal_id in state.decided or not state.allowed(change):
                return None
            state.pending[proposal_id] = (change, {tx["submitter"]})
        elif tx["kind"] == 4:
            r = Reader(tx["payload"])
            proposal_id = r.string()
            r.end()
            if proposal_id not in state.pending or tx["submitter"] in state.pending[proposal_id][1]:
                return None
            state.pending[proposal_id][1].add(tx["submitter"])
        else:
            return None
        change, approvals = state.pending[proposal_id]
        n = len(state.validators())
        if len(approvals & set(state.validators())) >= (2 * n + 2) // 3:
            if not state.allowed(change):
                return None
            del state.pending[proposal_id]
            state.decided.add(proposal_id)
            kind, value = change
            if kind == "add":
                state.members.append(value)
            elif kind == "remove":
                state.members = [m for m in state.members if m["nodeID"] != value]
            elif kind == "bundle":
                state.bundles.append(value)
            else:
                state.department_keys.append((value[0], value[1], height))
            if state.validators() != state.history[-1][1]:
                state.history.append((height + 1, state.validators()))
        return state


# --- proofs (§3) ------------------------------------------------------------------------------------------------


class Verifier:
    def __init__(self, genesis):
        self.genesis = genesis
        self.suite = genesis["suite"]
        if self.suite == "sm":
            self.H = sm3
        elif self.suite == "intl":
            self.H = sha256
        else:
            raise Invalid(f"unknown suite {self.suite}")
        self.keys = {}
        for member in genesis["members"]:
            self.learn(member)

    def learn(self, member):
        if member["nodeID"] in self.keys:
            return
        try:
            self.keys[member["nodeID"]] = SM2Key(pem_der(member["publicKey"])) if self.suite == "sm" else IntlKey(member["publicKey"])
        except Invalid:
            if member in self.genesis["members"]:
                raise

    def quorum_certificate(self, certificate, header_bytes, header, validators, epoch):
        message = (enc_string("datagateway/consensus/vote/v2") + u64(epoch) + enc_bytes(self.H(header_bytes)) + u64(header["round"])
                   + u64(header["height"]))
        signers = set()
        if not isinstance(certificate, list):
            raise Invalid("a certificate is not a list")
        for entry in certificate:
            name = entry.get("validator") if isinstance(entry, dict) else None
            key = self.keys.get(name)
            if name not in validators or key is None or not key.verify(unhex(entry.get("signature"), "a signature"), message):
                raise Invalid(f"certificate signature from {name} on block {header['height']} does not verify (epoch {epoch})")
            signers.add(name)
        n = len(validators)
        if len(signers) < n - (n - 1) // 3:
            raise Invalid(f"certificate on block {header['height']} has {len(signers)} signatures, quorum is {n - (n - 1) // 3}")

    def proof(self, proof, governance):
        if not isinstance(proof, dict):
            raise Invalid("a proof is not an object")
        tx_bytes = unhex(proof.get("transaction"), "the transaction")
        header_bytes = unhex(proof.get("header"), "the header")
        tx = decode_transaction(tx_bytes)
        header = decode_header(header_bytes)
        chain = self.genesis["chainID"]
        if header["chainID"] != chain or tx["chainID"] != chain:
            raise Invalid("the proof is for another chain")
        path = [unhex(node, "an audit path node") for node in proof.get("auditPath", [])]
        if any(len(node) != 32 for node in path):
            raise Invalid("an audit path node is not a digest")
        index = proof.get("leafIndex")
        if not isinstance(index, int) or index < 0:
            raise Invalid("the leaf index is not a number")
        if not verify_inclusion(self.H, index, header["transactionCount"], self.H(b"\x00" + tx_bytes), path, header["transactionsRoot"]):
            raise Invalid("the transaction is not under the header's transactions root")
        key = self.keys.get(tx["submitter"])
        if key is None or not key.verify(tx["signature"], tx["signed"]):
            raise Invalid("the transaction's signature does not verify")
        validators, epoch = governance.at(header["height"])
        self.quorum_certificate(proof.get("certificate"), header_bytes, header, validators, epoch)
        commitment = proof.get("commitment")
        if not isinstance(commitment, dict) or not commitment.get("headers"):
            raise Invalid("the proof carries no commit evidence")
        headers = commitment["headers"]
        if len(headers) > 4096:
            raise Invalid("the commit evidence is too long")
        parent, parent_hash = header, self.H(header_bytes)
        for position, text in enumerate(headers):
            child_bytes = unhex(text, "a commit evidence header")
            child = decode_header(child_bytes)
            if child["chainID"] != chain or child["parentHash"] != parent_hash or child["height"] != parent["height"] + 1:
                raise Invalid(f"commit evidence header {child['height']} does not extend block {parent['height']}")
            if position == len(headers) - 1:
                if child["round"] != parent["round"] + 1:
                    raise Invalid(f"the certified child's round {child['round']} does not follow its parent's {parent['round']}: no 2-chain commit")
                self.quorum_certificate(commitment.get("certificate"), child_bytes, child, validators, epoch)
            parent, parent_hash = child, self.H(child_bytes)
        return tx, header


def admits(selection, event):
    ids = selection.get("eventIds")
    if ids is not None and event["eventID"] not in ids:
        return False
    if selection.get("department") is not None and event["requester"] != selection["department"]:
        return False
    if selection.get("fromMs") is not None and event["timestampMs"] < selection["fromMs"]:
        return False
    if selection.get("toMs") is not None and event["timestampMs"] >= selection["toMs"]:
        return False
    return True


def verify(bundle, trusted):
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise Invalid(f"not a {FORMAT} bundle")
    genesis = bundle.get("genesis")
    if not isinstance(genesis, dict):
        raise Invalid("the bundle carries no genesis")
    if trusted is not None and trusted != genesis:
        raise Invalid("the bundle's genesis is not the trusted genesis")
    if bundle.get("chainId") != genesis.get("chainID") or bundle.get("suite") != genesis.get("suite"):
        raise Invalid("the bundle's chain or suite is not its genesis'")
    events = bundle.get("events")
    steps = bundle.get("governance", [])
    if not isinstance(events, list) or not isinstance(steps, list) or len(events) > EVENTS_MAX:
        raise Invalid("the bundle's events or governance are not lists (or too many events)")
    verifier = Verifier(genesis)
    # Governance steps, proven in order, each against the state before it.
    states = []  # (height, state after the step)
    governance = Governance(genesis)
    last = (0, -1)
    for position, step in enumerate(steps):
        try:
            tx, header = verifier.proof(step, governance)
        except Invalid as problem:
            raise Invalid(f"governance step {position}: {problem}")
        if tx["kind"] not in (3, 4):
            raise Invalid(f"governance step {position} is not a governance transaction")
        here = (header["height"], step.get("leafIndex"))
        if here <= last:
            raise Invalid("governance steps are not in chain order")
        last = here
        after = governance.apply(tx, header["height"])
        if after is not None:
            governance = after
            for member in governance.members:
                verifier.learn(member)
        states.append((header["height"], governance))
    selection = bundle.get("selection") or {}
    seen = set()
    lines = []
    for position, entry in enumerate(events):
        name = entry.get("eventId") if isinstance(entry, dict) else None
        try:
            proof = entry["proof"]
            if not isinstance(proof, dict) or proof.get("governance") is not None:
                raise Invalid("its proof carries its own governance history")
            height = decode_header(unhex(proof.get("header"), "the header"))["height"]
            # The governance state after the last step at or below the event's block.
            state = Governance(genesis)
            for step_height, after in states:
                if step_height <= height:
                    state = after
            tx, header = verifier.proof(proof, state)
            if entry.get("height") != header["height"]:
                raise Invalid(f"it names height {entry.get('height')}, its proof height {header['height']}")
            event = next((e for e in access_events(tx) if e["eventID"] == name), None)
            if event is None:
                raise Invalid("its transaction does not carry it")
            if not admits(selection, event):
                raise Invalid("it is outside the bundle's selection")
            key = (name, verifier.H(unhex(proof["transaction"], "the transaction")))
            if key in seen:
                raise Invalid("it is in the bundle twice")
            seen.add(key)
        except Invalid as problem:
            raise Invalid(f"event {position} ({name}): {problem}")
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise Invalid(f"event {position} ({name}): malformed entry ({type(error).__name__}: {error})")
        lines.append(" ".join([event["eventID"], str(header["height"]), event["requester"], event["action"], event["category"],
                               event["purpose"], event["decision"], tx["submitter"]]))
    return lines


def main():
    parser = argparse.ArgumentParser(description="Check a DataGateway evidence bundle (docs/evidence-bundle.md).")
    parser.add_argument("bundle")
    parser.add_argument("--genesis", help="the genesis the consortium published (recommended)")
    args = parser.parse_args()
    try:
        with open(args.bundle, "rb") as f:
            raw = f.read()
        trusted = None
        if args.genesis:
            with open(args.genesis, "rb") as f:
                trusted = json.loads(f.read())
    except (OSError, ValueError) as error:
        print(f"cannot read the input: {error}", file=sys.stderr)
        return 1
    try:
        try:
            bundle = json.loads(raw)
        except ValueError as error:
            raise Invalid(f"{args.bundle} is not JSON: {error}")
        lines = verify(bundle, trusted)
    except Invalid as problem:
        print(f"INVALID: {problem}")
        return 2
    for line in lines:
        print(f"event {line}")
    print(f"OK: {len(lines)} events verified on chain {bundle['chainId']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
