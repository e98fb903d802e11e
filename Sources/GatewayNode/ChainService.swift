import GatewayChain
import GatewayCrypto
import GatewayTLS
import GatewayStore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// Where a committed transaction sits.
package struct TransactionLocation: Sendable, Equatable {
    package let height: UInt64
    package let index: Int

    package init(height: UInt64, index: Int) {
        self.height = height
        self.index = index
    }
}

/// How this node takes part in consensus.
package struct ConsensusSettings: Sendable {
    /// A round without progress times out after this long (doubling, up to 8×, while rounds keep failing); an idle
    /// leader proposes an empty block after half of it.
    package var roundTimeoutMs: UInt64 = 1_000
    /// Where to listen for peers; nil takes the address of this node in the genesis.
    package var listenAddress: (host: String, port: Int)?
    /// Transactions waiting for a block beyond which new requests are answered `busy`.
    package var backlogMax: Int = 20_000
    /// This node's TLS identity: consensus links run over mutual TLS when the node's member entry pins it.
    package var tls: TLSIdentity?

    package init() {}
}

/// The chain as this node sees it: a BFT replica (Jolteon, `GatewayChain/Consensus`) driven over TCP among the
/// validators — for a solo node, the same replica with n = 1. Transactions come from the durable outbox into the
/// shared mempool; committed blocks are verified by the ledger rules (which also decide, from governance, when the
/// validator set changes and a new epoch's replica takes over) and written atomically with their derived state;
/// requests waiting for their transaction are then resumed. A node that is not a validator follows: it verifies and
/// stores every block without voting, and votes once governance admits it.
package actor ChainService: Service {
    /// Runs on the database's chain loop (see `Database.chainLoop`).
    nonisolated let executorLoop: any EventLoop
    nonisolated package var unownedExecutor: UnownedSerialExecutor { executorLoop.executor.asUnownedSerialExecutor() }
    let store: ChainStore
    let consensusStore: ConsensusStore
    let database: Database
    let suite: any CryptoSuite
    let signer: any SigningKey
    let nodeID: String
    let logger: Logger
    let now: @Sendable () -> Int64
    let settings: ConsensusSettings
    /// The ledger state of every block consensus decided (applied in memory, in order, as the replica commits);
    /// storage follows it, and `storedHeight` says how far.
    var ledger: Ledger { didSet { published.withLockedValue { $0.ledger = ledger } } }
    /// What requests read of this actor's state, published by it on every change and read without a hop onto it:
    /// its executor is the chain's loop, which the replica keeps busy under load, and a request made six such hops
    /// (bundle approval, consents, grants, derived faults, back-pressure, a department's key), each waiting behind a
    /// tick's signatures and then for the shared task pool again.
    package nonisolated let published: NIOLockedValueBox<Published>
    package struct Published: Sendable {
        /// `ledger`, as of its last change.
        var ledger: Ledger
        /// Why each derived table that differs from the chain may not be served (`derivedFault`).
        var derivedFaults: [DerivedRows.Table: String] = [:]
        /// Transactions waiting for their block (`waiters.count`): the back-pressure `admit` applies.
        var waiting = 0
        /// Department keys set by governance, loaded once each (by PEM).
        var departmentKeys: [String: any VerifyingKey] = [:]
        /// Whether decided blocks wait for storage (`decidedQueue`): the driver hands a batch over only then (a solo
        /// validator's batch stores its blocks with the replica's state, and the hop onto this actor would be for nothing).
        var decidedWaiting = false
    }
    var storedHeight: UInt64 = 0
    /// Every member this node knows of, in the order it learnt of them (genesis first): the transport's directory and
    /// the followers' replica ids. Only grows in a process.
    var directory: [String] = []
    /// Transactions whose signatures were checked already (by admission or by the replica), so each is verified once.
    let verified = VerifiedTransactions(capacity: 1 << 17)
    /// This node's own payload (the access log's group commit), taken by the driver on each tick.
    package nonisolated let payloadTap = PayloadTap()

    var driver: ConsensusDriver?
    var transport: ConsensusTransport?
    var commitTask: Task<Void, Never>?
    /// Hands peer messages from the transport to the driver, one at a time (see `startTransport`).
    var inboundTask: Task<Void, Never>?
    var inboundDelivery: AsyncStream<(sender: String, epoch: UInt64, message: ConsensusMessage)>.Continuation?
    /// Wakes the storing task: one signal per decided block (the blocks themselves wait in `decidedQueue`).
    var commitContinuation: AsyncStream<Void>.Continuation?
    /// Decided blocks not yet stored, in height order: the storing task takes all that wait (up to
    /// `storeBatchMax`) into one database transaction.
    var decidedQueue: [Decided] = [] { didSet { published.withLockedValue { $0.decidedWaiting = !decidedQueue.isEmpty } } }
    /// Decided blocks are being written (by the storing task or with the replica's state): the others wait.
    var storing = false
    static let storeBatchMax = 64

    /// A block consensus decided and the ledger accepted, on its way to storage.
    struct Decided {
        let block: Block
        let consensusBlock: ConsensusBlock
        let applied: Ledger.Applied
        let commitment: StoredCommitment
    }
    /// Durable outbox transactions not yet handed to the replica: offered in memory by whoever wrote them (after
    /// their database commit), and at start everything the outbox holds. Bounded by `admit`'s back-pressure.
    var intake: [Transaction] = []

    /// Requests waiting for their transaction's block (a pure state machine; this actor resumes what it hands back).
    var waiters = CommitWaiters<CheckedContinuation<TransactionLocation, any Error>>(recentMax: 65_536, timeoutMs: commitTimeoutMs) {
        didSet { published.withLockedValue { $0.waiting = waiters.count } }
    }

    struct HeightWaiter {
        let height: UInt64
        let deadlineMs: Int64
        let continuation: CheckedContinuation<Void, Never>
    }
    var heightWaiters: [HeightWaiter] = []
    /// How long a request waits for its transaction's block before it is told the chain is unavailable.
    package static let commitTimeoutMs: Int64 = 10_000

    /// Derived tables that differ from the blocks (found at start), and the located differences.
    var derivedFaults: Set<DerivedRows.Table> = []
    var derivedProblems: [DerivedStateProblem] = []

    /// The access log as one RFC 9162 tree over the stored blocks (`AccessLogHead`): grows as blocks are stored.
    var accessLog: MerkleLog

    /// When the last block was stored (Unix ms; 0 before the first in this process).
    var lastCommitMs: Int64 = 0

    /// Where the service is in its life. Moves only forward: starting → running → stopping, or starting → failed.
    enum Lifecycle {
        /// Migrating, verifying, starting consensus; these wait for it to run.
        case starting(waiters: [CheckedContinuation<Void, any Error>])
        case running
        /// Graceful shutdown: no new waits; what was acknowledged is drained.
        case stopping
        case failed(any Error)
    }
    var lifecycle: Lifecycle = .starting(waiters: [])
    /// How far the start has come, readable without waiting on this actor.
    package nonisolated let startup = StartupProgress()
    var ready: Bool {
        switch lifecycle {
        case .running, .stopping: return true
        case .starting, .failed: return false
        }
    }
    var stopping: Bool {
        if case .stopping = lifecycle { return true }
        return false
    }
    var bellRung = false
    var sleeper: CheckedContinuation<Void, Never>?
    /// Where stored blocks are counted and timed (nil: nowhere).
    let metrics: NodeMetrics?
    /// Work on the database after its migrations and before anything is served (the running sums' backfill).
    let afterMigration: (@Sendable (Database) async throws -> Void)?

    package init(
        database: Database, genesis: Genesis, suite: any CryptoSuite, signer: any SigningKey, nodeID: String, logger: Logger,
        settings: ConsensusSettings = ConsensusSettings(), now: @escaping @Sendable () -> Int64,
        afterMigration: (@Sendable (Database) async throws -> Void)? = nil, metrics: NodeMetrics? = nil
    ) throws {
        self.afterMigration = afterMigration
        self.metrics = metrics
        self.database = database
        self.executorLoop = database.chainLoop
        self.store = ChainStore(database: database)
        self.consensusStore = ConsensusStore(database: database)
        self.suite = suite
        self.signer = signer
        self.nodeID = nodeID
        self.logger = logger
        self.now = now
        self.settings = settings
        let ledger = try Ledger(genesis: genesis, suite: suite)
        self.ledger = ledger
        self.published = NIOLockedValueBox(Published(ledger: ledger))
        self.accessLog = MerkleLog(tree: MerkleTree(suite: suite))
        if !genesis.members.contains(where: { $0.nodeID == nodeID }), settings.listenAddress == nil {
            throw NodeError(
                "\(nodeID) is not in the genesis: a node that joins later needs --peer-listen host:port (the address its admission proposal names); "
                    + "otherwise check --node-id and genesis.json"
            )
        }
    }

    /// The height of the last block stored (and so acknowledged).
    package var height: UInt64 { storedHeight }
    package var genesis: Genesis { ledger.genesis }

    // MARK: Lifecycle

    /// Migrates the database, verifies every stored block (hash links, Merkle roots, signatures, certificates),
    /// starts the replica (and its TCP transport when there are peers), then feeds it from the outbox until
    /// graceful shutdown, draining what was acknowledged before it returns.
    package func run() async throws {
        do {
            startup.set(.migrating)
            try await database.migrate()
            // Derived tables new in this version are filled from the blocks a node already holds, before they are proven.
            let filled = try await store.completeBackfills(suite: suite) { [logger] line in logger.debug("\(line)") }
            if !filled.isEmpty {
                logger.notice("filled derived tables from the stored blocks", metadata: ["tables": "\(filled.map(\.rawValue))"])
            }
            try await afterMigration?(database)
            try await loadAndVerify()
            startup.set(.connecting)
            try await startConsensus()
            try await loadOutbox()
        } catch {
            startup.set(.failed("\(error)"))
            if case .starting(let waiters) = lifecycle { for waiter in waiters { waiter.resume(throwing: error) } }
            lifecycle = .failed(error)
            throw error
        }
        startup.set(.ready)
        if case .starting(let waiters) = lifecycle {
            lifecycle = .running
            for waiter in waiters { waiter.resume() }
        }
        logger.info(
            "chain ready",
            metadata: [
                "height": "\(ledger.height)", "chain": "\(ledger.genesis.chainID)",
                "validators": "\(ledger.governance.validators(atHeight: ledger.height + 1).count)",
            ])

        let ticker = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
                await self?.ring()
            }
        }
        await withGracefulShutdownHandler {
            await self.feedLoop()
        } onGracefulShutdown: {
            Task { await self.stop() }
        }
        // Commit what was acknowledged into the outbox before exiting, so restarts find nothing half-done; with peers
        // down this may not be possible, and the outbox keeps it for the next start.
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline, (try? await store.pendingCount()) ?? 0 > 0 {
            try? await feed()
            try? await Task.sleep(for: .milliseconds(20))
        }
        ticker.cancel()
        await driver?.stop()
        await transport?.shutdown()
        inboundDelivery?.finish()
        await inboundTask?.value
        commitContinuation?.finish()
        await commitTask?.value
        failAllWaiters(ChainServiceError(.shuttingDown, "the node is shutting down"))
        payloadTap.close(ChainServiceError(.shuttingDown, "the node is shutting down"))
        resumeHeightWaiters(everyone: true)
    }

    /// Whether the chain is committing what this node waits for: nil when it is, otherwise why not. Work is stalled when
    /// requests have waited for a block longer than `stallAfterMs` and no block was stored since.
    package func notCommittingReason(stallAfterMs: Int64 = 3_000) -> String? {
        switch lifecycle {
        case .failed(let error): return "the chain failed to start: \(error)"
        case .starting: return startup.summary
        case .running, .stopping: break
        }
        let current = now()
        let oldest = waiters.oldestSinceMs
        guard let oldest, current - oldest > stallAfterMs else { return nil }
        let since = lastCommitMs == 0 ? "since this node started" : "for \((current - lastCommitMs) / 1_000) s"
        guard lastCommitMs < oldest else { return nil }
        return
            "\(waiters.count) transaction(s) have waited \((current - oldest) / 1_000) s for a block and none was committed \(since) (too few validators reachable?)"
    }

    /// Why consensus cannot make progress from where this node stands, seen without waiting for a transaction: fewer
    /// validators reachable than a quorum (on a chain of several). Nil when it can (or on a solo chain).
    package func quorumReason() -> String? {
        guard case .running = lifecycle, let transport else { return nil }
        let validators = ledger.governance.validators.map(\.nodeID)
        guard validators.count > 1 else { return nil }
        let quorum = validators.count - (validators.count - 1) / 3
        let reachable = transport.reachable()
        let count = reachable.count + (validators.contains(nodeID) ? 1 : 0)
        guard count < quorum else { return nil }
        let unreachable = validators.filter { $0 != nodeID && !reachable.contains($0) }
        return """
            only \(count) of \(validators.count) validators are reachable from this node (a quorum is \(quorum)): no block can be \
            committed until \(quorum - count) more of \(unreachable.joined(separator: ", ")) are back
            """
    }

    /// Consensus gauges: transactions in the replica's mempool, validators, and those reachable (this node counted).
    package func consensusCounts() async -> (mempool: Int, validators: Int, reachable: Int) {
        let validators = ledger.governance.validators.map(\.nodeID)
        let reachable = (transport?.reachable().count ?? 0) + (validators.contains(nodeID) ? 1 : 0)
        return (await driver?.mempoolCount ?? 0, validators.count, reachable)
    }

    /// The height the chain is at as far as this node knows (its replica's highest certificate, or the highest block a
    /// member's message mentioned), when its storage is behind that by more than the two blocks a commit normally trails
    /// its certificate: the node is catching up.
    /// `margin` is how far behind counts: governance status says so from 3 blocks; health turns degraded only beyond
    /// 32, the gap at which a replica syncs rather than follows (under load, storage trails by a few blocks).
    package func catchingUp(margin: UInt64) async -> (stored: UInt64, certified: UInt64)? {
        guard case .running = lifecycle, let driver else { return nil }
        let certified = max(await driver.certifiedHeight, await driver.heardHeight)
        return certified > storedHeight + margin ? (storedHeight, certified) : nil
    }

    /// Suspends until the chain has been loaded and verified, its derived tables proven and its replica started.
    package func waitUntilReady() async throws {
        switch lifecycle {
        case .running, .stopping: return
        case .failed(let error): throw error
        case .starting(var waiters):
            try await withCheckedThrowingContinuation { continuation in
                waiters.append(continuation)
                lifecycle = .starting(waiters: waiters)
            }
        }
    }

    func stop() {
        // A stop before the chain runs (a failed start) has nothing to drain.
        if case .running = lifecycle { lifecycle = .stopping }
        ring()
    }

    func ring() {
        if let sleeper {
            self.sleeper = nil
            sleeper.resume()
        } else {
            bellRung = true
        }
    }

    func waitForBell() async {
        if bellRung {
            bellRung = false
            return
        }
        await withCheckedContinuation { sleeper = $0 }
    }

    func feedLoop() async {
        var backoffMs = 50
        while !stopping {
            await waitForBell()
            expireWaiters()
            payloadTap.expire(timeoutMs: Self.commitTimeoutMs)
            try? await probeUnknownWaiters()
            do {
                try await feed()
                backoffMs = 50
            } catch {
                logger.error("feeding the mempool failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(backoffMs))
                backoffMs = min(backoffMs * 2, 2_000)
            }
        }
    }

}
