import Foundation
import GatewayClient
import GatewayCrypto
import GatewayTLS
import GatewayWire

/// Node-to-node requests (statistics contributions, a citizen's accesses): signed with this node's key as
/// `node:<node-id>` (the other node verifies it against the member key on chain), sent to that node's HTTP API
/// (`--peer-api node-id=URL`). A problem the other node answers comes back as the same `ExchangeError`, its event id
/// included.
package struct PeerClient: StatisticsPeering, CitizenAccessPeering {
    let nodeID: String
    let key: any SigningKey
    let suite: any CryptoSuite
    let addresses: [String: String]
    /// This node's TLS identity: with one, peers are reached over mutual TLS, each trusted by the certificate its
    /// member entry pins now (a removed member is not trusted).
    var tls: TLSIdentity? = nil
    var memberCertificate: @Sendable (String) async -> String? = { _ in nil }
    /// A member node's signing key on chain: its answers are signed with it (RFC 9421), and an answer that does not
    /// verify is refused like no answer (nil: answers are not checked).
    var memberKey: (@Sendable (String) async -> (any VerifyingKey)?)? = nil

    package init(
        nodeID: String, key: any SigningKey, suite: any CryptoSuite, addresses: [String: String], tls: TLSIdentity? = nil,
        memberCertificate: @escaping @Sendable (String) async -> String? = { _ in nil },
        memberKey: (@Sendable (String) async -> (any VerifyingKey)?)? = nil
    ) {
        self.nodeID = nodeID
        self.key = key
        self.suite = suite
        self.addresses = addresses
        self.tls = tls
        self.memberCertificate = memberCertificate
        self.memberKey = memberKey
    }

    package var nodes: [String] { addresses.keys.filter { $0 != nodeID }.sorted() }

    package func contribution(from node: String, _ request: API.ContributionRequest) async throws -> API.ContributionResponse {
        try await post(to: node, "/v1/node/contributions", request)
    }

    package func accesses(from node: String, _ query: API.CitizenAccessQuery) async throws -> API.CitizenAccessPart {
        try await post(to: node, "/v1/node/citizen-accesses", query)
    }

    func post<Body: Encodable & Sendable, Answer: Decodable>(to node: String, _ path: String, _ body: Body) async throws -> Answer {
        guard let address = addresses[node] else {
            throw ExchangeError(
                .chainUnavailable, "this node does not know \(node)'s API address: start it with --peer-api \(node)=http://host:port")
        }
        var client: GatewayClient
        if let tls {
            guard let certificate = await memberCertificate(node) else {
                throw ExchangeError(
                    .chainUnavailable, "\(node) has no TLS certificate in its member entry; this node speaks to peers over mutual TLS only")
            }
            client = try GatewayClient(
                baseURL: address, department: "node:\(nodeID)", key: key, suite: suite, tls: ClientTLS(identity: tls, trusting: [certificate]))
        } else {
            client = GatewayClient(baseURL: address, department: "node:\(nodeID)", key: key, suite: suite)
        }
        if let memberKey {
            guard let key = await memberKey(node) else { throw ExchangeError(.chainUnavailable, "\(node) is not a member of the chain") }
            client.nodeKey = key
        }
        let response: ClientResponse
        do {
            response = try await client.send("POST", path, json: body)
        } catch {
            throw ExchangeError(.chainUnavailable, "cannot reach \(node) at \(address): \(error)")
        }
        if response.status == 200 { return try response.decode(Answer.self) }
        if let problem = response.problem {
            throw ExchangeError(ProblemCode.named(problem.code) ?? .internalError, problem.detail, eventID: problem.eventId)
        }
        throw ExchangeError(.internalError, "\(node) answered \(response.status)")
    }
}
