import AsyncHTTPClient
import Foundation
import GatewayCrypto
import GatewayTLS
import GatewayWire
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOSSL

/// A department's HTTP client: every request carries a fresh RFC 9421 signature (see `RequestSigning`); with
/// `nodeKey` set, every response's node signature is checked too.
public struct GatewayClient: Sendable {
    public let baseURL: String
    public let department: String
    /// The role within the department every request declares (`DG-Role`); nil for the department itself.
    public let role: String?
    let key: any SigningKey
    let suite: any CryptoSuite
    let http: HTTPClient
    /// The node's public key: when set, a response whose signature does not verify with it is refused
    /// (`RequestSigning.ResponseSignatureError`). Responses keep their headers either way (`ClientResponse.verify`).
    public var nodeKey: (any VerifyingKey)? = nil
    /// Upper bound on a response body the client will read.
    public static let responseBytesMax = 64 * 1024 * 1024

    public init(
        baseURL: String, department: String, role: String? = nil, key: any SigningKey, suite: any CryptoSuite, http: HTTPClient = .shared
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.department = department
        self.role = role
        self.key = key
        self.suite = suite
        self.http = http
    }

    /// A client over HTTPS: it presents `tls.identity` (the department's or node's registered client certificate) and
    /// trusts exactly the pinned server certificates.
    public init(baseURL: String, department: String, role: String? = nil, key: any SigningKey, suite: any CryptoSuite, tls: ClientTLS) throws {
        self.init(baseURL: baseURL, department: department, role: role, key: key, suite: suite, http: try TLSClients.shared.client(for: tls))
    }

    /// Sends a signed request; `target` is the path with query, e.g. `/v1/audit/events?limit=10`.
    public func send(_ method: String, _ target: String, body: [UInt8] = []) async throws -> ClientResponse {
        let headers = try signedHeaders(method, target, body: body)
        let response = try await sendRaw(method, target, body: body, headers: headers)
        if let nodeKey { try response.verify(nodeKey: nodeKey, suite: suite) }
        return response
    }

