import GatewayWire
import Foundation
import GatewayCrypto
import GatewayNode
import GatewayStore
import GatewayTLS
import HTTPTypes
import Hummingbird
import NIOCore

/// Verifies the RFC 9421 request signature (see `RequestSigning`) before anything else happens: body size limit,
/// coverage, content digest, freshness, single-use nonce, known department or member node, valid signature. On success the verified principal and
/// the signed body bytes are put in the context; on failure the request ends with 401 and nothing is stored.
struct SignatureAuthenticator: RouterMiddleware {
    typealias Context = GatewayContext

    let departments: DepartmentDirectory
    let suite: any CryptoSuite
    let bodyBytesMax: Int
    let nonces: NonceCache
    /// The durable record of used nonces (the in-memory cache answers repeats within this process first).
    let durableNonces: RequestNonceStore?
    let now: @Sendable () -> Int64
    /// Member nodes' keys, for node-to-node requests (`keyid="node:<node-id>"`).
    let member: @Sendable (String) async -> (key: any VerifyingKey, department: String)?
    /// Over HTTPS: a member node's registered TLS certificate now (nil when it has none or is no longer a member).
    /// nil when the node serves plain HTTP, where no client certificate is asked for.
    var memberTLSCertificate: (@Sendable (String) async -> String?)? = nil
    /// The key governance set for a department (nil: the departments file's key counts; a nil key refuses).
    var departmentKey: @Sendable (String) async -> (key: (any VerifyingKey)?, height: UInt64)? = { _ in nil }

