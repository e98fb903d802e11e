import Foundation
import GatewayCrypto
import GatewayNode
import GatewaySchema
import GatewayWire
import Hummingbird
import NIOCore

/// Encodes a response body as JSON with sorted keys.
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return Response(
        status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value)))
    )
}

/// Decodes the signed body: first as JSON (400 malformed_json), then as the expected shape (400 invalid_request).
/// Large bodies are parsed off the cooperative pool (`HeavyWork`); the strict parser bounds the values and nesting.
func decodeBody<T: Decodable & Sendable>(_ type: T.Type, from context: GatewayContext) async throws -> T {
    let data = Data(context.body.readableBytesView)
    return try await HeavyWork.run(forBytes: data.count) {
        _ = try JSONValue.parse(data)
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            throw ExchangeError(.invalidRequest, describe(error))
        }
    }
}

func describe(_ error: DecodingError) -> String {
    func path(_ codingPath: [any CodingKey]) -> String {
        codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: "/")
    }
    switch error {
    case .keyNotFound(let key, let context):
        return "missing field /\((context.codingPath.map { $0.stringValue } + [key.stringValue]).joined(separator: "/"))"
    case .typeMismatch(let type, let context):
        return "field /\(path(context.codingPath)) must be of type \(type)"
    case .valueNotFound(let type, let context):
        return "field /\(path(context.codingPath)) must be a \(type), not null"
    case .dataCorrupted(let context):
        return "invalid value at /\(path(context.codingPath))"
    @unknown default:
        return "request body has the wrong shape"
    }
}

/// A path parameter, percent-decoded (RFC 3986: a segment carries its reserved and non-ASCII characters encoded, and
/// clients such as `gateway grant revoke` encode ids that way). Malformed encoding is a 400.
func pathParameter(_ name: String, _ context: GatewayContext) throws -> String {
    let raw = try context.parameters.require(name)
    guard let decoded = raw.removingPercentEncoding else {
        throw ExchangeError(.invalidRequest, "path parameter \(name) is not valid percent-encoding")
    }
    return decoded
}

/// An integer query parameter through the one bounded parser (`Bounded`): absent gives `defaultValue`; anything
/// that is not a plain decimal within the range is a 400 naming the range.
func queryInteger(_ name: String, _ request: Request, default defaultValue: Int64, _ bound: Bounded) throws -> Int64 {
    guard let text = request.uri.queryParameters.get(name) else { return defaultValue }
    guard let value = bound.parse(text) else { throw ExchangeError(.invalidRequest, "query parameter \(bound.requirement)") }
    return value
}

/// A required integer query parameter, parsed within its bounds.
func queryInteger(_ name: String, _ request: Request, _ bound: Bounded) throws -> Int64 {
    guard let text = request.uri.queryParameters.get(name) else { throw ExchangeError(.invalidRequest, "query parameter \(name) is required") }
    guard let value = bound.parse(text) else { throw ExchangeError(.invalidRequest, "query parameter \(bound.requirement)") }
    return value
}

struct RecordsController {
    let exchange: ExchangeService

    func register(on group: RouterGroup<GatewayContext>) {
        group.post("records/:category") { request, context in
            let body = try await decodeBody(API.PublishRequest.self, from: context)
            let category = try pathParameter("category", context)
            return try jsonResponse(
                try await exchange.publishing.publish(try context.requirePrincipal(), category: category, records: body.records), status: .created)
        }
        group.get("records/:category/:id") { request, context in
            let category = try pathParameter("category", context)
            let id = try pathParameter("id", context)
            guard let purpose = request.uri.queryParameters.get("purpose") else {
                throw ExchangeError(.invalidRequest, "query parameter purpose is required")
            }
            let result = try await exchange.reading.request(
                try context.requirePrincipal(), API.RecordsRequest(category: category, ids: [id], purpose: purpose)
            )
            if result.records.isEmpty, let erased = result.erased?.first {
                throw ExchangeError(
                    .recordErased,
                    "record \(id) in \(category) was erased by its holder (transaction \(erased.transaction) at height \(erased.height))",
                    transaction: erased.transaction)
            }
            guard !result.records.isEmpty else { throw ExchangeError(.notFound, "no record \(id) in \(category)") }
            return try jsonResponse(result)
        }
        // Erasure by the holder: crypto-shredding, compensated running sums, an erasure transaction on chain.
        group.delete("records/:category/:id") { _, context in
            let category = try pathParameter("category", context)
            let id = try pathParameter("id", context)
            return try jsonResponse(try await exchange.erasing.erase(try context.requirePrincipal(), category: category, id: id))
        }
    }
}

struct RequestsController {
    let exchange: ExchangeService

