import GatewayWire
import Foundation
import GatewayCrypto
import GatewayNode
import GatewayStore
import GatewayTLS
import HTTPTypes
import Hummingbird
import NIOCore

/// Verifies the request signature (see `RequestSigning`) before anything else happens: body size limit, content
/// digest, freshness, single-use nonce, known department, valid signature. On success the verified principal and
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
    /// Member nodes' keys, for node-to-node requests (`DG-Department: node:<node-id>`).
    let member: @Sendable (String) async -> (key: any VerifyingKey, department: String)?
    /// Over HTTPS: a member node's registered TLS certificate now (nil when it has none or is no longer a member).
    /// nil when the node serves plain HTTP, where no client certificate is asked for.
    var memberTLSCertificate: (@Sendable (String) async -> String?)? = nil

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
        guard let department = header(RequestSigning.Header.department), let timestamp = header(RequestSigning.Header.timestamp),
            let nonce = header(RequestSigning.Header.nonce), let digest = header(RequestSigning.Header.contentDigest),
            let signatureText = header(RequestSigning.Header.signature)
        else {
            throw unauthorized(
                .missingSignature,
                "sign the request: send DG-Department, DG-Timestamp, DG-Nonce, Content-Digest and DG-Signature (see README, 'Signed requests')"
            )
        }
        let bodyBytes = Array(body.readableBytesView)
        let computed = try await HeavyWork.run(forBytes: bodyBytes.count) { [suite] in RequestSigning.contentDigest(bodyBytes, suite: suite) }
        guard digest == computed else {
            throw unauthorized(.digestMismatch, "Content-Digest does not match the body (expected \(RequestSigning.digestAlgorithm(suite)))")
        }
        // Bounded first (1970 to 9999), so the difference below cannot overflow whatever the header holds.
        guard let seconds = Bounded.unixSeconds.parse(timestamp), abs(seconds - now()) <= RequestSigning.freshnessSeconds else {
            throw unauthorized(.staleRequest, "DG-Timestamp must be Unix seconds within \(RequestSigning.freshnessSeconds) s of the server clock")
        }
        guard (16...64).contains(nonce.count), Hex.decode(nonce) != nil else {
            throw unauthorized(.invalidNonce, "DG-Nonce must be 16 to 64 hex characters")
        }
        let role = header(RequestSigning.Header.role)
        if let role, !RequestSigning.isValidRole(role) {
            throw unauthorized(.invalidRole, "DG-Role must be 1 to 64 characters of a-z, 0-9, _ and -")
        }
        // A member node signs as `node:<node-id>` with its node key; it speaks for its own department.
        var node: String? = nil
        var speaksFor = department
        let key: any VerifyingKey
        if department.hasPrefix("node:") {
            let nodeID = String(department.dropFirst(5))
            guard let member = await member(nodeID) else {
                throw unauthorized(.unknownDepartment, "node '\(nodeID.prefix(64))' is not a member of this chain")
            }
            (key, node, speaksFor) = (member.key, nodeID, member.department)
        } else {
            guard let registered = departments.verifyingKey(for: department) else {
                throw unauthorized(.unknownDepartment, "department '\(department.prefix(64))' is not registered on this node")
            }
            key = registered
        }
        let message = RequestSigning.signingString(
            method: request.method.rawValue, target: request.uri.description, department: department, timestamp: timestamp,
            nonce: nonce, contentDigest: digest, role: role
        )
        guard let signature = Data(base64Encoded: signatureText), key.isValidSignature([UInt8](signature), for: message) else {
            throw unauthorized(.badSignature, "the request signature does not verify with \(department)'s registered key")
        }
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
        let replayed = unauthorized(.replayedRequest, "this DG-Nonce was already used; sign every request with a new nonce")
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
        context.principal = Principal(department: speaksFor, role: role, node: node, requestDigest: suite.hash([UInt8](signature)))
        context.body = body
        return try await next(request, context)
    }
}
