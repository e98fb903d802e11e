import GatewayCrypto
import ServiceLifecycle

/// Keeps the Paillier randomness pool filled while the node runs (one background thread), and stops it on shutdown.
struct RandomnessPoolService: Service {
    let pool: RandomnessPool

    init(_ pool: RandomnessPool) { self.pool = pool }

    func run() async throws {
        pool.start(workers: 1)
        defer { pool.stop() }
        try? await gracefulShutdown()
    }
}

/// Checks the policy bundle once the chain is ready (a solo node approves its own), then idles until shutdown.
struct BundleCheckService: Service {
    let exchange: ExchangeService

    func run() async throws {
        await exchange.checkBundleAtStartup()
        try? await gracefulShutdown()
    }
}