    func handle(_ request: Request, context: GatewayContext, next: (Request, GatewayContext) async throws -> Response) async throws -> Response {
        var request = request
        var context = context
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: bodyBytesMax)
        } catch {
            throw ProblemError(.payloadTooLarge, "request body exceeds \(bodyBytesMax) bytes")
        }
        func unauthorized(_ code: ProblemCode, _ detail: String) -> ProblemError { ProblemError(code, detail) }
        func header(_ name: String) -> String? {
            HTTPField.Name(name).flatMap { request.headers[$0] }
        }
        let bodyBytes = Array(body.readableBytesView)
        let role = header(RequestSigning.Header.role)
        if let role, !RequestSigning.isValidRole(role) {
            throw unauthorized(.invalidRole, "DG-Role must be 1 to 64 characters of a-z, 0-9, _ and -")
        }
        /// The content digest a signature covers must be the body's, with the suite's hash.
        func checkDigest(_ digest: String) async throws {
            let computed = try await HeavyWork.run(forBytes: bodyBytes.count) { [suite] in RequestSigning.contentDigest(bodyBytes, suite: suite) }
            guard digest == computed else {
                throw unauthorized(.digestMismatch, "Content-Digest does not match the body (expected \(RequestSigning.digestAlgorithm(suite)))")
            }
        }
        /// A member node signs as `node:<node-id>` with its node key and speaks for its own department.
        func signer(_ department: String) async throws -> (key: any VerifyingKey, node: String?, speaksFor: String) {
            if department.hasPrefix("node:") {
                let nodeID = String(department.dropFirst(5))
                guard let member = await member(nodeID) else {
                    throw unauthorized(.unknownDepartment, "node '\(nodeID.prefix(64))' is not a member of this chain")
                }
                return (member.key, nodeID, member.department)
            }
            guard let registered = departments.verifyingKey(for: department) else {
                throw unauthorized(.unknownDepartment, "department '\(department.prefix(64))' is not registered on this node")
            }
            // A key set by governance replaces the registered one from the height of the change.
            if let rotated = await departmentKey(department) {
                guard let key = rotated.key else {
                    throw unauthorized(.badSignature, "the key governance set for \(department.prefix(64)) at height \(rotated.height) does not load")
                }
                return (key, nil, department)
            }
            return (registered, nil, department)
        }
        // RFC 9421 (see `RequestSigning`): the department is the keyid; the signature covers the method, the target, the
        // content digest and the role header when one is sent; created gives freshness, nonce single use.
        guard let input = header(RequestSigning.Header.signatureInput), let signatureField = header(RequestSigning.Header.signature),
            let digest = header(RequestSigning.Header.contentDigest)
        else {
            throw unauthorized(
                .missingSignature, "sign the request (RFC 9421): send Signature-Input, Signature and Content-Digest (see README, 'Signed requests')")
        }
        let received: [HTTPMessageSignatures.Received]
        do { received = try HTTPMessageSignatures.read(signatureInput: input, signature: signatureField) } catch {
            throw unauthorized(.missingSignature, "\(error)")
        }
        guard received.count == 1, let only = received.first else {
            throw unauthorized(.missingSignature, "send exactly one signature (Signature-Input with one label)")
        }
        let parameters = only.parameters
        guard let department = parameters.keyID, !department.isEmpty else { throw unauthorized(.unknownDepartment, "the signature names no keyid") }
        let covered = Set(parameters.components)
        let target = covered.contains("@target-uri") || covered.contains("@request-target") || covered.isSuperset(of: ["@path", "@query"])
        guard covered.contains("@method"), target, covered.contains("content-digest"), role == nil || covered.contains("dg-role") else {
            throw unauthorized(
                .missingSignature,
                "the signature must cover @method, @target-uri (or @path and @query), content-digest, and dg-role when DG-Role is sent")
        }
        let algorithms = HTTPMessageSignatures.algorithms(for: suite)
        if let alg = parameters.algorithm, !algorithms.contains(alg) {
            throw unauthorized(.badSignature, "alg \(alg.prefix(32)) is not one of this deployment's: \(algorithms.joined(separator: ", "))")
        }
        guard let created = parameters.created, abs(created - now()) <= RequestSigning.freshnessSeconds else {
            throw unauthorized(.staleRequest, "created must be Unix seconds within \(RequestSigning.freshnessSeconds) s of the server clock")
        }
        if let expires = parameters.expires, expires < now() { throw unauthorized(.staleRequest, "the signature expired") }
        guard let nonce = parameters.nonce, RequestSigning.isValidNonce(nonce) else {
            throw unauthorized(.invalidNonce, "nonce must be 16 to 128 characters of A-Z, a-z, 0-9, +, /, =, _ and -")
        }
        try await checkDigest(digest)
        let resolved = try await signer(department)
        // The key decides the algorithm (RFC 9421 §3.2: alg, when given, must be the key's).
        if let alg = parameters.algorithm, alg != resolved.key.httpSignatureAlgorithm {
            throw unauthorized(
                .badSignature, "alg \(alg) is not the algorithm of \(department.prefix(64))'s key (\(resolved.key.httpSignatureAlgorithm))")
        }
        let message = HTTPMessageSignatures.Message(
            method: request.method.rawValue, targetURI: Self.targetURI(of: request, tls: memberTLSCertificate != nil),
            fields: request.headers.map { ($0.name.canonicalName, $0.value) })
        let valid: Bool
        do { valid = try HTTPMessageSignatures.verify(only, of: message) { resolved.key.isValidHTTPSignature($1, for: $0) } } catch {
            throw unauthorized(.badSignature, "\(error)")
        }
        guard valid else { throw unauthorized(.badSignature, "the request signature does not verify with \(department.prefix(64))'s registered key") }
        let (signature, node, speaksFor) = (only.signature, resolved.node, resolved.speaksFor)
        // Mutual TLS: the connection presents the signer's registered certificate — a stolen signing key alone does not
        // make a request, and a member removed by governance is refused from that height.
        if let memberTLSCertificate {
            let registered: String?
            if let node {
                registered = await memberTLSCertificate(node).flatMap { try? TLSIdentity.pin(ofCertificatePEM: $0) }
            } else {
                registered = departments.tlsPin(for: department)
            }
            guard let registered else {
                throw unauthorized(
                    .clientCertificateRequired,
                    "\(department.prefix(64)) has no TLS client certificate registered; create one with `gateway keys tls` and register it (departments file or member entry)"
                )
            }
            guard let presented = await context.peerCertificatePin() else {
                throw unauthorized(.clientCertificateRequired, "connect with \(department.prefix(64))'s TLS client certificate (mutual TLS)")
            }
            guard constantTimeEquals(Array(presented.utf8), Array(registered.utf8)) else {
                throw unauthorized(
                    .clientCertificateMismatch, "the connection's TLS client certificate is not the one registered to \(department.prefix(64))")
            }
        }
        let replayed = unauthorized(.replayedRequest, "this nonce was already used; sign every request with a new nonce")
        switch await nonces.use("\(department):\(nonce)", now: now()) {
        case .fresh: break
        case .replayed: throw replayed
        case .full: throw ProblemError(.busy, "too many requests in flight; retry later")
        }
        if let durableNonces {
            let current = now()
            if await nonces.durablePurgeDue(now: current) { try await durableNonces.purge(nowS: current) }
            // Kept for twice the window: a timestamp may be up to one window in the past or the future.
            guard
                try await durableNonces.claim(
                    department: department, nonce: nonce, nowS: current, expiresS: current + 2 * RequestSigning.freshnessSeconds
                )
            else { throw replayed }
        }
        context.principal = Principal(department: speaksFor, role: role, node: node, requestDigest: suite.hash(signature))
        context.body = body
        return try await next(request, context)
    }

    /// The request's target URI as signatures see it: the scheme the node serves, the Host, and the target as sent.
    static func targetURI(of request: Request, tls: Bool) -> String {
        "\(tls ? "https" : "http")://\(request.head.authority ?? "")\(request.uri.description)"
    }
}
