import Foundation
import GatewayChain
import GatewayCrypto
import GatewayNode
import GatewayStore
import Hummingbird
import Logging
import NIOCore

/// The regulator's dashboard, served by its own observer (`gateway observe --dashboard HOST:PORT`) from the observer's
/// verified copy of the chain: accesses over time by department and decision, denials and their reasons, purposes,
/// live grants, consents given and withdrawn, the validator-set and policy-bundle history, and the newest events, each
/// with its inclusion proof, which the page checks itself (transaction → Merkle path → the header's root, with SM3
/// or SHA-256 in the browser) rather than trusting the server's word. Read-only; bind it to a loopback address or put
/// it behind the regulator's own access control: it has no login.
package enum ObserverDashboard {
    package static let eventsMax = 200

    struct Summary: Encodable {
        let chainId: String
        let suite: String
        let height: UInt64
        let totalEvents: Int
        let accessesPerDay: [ChainStore.AccessCount]
        let denials: [ChainStore.DenialCount]
        let purposes: [ChainStore.PurposeCount]
        let grants: [ChainObserver.Snapshot.LiveGrant]
        let consents: [ChainObserver.Snapshot.ConsentCount]
        let validatorSets: [ChainObserver.Snapshot.ValidatorSet]
        let policyBundles: [String]
        let members: [String]
    }

    struct EventView: Encodable {
        let eventId: String
        let height: UInt64
        let transaction: String
        let department: String
        let role: String?
        let action: String
        let category: String
        let purpose: String
        let decision: String
        let policies: [String]
        let timestampMs: Int64
    }

    struct ProofView: Encodable {
        let eventId: String
        let height: UInt64
        let suite: String
        let proof: InclusionProof
    }

    struct Problem: Encodable {
        let type: String
        let title: String
        let status: Int
        let code: String
        let detail: String
    }

    package static func makeRouter(observer: ChainObserver, now: @escaping @Sendable () -> Int64) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("") { _, _ in page(html, type: "text/html; charset=utf-8") }
        router.get("dashboard.js") { _, _ in page(script, type: "text/javascript; charset=utf-8") }
        router.get("dashboard.css") { _, _ in page(style, type: "text/css; charset=utf-8") }
        router.get("api/summary") { _, _ in
            let store = observer.chainStore
            let snapshot = await observer.snapshot(nowMs: now())
            return try json(
                Summary(
                    chainId: snapshot.chainId, suite: snapshot.suite, height: snapshot.height, totalEvents: try await store.accessEventCount(),
                    accessesPerDay: try await store.accessesPerDay(), denials: try await store.denialReasons(),
                    purposes: try await store.purposeCounts(), grants: snapshot.grants, consents: snapshot.consents,
                    validatorSets: snapshot.validatorSets, policyBundles: snapshot.policyBundles, members: snapshot.members))
        }
        router.get("api/events") { request, _ in
            let text = request.uri.queryParameters.get("limit") ?? "50"
            guard let limit = Int(text), (1...eventsMax).contains(limit) else {
                return problem(400, "invalid_request", "limit must be 1 to \(eventsMax)")
            }
            let rows = try await observer.chainStore.recentAccessEvents(limit: limit)
            return try json(
                rows.map {
                    EventView(
                        eventId: $0.eventID, height: $0.height, transaction: Hex.encode($0.transactionHash), department: $0.requester, role: $0.role,
                        action: $0.action, category: $0.category, purpose: $0.purpose, decision: $0.decision, policies: $0.policies,
                        timestampMs: $0.timestampMs)
                })
        }
        router.get("api/proof") { request, _ in
            guard let id = request.uri.queryParameters.get("event"), (1...256).contains(id.utf8.count) else {
                return problem(400, "invalid_request", "event must name an access event id (1 to 256 bytes)")
            }
            let store = observer.chainStore
            // Optional: the hash of the transaction that carries it (a key copied into several transactions has a row each).
            var transaction: [UInt8]?
            if let given = request.uri.queryParameters.get("transaction") {
                guard given.utf8.count == 64, let hash = Hex.decode(String(given)) else {
                    return problem(400, "invalid_request", "transaction must be a transaction hash (64 hexadecimal digits)")
                }
                transaction = hash
            }
            let rows = try await store.accessEvents(id: String(id))
            guard let row = rows.first(where: { transaction == nil || $0.transactionHash == transaction }),
                let location = try await store.location(of: row.transactionHash),
                let proof = try await store.inclusionProof(
                    height: location.height, index: location.index, suite: observer.cryptoSuite,
                    commitment: try await store.commitmentEvidence(atHeight: location.height))
            else { return problem(404, "not_found", "no access event \(id) in the observer's chain") }
            return try json(ProofView(eventId: row.eventID, height: row.height, suite: observer.cryptoSuite.name.rawValue, proof: proof))
        }
        return router
    }

    package static func makeApplication(
        observer: ChainObserver, host: String, port: Int, logger: Logger, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> Application<RouterResponder<BasicRequestContext>> {
        Application(
            router: makeRouter(observer: observer, now: { Int64(Date().timeIntervalSince1970 * 1_000) }),
            configuration: .init(address: .hostname(host, port: port), serverName: "DataGateway-Dashboard"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    static func problem(_ status: Int, _ code: String, _ detail: String) -> Response {
        let body = Problem(type: "https://datagateway.example/problems/\(code)", title: code, status: status, code: code, detail: detail)
        let data = (try? JSONEncoder().encode(body)) ?? Data()
        return Response(
            status: .init(code: status), headers: [.contentType: "application/problem+json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func page(_ text: String, type: String) -> Response {
        StaticPage.response(
            text, type: type,
            policy:
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        )
    }
}
