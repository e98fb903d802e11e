import GatewayCrypto
import ServiceLifecycle

/// Keeps the Paillier randomness pool filled while the node runs: it fills the pool off the cooperative threads
/// (`HeavyWork`), then sleeps until a value is taken (the pool rings a doorbell; no polling), and stops on shutdown.
struct RandomnessPoolService: Service {
    let pool: RandomnessPool
    /// Called each time a refill leaves the pool full (for tests that wait for it).
    let onFull: @Sendable () -> Void

    init(_ pool: RandomnessPool, onFull: @escaping @Sendable () -> Void = {}) {
        self.pool = pool
        self.onFull = onFull
    }

    func run() async throws {
        let (taken, doorbell) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        pool.whenTaken { doorbell.yield() }
        doorbell.yield()
        await withGracefulShutdownHandler {
            for await _ in taken {
                // One value per blocking-pool job, so that shutdown is never held up by more than one computation.
                while !Task.isCancelled, !Task.isShuttingDownGracefully, (try? await HeavyWork.run({ pool.refillOne() })) == true {}
                if pool.isFull { onFull() }
            }
        } onGracefulShutdown: {
            doorbell.finish()
        }
        pool.whenTaken {}
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

/// Runs this node's duty as a share holder of the consortium key once the chain is ready: answers every committed
/// decryption request (share or refusal), until shutdown.
struct DecryptionDutyService: Service {
    let duty: DecryptionDuty
    let chain: ChainService

    func run() async throws {
        guard (try? await chain.waitUntilReady()) != nil else { return }
        await cancelWhenGracefulShutdown { await duty.run() }
    }
}
