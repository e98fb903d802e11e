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
