import Foundation

/// The gateway's profile of RFC 9421 HTTP Message Signatures, for requests and responses.
///
/// **Requests.** A department signs with its suite key (`keyid` = the department; a member node signs as
/// `node:<node-id>` with its node key). The signature covers `@method`, the target — `@target-uri`, or `@path` and
/// `@query` (with `@authority`, as our own client sends) — `content-digest` (RFC 9530, of the exact body bytes, also
/// for an empty body) and `dg-role` when a `DG-Role` header is sent. Its parameters carry `created` (Unix seconds,
/// within ±`freshnessSeconds` of the server clock), a single-use `nonce` (16–128 characters of A-Z a-z 0-9 + / = _ -),
/// `keyid` and optionally `expires` and `alg` (`ed25519` for intl, `sm2-sm3` for sm).
///
/// **Responses.** The node signs every answer with its node key (`keyid` = `node:<node-id>`), covering `@status`,
/// `content-digest` and `content-type` of the response and, from the request it answers (`;req`), `@method`, `@path`,
/// `@query` and — when the request was signed — its `signature-input`, which holds the request's nonce: the response
/// is bound to that one request, so a department can prove what it was given.
public enum RequestSigning {
    public static let freshnessSeconds: Int64 = 300

    public enum Header {
        public static let signatureInput = "Signature-Input"
        public static let signature = "Signature"
        public static let contentDigest = "Content-Digest"
        public static let role = "DG-Role"
    }