    /// Sends a request with exactly the given headers (no signing): for tools and tests that craft their own.
    public func sendRaw(_ method: String, _ target: String, body: [UInt8] = [], headers: [(String, String)]) async throws -> ClientResponse {
        var request = HTTPClientRequest(url: baseURL + target)
        request.method = HTTPMethod(rawValue: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if !body.isEmpty || method == "POST" {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let sent = RequestSigning.requestMessage(method: method, url: baseURL + target, fields: request.headers.map { ($0.name, $0.value) })
        let response: HTTPClientResponse
        let buffer: ByteBuffer
        do {
            response = try await http.execute(request, timeout: .seconds(120))
            buffer = try await response.body.collect(upTo: Self.responseBytesMax)
        } catch {
            throw ClientTransportError(url: baseURL, underlying: error)
        }
        var answer = ClientResponse(
            status: Int(response.status.code), contentType: response.headers.first(name: "Content-Type") ?? "",
            body: Array(buffer.readableBytesView)
        )
        answer.retryAfter = response.headers.first(name: "Retry-After")
        answer.fields = response.headers.map { ($0.name, $0.value) }
        answer.request = sent
        return answer
    }

    /// Signs a request and returns its headers without sending it.
    /// `created` defaults to now, `nonce` to a fresh one; `bindingAuthority: false` leaves the host out of what is
    /// signed (method, path and query only), so the same request verifies at another address of the node.
    public func signedHeaders(
        _ method: String, _ target: String, body: [UInt8], created: Int64? = nil, nonce: String? = nil, bindingAuthority: Bool = true
    ) throws -> [(String, String)] {
        try RequestSigning.sign(
            method: method, url: bindingAuthority ? baseURL + target : target, body: body, keyID: department, key: key, suite: suite,
            created: created ?? Int64(Date().timeIntervalSince1970), nonce: nonce ?? RequestSigning.newNonce(), role: role)
    }

    /// The same client, its requests made in a role within the department.
    public func acting(as role: String?) -> GatewayClient {
        var client = GatewayClient(baseURL: baseURL, department: department, role: role, key: key, suite: suite, http: http)
        client.nodeKey = nodeKey
        return client
    }

    /// Sends a signed request with a JSON body.
    public func send(_ method: String, _ target: String, json: some Encodable) async throws -> ClientResponse {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try await send(method, target, body: Array(try encoder.encode(json)))
    }
}

/// A request that got no HTTP answer: the node could not be reached, the TLS handshake failed, or no answer came in
/// time. Its description is one sentence saying what to check.
public struct ClientTransportError: Error, CustomStringConvertible {
    public let url: String
    public let underlying: any Error

    public var description: String {
        let text = "\(underlying)"
        let lower = text.lowercased()
        if lower.contains("connection refused") || lower.contains("errno: 111") {
            return "cannot connect to \(url): connection refused; is the node running there (check the URL and port)?"
        }
        if lower.contains("certificate") || lower.contains("handshake") || lower.contains("ssl") || lower.contains("tls") {
            return """
                the TLS handshake with \(url) failed (\(text.prefix(200))): pin the node's own certificate (--server-certificate \
                <node>/tls-cert.pem), and present the client certificate registered for the department
                """
        }
        if lower.contains("timeout") || lower.contains("timed out") || lower.contains("deadline") {
            return "no answer from \(url) in time; is the node overloaded or the network down?"
        }
        return "no HTTP answer from \(url): \(text.prefix(300))"
    }
}

/// A response as received.
public struct ClientResponse: Sendable {
    public let status: Int
    public let contentType: String
    public let body: [UInt8]
    /// The `Retry-After` header, when the server sent one (a 503 that a short wait cures).
    public var retryAfter: String? = nil
    /// Every header field of the response, in order (the node's `Signature-Input`, `Signature`, `Content-Digest`…).
    public var fields: [(name: String, value: String)] = []
    /// The request this answers, as its signature sees it (for `verify`).
    public var request: HTTPMessageSignatures.Message? = nil

    public init(status: Int, contentType: String, body: [UInt8], retryAfter: String? = nil) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.retryAfter = retryAfter
    }

    public var isSuccess: Bool { (200..<300).contains(status) }

    /// Checks the node's RFC 9421 signature on this response (bound to the request it answers); returns the signer's
    /// keyid (`node:<node-id>`), throws `RequestSigning.ResponseSignatureError` saying what failed.
    @discardableResult
    public func verify(nodeKey: any VerifyingKey, suite: any CryptoSuite) throws -> String {
        guard let request else { throw RequestSigning.ResponseSignatureError("the request this response answers is unknown") }
        return try RequestSigning.verifyResponse(status: status, fields: fields, body: body, request: request, key: nodeKey, suite: suite)
    }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(body))
    }

    /// The RFC 9457 problem, if the server sent one.
    public var problem: Problem? {
        guard contentType.hasPrefix("application/problem+json") else { return nil }
        return try? decode(Problem.self)
    }

    /// The API's problem type (GatewayWire): `problemCode` gives its catalogued code.
    public typealias Problem = API.Problem
}

/// What a client needs for HTTPS: its own TLS identity (nil: no client certificate, as a citizen's browser) and the
/// server certificates it trusts (pinned; there is no CA).
public struct ClientTLS: Sendable {
    public let identity: TLSIdentity?
    public let trustedServerCertificates: [String]
    /// Whether a failed connection is retried (with backoff, until the connect timeout) — right for nodes that
    /// restart; a client that must see a refused handshake at once turns it off.
    public let retriesConnections: Bool

    public init(identity: TLSIdentity?, trusting serverCertificates: [String], retriesConnections: Bool = true) {
        self.identity = identity
        self.trustedServerCertificates = serverCertificates
        self.retriesConnections = retriesConnections
    }

    var cacheKey: String {
        ([identity?.pin ?? "-", retriesConnections ? "retry" : "once"]
            + trustedServerCertificates.map { (try? TLSIdentity.pin(ofCertificatePEM: $0)) ?? $0 }.sorted()).joined(separator: ",")
    }
}

/// One HTTP client per TLS configuration, for the life of the process (a client must be shut down before it is freed;
/// these never are, like `HTTPClient.shared`).
final class TLSClients: Sendable {
    static let shared = TLSClients()
    let clients = NIOLockedValueBox<[String: HTTPClient]>([:])

    func client(for tls: ClientTLS) throws -> HTTPClient {
        let key = tls.cacheKey
        return try clients.withLockedValue { clients in
            if let client = clients[key] { return client }
            // As `HTTPClient.shared` is configured (generous connect and read timeouts), with the pinned TLS on top.
            var configuration = HTTPClient.Configuration.singletonConfiguration
            configuration.tlsConfiguration = try PinnedTLS.clientConfiguration(identity: tls.identity, trusting: tls.trustedServerCertificates)
            configuration.connectionPool.retryConnectionEstablishment = tls.retriesConnections
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = client
            return client
        }
    }
}
