import Foundation
import GatewayCrypto
import GatewayNode
import GatewayStore
import GatewayWire
import Hummingbird
import Logging
import NIOCore

/// Builds the HTTP application of a node: problem+json errors outermost, then the starting gate and the signature
/// check on /v1, then the resource controllers. The node's services run inside the application's ServiceGroup. The
/// server listens as soon as it is built, whatever the chain's length: health and readiness answer while the chain is
/// verified, and data requests get 503 `node_starting` until it is (`Node.chain.waitUntilReady()`).
public enum GatewayServer {
    public static func makeApplication(
        node: Node, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> Application<RouterResponder<GatewayContext>> {
        let router = Router(context: GatewayContext.self)
        router.middlewares.add(ProblemMiddleware())
        router.get("v1/health") { _, _ in try jsonResponse(await node.health()) }
        // Readiness, unlike health (the process answers), says whether data requests can be answered now.
        router.get("v1/ready") { _, _ in
            let readiness = await node.readiness()
            return try jsonResponse(readiness, status: readiness.ready ? .ok : .serviceUnavailable)
        }

        let now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }
        // The server listens at once; until the chain is loaded and verified, data requests are refused before any
        // other work (the signature check's nonce store may not even be migrated yet).
        let api = router.group("v1").add(middleware: StartingGate(startup: node.chain.startup)).add(middleware: SignatureAuthenticator(
            departments: node.departments, suite: node.suite, bodyBytesMax: node.configuration.requestBodyBytesMax,
            nonces: NonceCache(windowSeconds: RequestSigning.freshnessSeconds), durableNonces: RequestNonceStore(database: node.database),
            now: now
        ))
        RecordsController(exchange: node.exchange).register(on: api)
        RequestsController(exchange: node.exchange).register(on: api)
        AuditController(exchange: node.exchange).register(on: api)
        GovernanceController(governance: node.governance).register(on: api)

        var app = Application(
            router: router,
            configuration: .init(address: .hostname(node.configuration.host, port: node.configuration.port), serverName: "DataGateway"),
            services: node.services,
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: node.logger
        )
        return app
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