    /// True for a role name the scheme accepts.
    public static func isValidRole(_ role: String) -> Bool {
        (1...64).contains(role.utf8.count)
            && role.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f || $0 == 0x2d }
    }

    /// True for a nonce the scheme accepts: 16 to 128 characters of A-Z, a-z, 0-9, `+`, `/`, `=`, `_` and `-`.
    public static func isValidNonce(_ nonce: String) -> Bool {
        (16...128).contains(nonce.utf8.count)
            && nonce.utf8.allSatisfy {
                (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || "+/=_-".utf8.contains($0)
            }
    }

    /// RFC 9530 algorithm label of the suite's hash.
    public static func digestAlgorithm(_ suite: any CryptoSuite) -> String {
        switch suite.name {
        case .intl: return "sha-256"
        case .sm: return "sm3"
        }
    }

    /// The `Content-Digest` header value for a body: `sha-256=:<base64>:`.
    public static func contentDigest(_ body: [UInt8], suite: any CryptoSuite) -> String {
        "\(digestAlgorithm(suite))=:\(Data(suite.hash(body)).base64EncodedString()):"
    }

    /// A fresh nonce: 16 random bytes in hex.
    public static func newNonce() -> String { Hex.encode(SystemRandom().bytes(count: 16)) }

    /// What a request signature covers for `url`: an absolute URL binds the authority too; a bare target (`/v1/…`,
    /// as router tests send, with no Host) covers the method, path and query.
    public static func requestComponents(url: String, role: Bool) -> [HTTPMessageSignatures.Component] {
        (url.hasPrefix("/") ? ["@method", "@path", "@query"] : ["@method", "@authority", "@path", "@query"])
            + ["content-digest"] + (role ? ["dg-role"] : [])
    }

    /// The message a signature sees for a request to `url` (absolute, or a bare target).
    public static func requestMessage(method: String, url: String, fields: [(name: String, value: String)]) -> HTTPMessageSignatures.Message {
        HTTPMessageSignatures.Message(method: method, targetURI: url.hasPrefix("/") ? "http://" + url : url, fields: fields)
    }

    /// All headers of a signed request: `Content-Digest`, `DG-Role` (when a role is given), `Signature-Input` and
    /// `Signature`.
    public static func sign(
        method: String, url: String, body: [UInt8], keyID: String, key: any SigningKey, suite: any CryptoSuite,
        created: Int64 = Int64(Date().timeIntervalSince1970), nonce: String = newNonce(), role: String? = nil
    ) throws -> [(String, String)] {
        var fields: [(name: String, value: String)] = [(Header.contentDigest, contentDigest(body, suite: suite))]
        if let role { fields.append((Header.role, role)) }
        let parameters = HTTPMessageSignatures.Parameters(
            components: requestComponents(url: url, role: role != nil), created: created, nonce: nonce, keyID: keyID,
            algorithm: key.publicKey.httpSignatureAlgorithm)
        let signed = try HTTPMessageSignatures.sign(requestMessage(method: method, url: url, fields: fields), parameters: parameters) {
            try key.signHTTP($0)
        }
        return fields.map { ($0.name, $0.value) } + [(Header.signatureInput, signed.signatureInput), (Header.signature, signed.signature)]
    }

    /// What a response signature covers: `@status`, `content-digest`, `content-type` when present, and each of the
    /// request's `@method`, `@path`, `@query` and `signature-input` that the request has in a signable form (printable
    /// ASCII). A hostile request — a non-ASCII Signature-Input, a target no URI parser accepts — still gets a signed
    /// answer; the components it lacks are simply not covered, by the signer and the verifier alike.
    public static func responseComponents(hasContentType: Bool, request: HTTPMessageSignatures.Message) -> [HTTPMessageSignatures.Component] {
        let fromRequest: [HTTPMessageSignatures.Component] = ["@method", "@path", "@query", "signature-input"].compactMap { name in
            guard let value = try? HTTPMessageSignatures.value(of: name, in: request), value.utf8.allSatisfy({ (0x20...0x7e).contains($0) })
            else { return nil }
            return .init(name, request: true)
        }
        return ["@status", "content-digest"] + (hasContentType ? ["content-type"] : []) + fromRequest
    }

    /// The `Content-Digest`, `Signature-Input` and `Signature` a node adds to a response (label `dg`).
    public static func signResponse(
        status: Int, fields: [(name: String, value: String)], body: [UInt8], request: HTTPMessageSignatures.Message, keyID: String,
        key: any SigningKey, suite: any CryptoSuite, created: Int64 = Int64(Date().timeIntervalSince1970)
    ) throws -> [(String, String)] {
        let digest = contentDigest(body, suite: suite)
        let withDigest = fields.filter { $0.name.lowercased() != "content-digest" } + [(Header.contentDigest, digest)]
        let hasContentType = fields.contains { $0.name.lowercased() == "content-type" }
        let parameters = HTTPMessageSignatures.Parameters(
            components: responseComponents(hasContentType: hasContentType, request: request), created: created, keyID: keyID,
            algorithm: key.publicKey.httpSignatureAlgorithm)
        let signed = try HTTPMessageSignatures.sign(
            HTTPMessageSignatures.Message(status: status, fields: withDigest, request: request), parameters: parameters, label: "dg"
        ) { try key.signHTTP($0) }
        return [(Header.contentDigest, digest), (Header.signatureInput, signed.signatureInput), (Header.signature, signed.signature)]
    }

    public struct ResponseSignatureError: Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// Checks a node's signature on a response to `request`: the body's digest, the coverage this profile promises,
    /// and the signature with `key`. Returns the signer's `keyid`; throws saying what failed.
    @discardableResult
    public static func verifyResponse(
        status: Int, fields: [(name: String, value: String)], body: [UInt8], request: HTTPMessageSignatures.Message,
        key: any VerifyingKey, suite: any CryptoSuite
    ) throws -> String {
        func field(_ name: String) -> String? { fields.first { $0.name.lowercased() == name }?.value }
        guard let input = field("signature-input"), let signature = field("signature"), let digest = field("content-digest") else {
            throw ResponseSignatureError("the response is not signed (no Signature-Input, Signature or Content-Digest)")
        }
        guard digest == contentDigest(body, suite: suite) else {
            throw ResponseSignatureError("the response's Content-Digest does not match its body")
        }
        let received = try HTTPMessageSignatures.read(signatureInput: input, signature: signature)
        guard received.count == 1, let only = received.first, let keyID = only.parameters.keyID else {
            throw ResponseSignatureError("the response carries \(received.count) signatures, not exactly one with a keyid")
        }
        let required = responseComponents(hasContentType: field("content-type") != nil, request: request)
        guard Set(required).isSubset(of: Set(only.parameters.components)) else {
            throw ResponseSignatureError("the response signature does not cover \(required.map(\.description).joined(separator: " "))")
        }
        let message = HTTPMessageSignatures.Message(status: status, fields: fields, request: request)
        if let alg = only.parameters.algorithm, alg != key.httpSignatureAlgorithm {
            throw ResponseSignatureError("the response is signed with alg \(alg.prefix(32)), not the node key's \(key.httpSignatureAlgorithm)")
        }
        guard try HTTPMessageSignatures.verify(only, of: message, with: { key.isValidHTTPSignature($1, for: $0) }) else {
            throw ResponseSignatureError("the response signature does not verify with \(keyID.prefix(64))'s key")
        }
        return keyID
    }
}
