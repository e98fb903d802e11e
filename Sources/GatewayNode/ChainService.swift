import GatewayChain
import GatewayCrypto
import GatewayStore
import Logging
import ServiceLifecycle

/// Where a committed transaction sits.
public struct TransactionLocation: Sendable, Equatable {
    public let height: UInt64
    public let index: Int
}

/// The solo validator: takes transactions from the durable outbox, cuts blocks (group commit: everything pending,
/// up to the block bound, goes into the next block), commits each block atomically, and wakes the requests waiting
/// for their transactions. Consensus among several validators replaces `proposeSolo` in issue 4.
public actor ChainService: Service {
    let store: ChainStore
    let database: Database
    let suite: any CryptoSuite
    let signer: any SigningKey
    let nodeID: String
    let logger: Logger
    let now: @Sendable () -> Int64
    var ledger: Ledger

    struct Waiter {
        let id: UInt64
        let deadlineMs: Int64
        let continuation: CheckedContinuation<TransactionLocation, any Error>
    }

    var waiters: [[UInt8]: [Waiter]] = [:]
    var waiterCount: UInt64 = 0
    /// Recently committed transactions, so that a late waiter need not query the database. Bounded.
    var recent: [[UInt8]: TransactionLocation] = [:]
    var recentOrder: [[UInt8]] = []
    static let recentMax = 65_536
    /// How long a request waits for its transaction's block before it is told the chain is unavailable.
    public static let commitTimeoutMs: Int64 = 10_000

    var ready = false
    var readyWaiters: [CheckedContinuation<Void, any Error>] = []
    var startupError: (any Error)?
    var stopping = false
    var bellRung = false
    var sleeper: CheckedContinuation<Void, Never>?

    public init(
        database: Database, genesis: Genesis, suite: any CryptoSuite, signer: any SigningKey, nodeID: String, logger: Logger,
        now: @escaping @Sendable () -> Int64
    ) throws {
        self.database = database
        self.store = ChainStore(database: database)
        self.suite = suite
        self.signer = signer
        self.nodeID = nodeID
        self.logger = logger
        self.now = now
        self.ledger = try Ledger(genesis: genesis, suite: suite)
    }

    public var height: UInt64 { ledger.height }
    public var genesis: Genesis { ledger.genesis }

    // MARK: Lifecycle

    /// Migrates the database, verifies every stored block (hash links, Merkle roots, signatures, certificates),
    /// then produces blocks until graceful shutdown, draining the outbox before it returns.
    public func run() async throws {
        do {
            try await database.migrate()
            try await loadAndVerify()
        } catch {
            startupError = error
            for waiter in readyWaiters { waiter.resume(throwing: error) }
            readyWaiters = []
            throw error
        }
        ready = true
        for waiter in readyWaiters { waiter.resume() }
        readyWaiters = []
        logger.info("chain ready", metadata: ["height": "\(ledger.height)", "chain": "\(ledger.genesis.chainID)"])

        let ticker = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(50))
                await self?.ring()
            }
        }
        defer { ticker.cancel() }
        await withGracefulShutdownHandler {
            await self.produceLoop()
        } onGracefulShutdown: {
            Task { await self.stop() }
        }
        // Drain what was acknowledged into the outbox before exiting, so restarts find nothing half-done.
        do {
            while try await produceBlock() > 0 {}
        } catch {
            logger.error("could not drain the outbox on shutdown; it will be committed at next start", metadata: ["error": "\(error)"])
        }
        failAllWaiters(NodeError("node is shutting down"))
    }

    /// Suspends until the chain has been loaded and verified (the HTTP server waits for this before listening).
    public func waitUntilReady() async throws {
        if ready { return }
        if let startupError { throw startupError }
        try await withCheckedThrowingContinuation { readyWaiters.append($0) }
    }

    func stop() {
        stopping = true
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

    func produceLoop() async {
        var backoffMs = 50
        while !stopping {
            await waitForBell()
            expireWaiters()
            do {
                while try await produceBlock() > 0 {}
                backoffMs = 50
            } catch {
                logger.error("block production failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(backoffMs))
                backoffMs = min(backoffMs * 2, 2_000)
            }
        }
    }

    func loadAndVerify() async throws {
        var next: UInt64 = 1
        while true {
            let blocks = try await store.blocks(from: next, limit: 256)
            if blocks.isEmpty { break }
            for block in blocks {
                do {
                    try ledger.apply(block)
                } catch {
                    throw NodeError("stored block \(block.header.height) failed verification: \(error). The database was altered.")
                }
            }
            next = ledger.height + 1
        }
    }

    // MARK: Block production

    /// Cuts one block from the outbox; returns how many transactions it committed.
    func produceBlock() async throws -> Int {
        let pending = try await store.pending(limit: Ledger.blockTransactionsMax)
        guard !pending.isEmpty else { return 0 }
        var decoded: [(hash: [UInt8], transaction: Transaction)] = []
        var rejected: [[UInt8]] = []
        for entry in pending {
            if let transaction = try? Transaction(decoding: entry.body) { decoded.append((entry.hash, transaction)) } else { rejected.append(entry.hash) }
        }
        let selection = ledger.selectValid(decoded.map(\.transaction))
        for (index, error) in selection.rejected {
            logger.error("discarding an invalid pending transaction", metadata: ["error": "\(error)"])
            rejected.append(decoded[index].hash)
        }
        let transactions = selection.accepted
        if !rejected.isEmpty {
            try await store.discardPending(hashes: rejected)
            for hash in rejected { resume(hash, with: .failure(NodeError("transaction was rejected by the ledger rules"))) }
        }
        guard !transactions.isEmpty else { return rejected.count }
        let block = try ledger.proposeSolo(transactions: transactions, proposer: nodeID, signer: signer, timestampMs: now())
        try await store.commit(block, suite: suite)
        ledger.advance(overOwn: block)
        for (index, transaction) in transactions.enumerated() {
            let hash = transaction.hash(suite: suite)
            let location = TransactionLocation(height: block.header.height, index: index)
            remember(hash, location)
            resume(hash, with: .success(location))
        }
        return transactions.count
    }

    // MARK: Waiting for commits

    /// Returns once the transaction is in a committed block. The transaction must already be in the outbox.
    public func awaitCommit(_ hash: [UInt8]) async throws -> TransactionLocation {
        if let location = recent[hash] { return location }
        try await waitUntilReady()
        if let location = try await store.location(of: hash) {
            let found = TransactionLocation(height: location.height, index: location.index)
            remember(hash, found)
            return found
        }
        // The actor may have committed it while we were suspended above.
        if let location = recent[hash] { return location }
        waiterCount += 1
        let id = waiterCount
        let deadline = now() + Self.commitTimeoutMs
        ring()
        return try await withCheckedThrowingContinuation { continuation in
            waiters[hash, default: []].append(Waiter(id: id, deadlineMs: deadline, continuation: continuation))
        }
    }

    func remember(_ hash: [UInt8], _ location: TransactionLocation) {
        if recent[hash] == nil { recentOrder.append(hash) }
        recent[hash] = location
        if recentOrder.count > Self.recentMax {
            let evicted = recentOrder.prefix(recentOrder.count - Self.recentMax)
            for old in evicted { recent[old] = nil }
            recentOrder.removeFirst(evicted.count)
        }
    }

    func resume(_ hash: [UInt8], with result: Result<TransactionLocation, any Error>) {
        guard let list = waiters.removeValue(forKey: hash) else { return }
        for waiter in list { waiter.continuation.resume(with: result) }
    }

    func expireWaiters() {
        let current = now()
        for (hash, list) in waiters {
            let (expired, alive) = (list.filter { $0.deadlineMs <= current }, list.filter { $0.deadlineMs > current })
            for waiter in expired {
                waiter.continuation.resume(throwing: ExchangeError(.chainUnavailable, "the access log could not be committed in time"))
            }
            waiters[hash] = alive.isEmpty ? nil : alive
        }
    }

    func failAllWaiters(_ error: any Error) {
        for (_, list) in waiters {
            for waiter in list { waiter.continuation.resume(throwing: error) }
        }
        waiters = [:]
    }

    // MARK: Proofs

    /// An inclusion proof for a committed transaction.
    public func proof(for hash: [UInt8]) async throws -> InclusionProof? {
        guard let location = try await store.location(of: hash),
              let block = try await store.blocks(from: location.height, limit: 1).first,
              location.index < block.transactions.count
        else { return nil }
        let tree = MerkleTree(suite: suite)
        let leaves = Block.transactionLeafHashes(block.transactions, tree: tree)
        return InclusionProof(
            transaction: block.transactions[location.index], leafIndex: location.index,
            auditPath: tree.inclusionProof(index: location.index, leafHashes: leaves), header: block.header,
            certificate: block.certificate
        )
    }
}