    func register(on group: RouterGroup<GatewayContext>) {
        group.post("requests") { _, context in
            let body = try await decodeBody(API.RecordsRequest.self, from: context)
            return try jsonResponse(try await exchange.reading.request(try context.requirePrincipal(), body))
        }
        group.post("consents") { _, context in
            let body = try await decodeBody(API.ConsentRequest.self, from: context)
            return try jsonResponse(try await exchange.consents.record(try context.requirePrincipal(), body), status: .created)
        }
        group.post("grants") { _, context in
            let body = try await decodeBody(API.GrantRequest.self, from: context)
            return try jsonResponse(try await exchange.grants.issue(try context.requirePrincipal(), body), status: .created)
        }
        group.get("grants") { _, context in
            try jsonResponse(try await exchange.grants.list(try context.requirePrincipal()))
        }
        group.delete("grants/:id") { _, context in
            let id = try pathParameter("id", context)
            return try jsonResponse(try await exchange.grants.revoke(try context.requirePrincipal(), id: id))
        }
        group.post("aggregates") { _, context in
            let body = try await decodeBody(API.AggregateRequest.self, from: context)
            return try jsonResponse(try await exchange.aggregates.aggregate(try context.requirePrincipal(), body))
        }
    }
}

struct AuditController {
    let exchange: ExchangeService

    func register(on group: RouterGroup<GatewayContext>) {
        group.get("audit/events") { request, context in
            let limit = try queryInteger("limit", request, default: 100, .count("limit", max: Audit.pageMax))
            var after: API.AuditCursor?
            if let text = request.uri.queryParameters.get("after") {
                guard let cursor = API.AuditCursor(parsing: text) else {
                    throw ExchangeError(.invalidRequest, "after must be a cursor returned as 'next' by a previous page")
                }
                after = cursor
            }
            var query = API.AuditQuery()
            let parameters = request.uri.queryParameters
            query.department = parameters.get("department")
            query.role = parameters.get("role")
            query.purpose = parameters.get("purpose")
            query.decision = parameters.get("decision")
            query.from = parameters.get("from")
            query.to = parameters.get("to")
            query.citizen = parameters.get("citizen")
            return try jsonResponse(
                try await exchange.audit.events(try context.requirePrincipal(), after: after, limit: Int(limit), query: query))
        }
        group.get("chain/blocks") { request, context in
            let from = try queryInteger("from", request, default: 1, Bounded("from", 1...Bounded.heightMax))
            let limit = try queryInteger("limit", request, default: 64, .count("limit", max: Audit.chainBlocksMax))
            return try jsonResponse(try await exchange.audit.blocks(try context.requirePrincipal(), from: UInt64(from), limit: Int(limit)))
        }
        group.get("audit/log/head") { _, context in
            try jsonResponse(try await exchange.audit.logHead(try context.requirePrincipal()))
        }
        group.get("audit/log/consistency") { request, context in
            let from = try queryInteger("from", request, Bounded("from", 1...Bounded.heightMax))
            let to = try queryInteger("to", request, Bounded("to", 1...Bounded.heightMax))
            return try jsonResponse(try await exchange.audit.logConsistency(try context.requirePrincipal(), from: UInt64(from), to: UInt64(to)))
        }
        group.get("audit/log/inclusion") { request, context in
            let index = try queryInteger("index", request, Bounded("index", 0...Bounded.heightMax))
            let size = try queryInteger("size", request, Bounded("size", 1...Bounded.heightMax))
            return try jsonResponse(
                try await exchange.audit.logInclusion(try context.requirePrincipal(), index: UInt64(index), size: UInt64(size)))
        }
        group.get("audit/events/:id/proof") { _, context in
            let id = try pathParameter("id", context)
            return try jsonResponse(try await exchange.audit.proof(try context.requirePrincipal(), eventID: id))
        }
    }
}

struct GovernanceController {
    let governance: GovernanceService

    func register(on group: RouterGroup<GatewayContext>) {
        group.get("governance") { _, context in
            try jsonResponse(try await governance.status(try context.requirePrincipal()))
        }
        group.post("governance/proposals") { _, context in
            let body = try await decodeBody(API.GovernanceProposalRequest.self, from: context)
            return try jsonResponse(try await governance.propose(try context.requirePrincipal(), body), status: .created)
        }
        group.post("governance/proposals/:id/approvals") { _, context in
            let id = try pathParameter("id", context)
            return try jsonResponse(try await governance.approve(try context.requirePrincipal(), proposalID: id), status: .created)
        }
    }
}

/// Statistics across departments: asked at the requester's own node, and the holders' parts asked node to node.
struct StatisticsController {
    let exchange: ExchangeService

    func register(on group: RouterGroup<GatewayContext>) {
        group.post("statistics") { _, context in
            let body = try await decodeBody(API.StatisticsRequest.self, from: context)
            return try jsonResponse(try await exchange.statistics.statistics(try context.requirePrincipal(), body))
        }
        group.post("node/contributions") { _, context in
            let body = try await decodeBody(API.ContributionRequest.self, from: context)
            return try jsonResponse(try await exchange.statistics.contribute(try context.requirePrincipal(), body))
        }
    }
}
