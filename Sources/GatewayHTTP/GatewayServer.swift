import Foundation
import GatewayCrypto
import GatewayNode
import GatewayStore
import GatewayWire
import GatewayTLS
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore

/// Builds the HTTP application of a node: problem+json errors outermost, then the starting gate and the signature
/// check on /v1, then the resource controllers. The node's services run inside the application's ServiceGroup. The
/// server listens as soon as it is built, whatever the chain's length: health and readiness answer while the chain is
/// verified, and data requests get 503 `node_starting` until it is (`Node.chain.waitUntilReady()`).
package enum GatewayServer {
    /// What the router needs: the use cases, who may call and with which keys, and how the node reports its state.
    /// A node supplies its own (`Parts(node:)`); router tests supply the use cases over in-memory fakes.
    package struct Parts: Sendable {
        package var exchange: ExchangeService
        package var governance: GovernanceService
        package var departments: DepartmentDirectory
        package var suite: any CryptoSuite
        package var bodyBytesMax: Int
        package var startup: StartupProgress
        /// The durable record of used request nonces (nil: the in-memory cache only).
        package var durableNonces: RequestNonceStore?
        package var health: @Sendable () async -> API.Health
        package var readiness: @Sendable () async -> API.Readiness
        /// Unix seconds, for request freshness.
        package var now: @Sendable () -> Int64
        /// A member node's key and department, for node-to-node requests (`keyid="node:<id>"`).
        package var member: @Sendable (String) async -> (key: any VerifyingKey, department: String)? = { _ in nil }
        /// Over HTTPS, a member node's registered TLS certificate now; nil serves plain HTTP without client certificates.
        package var memberTLSCertificate: (@Sendable (String) async -> String?)? = nil
        /// The request-signing key governance set for a department (nil: the departments file's key counts).
        package var departmentKey: @Sendable (String) async -> (key: (any VerifyingKey)?, height: UInt64)? = { _ in nil }
        /// The node's key and key id (`node:<node-id>`) that sign every response (nil: responses go unsigned).
        package var responseSigning: (key: any SigningKey, keyID: String)? = nil
        /// The node's metrics and how to read its gauges (nil: no /metrics).
        package var metrics: (registry: NodeMetrics, snapshot: @Sendable () async -> NodeMetrics.Snapshot)? = nil

        package init(
            exchange: ExchangeService, governance: GovernanceService, departments: DepartmentDirectory, suite: any CryptoSuite,
            bodyBytesMax: Int, startup: StartupProgress, durableNonces: RequestNonceStore?,
            health: @escaping @Sendable () async -> API.Health, readiness: @escaping @Sendable () async -> API.Readiness,
            now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
        ) {
            self.exchange = exchange
            self.governance = governance
            self.departments = departments
            self.suite = suite
            self.bodyBytesMax = bodyBytesMax
            self.startup = startup
            self.durableNonces = durableNonces
            self.health = health
            self.readiness = readiness
            self.now = now
        }

        package init(node: Node) {
            self.init(
                exchange: node.exchange, governance: node.governance, departments: node.departments, suite: node.suite,
                bodyBytesMax: node.configuration.requestBodyBytesMax, startup: node.chain.startup,
                durableNonces: RequestNonceStore(database: node.database), health: { await node.health() }, readiness: { await node.readiness() }
            )
            member = { await node.chain.member($0) }
            departmentKey = { await node.chain.departmentKey($0) }
            if node.configuration.tls != nil { memberTLSCertificate = { await node.chain.memberTLSCertificate($0) } }
            metrics = (node.metrics, { await node.metricsSnapshot() })
            responseSigning = (node.signingKey, "node:\(node.configuration.nodeID)")
        }
    }

    /// The routes: metrics outermost, then the response signature, then problem+json errors; health and readiness unsigned; under /v1 the starting gate, the
    /// signature check, then the resource controllers.
    package static func makeRouter(_ parts: Parts) -> Router<GatewayContext> {
        let router = Router(context: GatewayContext.self)
        if let metrics = parts.metrics {
            router.middlewares.add(MetricsMiddleware(metrics: metrics.registry))
            // Prometheus text exposition; labels hold route patterns, statuses and outcomes, never request content.
            router.get("metrics") { _, _ in
                let body = metrics.registry.render(await metrics.snapshot())
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: body)))
            }
        }
        if let signing = parts.responseSigning {
            router.middlewares.add(
                ResponseSigner(key: signing.key, keyID: signing.keyID, suite: parts.suite, tls: parts.memberTLSCertificate != nil))
        }
        router.middlewares.add(ProblemMiddleware())
        router.get("v1/health") { _, _ in try jsonResponse(await parts.health()) }
        // Readiness, unlike health (the process answers), says whether data requests can be answered now.
        router.get("v1/ready") { _, _ in
            let readiness = await parts.readiness()
            return try jsonResponse(readiness, status: readiness.ready ? .ok : .serviceUnavailable)
        }
        // The server listens at once; until the chain is loaded and verified, data requests are refused before any
        // other work (the signature check's nonce store may not even be migrated yet).
        let api = router.group("v1").add(middleware: StartingGate(startup: parts.startup)).add(
            middleware: SignatureAuthenticator(
                departments: parts.departments, suite: parts.suite, bodyBytesMax: parts.bodyBytesMax,
                nonces: NonceCache(windowSeconds: RequestSigning.freshnessSeconds), durableNonces: parts.durableNonces, now: parts.now,
                member: parts.member, memberTLSCertificate: parts.memberTLSCertificate, departmentKey: parts.departmentKey
            ))
        RecordsController(exchange: parts.exchange).register(on: api)
        RequestsController(exchange: parts.exchange).register(on: api)
        AuditController(exchange: parts.exchange).register(on: api)
        GovernanceController(governance: parts.governance).register(on: api)
        StatisticsController(exchange: parts.exchange).register(on: api)
        CitizensController(exchange: parts.exchange).register(on: api)
        // Citizens come with a bearer token their department's login obtained, not with a department's signature.
        let citizen = router.group("v1/citizen").add(middleware: StartingGate(startup: parts.startup))
        CitizensController(exchange: parts.exchange).registerCitizen(on: citizen)
        CitizenPage.register(on: router)
        return router
    }

    /// The node's application: HTTPS (TLS 1.3, client certificates asked for and checked per request) when the node has
    /// a TLS identity, plain HTTP otherwise.
    package static func makeApplication(
        node: Node, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> Application<RouterResponder<GatewayContext>> {
        var server: HTTPServerBuilder = .http1()
        if let identity = node.configuration.tls {
            server = try .tls(
                .http1(),
                configuration: TLSChannelConfiguration(
                    tlsConfiguration: try PinnedTLS.serverConfiguration(identity), customVerificationCallback: PinnedTLS.verifier()))
        }
        return Application(
            router: makeRouter(Parts(node: node)),
            server: server,
            configuration: .init(address: .hostname(node.configuration.host, port: node.configuration.port), serverName: "DataGateway"),
            services: node.services,
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: node.logger
        )
    }
}

/// Refuses every /v1 request but health and readiness while the node is starting (503 `node_starting`, Retry-After).
struct StartingGate: RouterMiddleware {
    typealias Context = GatewayContext
    let startup: StartupProgress

    func handle(_ request: Request, context: GatewayContext, next: (Request, GatewayContext) async throws -> Response) async throws -> Response {
        guard startup.isReady else { throw ExchangeError(.nodeStarting, startup.summary + "; retry shortly") }
        return try await next(request, context)
    }
}
