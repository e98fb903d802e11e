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

/// How this node takes part in consensus.
public struct ConsensusSettings: Sendable {
    /// A round without progress times out after this long (doubling, up to 8×, while rounds keep failing); an idle
    /// leader proposes an empty block after half of it.
    public var roundTimeoutMs: UInt64 = 1_000
    /// Where to listen for peers; nil takes the address of this node in the genesis.
    public var listenAddress: (host: String, port: Int)?
    /// Transactions waiting for a block beyond which new requests are answered `busy`.
    public var backlogMax: Int = 20_000

    public init() {}
}

/// The chain as this node sees it: a BFT replica (Jolteon, `GatewayChain/Consensus`) driven over TCP among the
/// genesis validators — for a solo node, the same replica with n = 1. Transactions come from the durable outbox
/// into the shared mempool; committed blocks are verified by the ledger rules and written atomically with their
/// derived state; requests waiting for their transaction are then resumed.
public actor ChainService: Service {
    let store: ChainStore
    let consensusStore: ConsensusStore
    let database: Database
    let suite: any CryptoSuite
    let signer: any SigningKey
    let nodeID: String
    let logger: Logger
    let now: @Sendable () -> Int64
    let settings: ConsensusSettings
    var ledger: Ledger
    /// Validators in genesis order: replica i is `validatorIDs[i]`.
    let validatorIDs: [String]
    let validatorKeys: [any VerifyingKey]
    /// Transactions whose signatures were checked already (by admission or by the replica), so each is verified once.
    let verified = VerifiedTransactions(capacity: 1 << 17)

    var driver: ConsensusDriver?
    var transport: ConsensusTransport?
    var commitTask: Task<Void, Never>?
    var commitContinuation: AsyncStream<(ConsensusBlock, QuorumCertificate)>.Continuation?
    /// Durable outbox transactions not yet handed to the replica: offered in memory by whoever wrote them (after
    /// their database commit), and at start everything the outbox holds. Bounded by `admit`'s back-pressure.
    var intake: [Transaction] = []

    struct Waiter {
        let id: UInt64
        let deadlineMs: Int64
        let continuation: CheckedContinuation<TransactionLocation, any Error>
    }

    var waiters: [[UInt8]: [Waiter]] = [:]
    /// Waited-for transactions this process did not offer itself: to be looked up once in the chain tables.
    var unprobed: Set<[UInt8]> = []
    var waiterCount: UInt64 = 0
    var waiting = 0
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
        settings: ConsensusSettings = ConsensusSettings(), now: @escaping @Sendable () -> Int64
    ) throws {
        self.database = database
        self.store = ChainStore(database: database)
        self.consensusStore = ConsensusStore(database: database)
        self.suite = suite
        self.signer = signer
        self.nodeID = nodeID
        self.logger = logger
        self.now = now
        self.settings = settings
        self.ledger = try Ledger(genesis: genesis, suite: suite)
        self.validatorIDs = genesis.validators.map(\.nodeID)
        self.validatorKeys = try genesis.validators.map { try suite.verifyingKey(pem: $0.publicKey) }
        guard validatorIDs.contains(nodeID) else {
            throw NodeError("\(nodeID) is not a validator in the genesis (observers are not supported yet): check --node-id and genesis.json")
        }
    }

    public var height: UInt64 { ledger.height }
    public var genesis: Genesis { ledger.genesis }

    // MARK: Lifecycle

    /// Migrates the database, verifies every stored block (hash links, Merkle roots, signatures, certificates),
    /// starts the replica (and its TCP transport when there are peers), then feeds it from the outbox until
    /// graceful shutdown, draining what was acknowledged before it returns.
    public func run() async throws {
        do {
            try await database.migrate()
            try await loadAndVerify()
            try await startConsensus()
            try await loadOutbox()
        } catch {
            startupError = error
            for waiter in readyWaiters { waiter.resume(throwing: error) }
            readyWaiters = []
            throw error
        }
        ready = true
        for waiter in readyWaiters { waiter.resume() }
        readyWaiters = []
        logger.info("chain ready", metadata: [
            "height": "\(ledger.height)", "chain": "\(ledger.genesis.chainID)", "validators": "\(validatorIDs.count)",
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
        commitContinuation?.finish()
        await commitTask?.value
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

    func feedLoop() async {
        var backoffMs = 50
        while !stopping {
            await waitForBell()
            expireWaiters()
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

    func loadAndVerify() async throws {
        var next: UInt64 = 1
        while true {
            let blocks = try await store.storedBlocks(from: next, limit: 256)
            if blocks.isEmpty { break }
            for stored in blocks {
                do {
                    let applied = try ledger.apply(stored.block)
                    guard Set(applied.skipped.keys) == stored.skipped else { throw ChainError(.invalidBlock, "skipped transactions differ") }
                } catch {
                    throw NodeError("stored block \(stored.block.header.height) failed verification: \(error). The database was altered.")
                }
            }
            next = ledger.height + 1
        }
    }

    // MARK: Consensus

    var replicaConfiguration: Replica.Configuration {
        var configuration = Replica.Configuration(replicas: validatorIDs.count)
        configuration.chainID = ledger.genesis.chainID
        configuration.roundTimeoutTicks = settings.roundTimeoutMs
        // At most 4 s between attempts while rounds keep failing, so a quorum that comes back resumes quickly.
        configuration.timeoutBackoffMax = 4
        // An idle chain stores nothing: idle rounds end by timeout certificates, not by empty blocks.
        configuration.emptyBlocksWhenIdle = false
        configuration.blockPayloadMax = 1_024
        configuration.mempoolMax = 2 * settings.backlogMax
        configuration.pendingBlocksMax = 16_384
        configuration.validatePayloadItem = { [verified, ledger] item in
            // Stateless checks before voting: decodes, belongs to this chain, signed by a member. Each item once.
            guard let transaction = try? Transaction(decoding: item) else { return false }
            let hash = ledger.suite.hash(item)
            if verified.contains(hash) { return true }
            guard (try? ledger.validate(transaction)) != nil else { return false }
            verified.insert(hash)
            return true
        }
        return configuration
    }

    func startConsensus() async throws {
        let me = validatorIDs.firstIndex(of: nodeID)!
        let hash: @Sendable ([UInt8]) -> [UInt8] = { [suite] in suite.hash($0) }
        let genesisID = ledger.genesis.hash(suite: suite)
        // The replica's committed tail comes back from the chain tables, its uncommitted blocks and safety state
        // from what it persisted before voting.
        var tail: [ConsensusBlock] = []
        if ledger.height > 0 {
            let from = ledger.height > 256 ? ledger.height - 255 : 1
            for stored in try await store.storedBlocks(from: from, limit: 256) {
                tail.append(try ConsensusCodec.block(
                    header: stored.block.header, payload: stored.block.transactions.map(\.encoded), evidence: stored.evidence, hash: hash
                ))
            }
        }
        let safety = try await consensusStore.loadSafety()
        let pending = try await consensusStore.blocks(above: ledger.height, hash: hash)
        let replica = Replica(
            id: me, configuration: replicaConfiguration,
            signer: SuiteConsensusSigner(replica: me, key: signer, validators: validatorKeys), hash: hash, genesisID: genesisID,
            restoring: safety, committed: tail, pendingBlocks: pending
        )
        let (stream, continuation) = AsyncStream.makeStream(of: (ConsensusBlock, QuorumCertificate).self)
        commitContinuation = continuation
        let store = self.store
        let driver = ConsensusDriver(
            replica: replica, persistence: consensusStore,
            serveFetch: { id in (try? await Self.committedBlocks(endingAt: id, store: store, hash: hash)) ?? [] },
            logger: logger, onCommit: { block, certificate in continuation.yield((block, certificate)) }
        )
        self.driver = driver
        if validatorIDs.count > 1 {
            var addresses: [ReplicaID: (host: String, port: Int)] = [:]
            for (index, member) in ledger.genesis.validators.enumerated() {
                guard let address = Self.parseAddress(member.address) else {
                    throw NodeError("genesis address of \(member.nodeID) must be host:port, not \(member.address)")
                }
                addresses[index] = address
            }
            let transport = ConsensusTransport(
                me: me, addresses: addresses, key: signer, validators: validatorKeys, hash: hash, logger: logger,
                onMessage: { sender, message in Task { await driver.deliver(message, from: sender) } }
            )
            let listen = settings.listenAddress ?? addresses[me]!
            do {
                _ = try await transport.listen(host: listen.host, port: listen.port)
            } catch {
                throw NodeError("cannot listen for peers on \(listen.host):\(listen.port): \(error)")
            }
            self.transport = transport
            await driver.attach(transport)
        }
        commitTask = Task { [weak self] in
            for await (block, certificate) in stream { await self?.applyCommitted(block, certificate: certificate) }
        }
        await driver.start()
    }

    static func parseAddress(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65_535).contains(port) else { return nil }
        return (String(text[..<colon]), port)
    }

    /// Up to 16 committed blocks ending at `id`, newest first, rebuilt as consensus blocks (for a peer that syncs).
    public static func committedBlocks(endingAt id: [UInt8], store: ChainStore, hash: ([UInt8]) -> [UInt8]) async throws -> [ConsensusBlock] {
        guard let height = try await store.height(ofBlock: id), height > 0 else { return [] }
        let from = height > 15 ? height - 15 : 1
        return try await store.storedBlocks(from: from, limit: Int(height - from + 1)).reversed().map {
            try ConsensusCodec.block(header: $0.block.header, payload: $0.block.transactions.map(\.encoded), evidence: $0.evidence, hash: hash)
        }
    }

    /// Verifies a block the replica committed against the ledger rules and stores it with its derived state, in one
    /// database transaction; then resumes the requests waiting for its transactions.
    func applyCommitted(_ block: ConsensusBlock, certificate: QuorumCertificate) async {
        guard block.height > ledger.height else { return }
        do {
            let transactions = try block.payload.map { try Transaction(decoding: $0) }
            let signatures = certificate.signatures.map { CommitSignature(validator: validatorIDs[$0.replica], signature: $0.signature) }
            let committed = Block(header: block.header, transactions: transactions, certificate: signatures)
            var next = ledger
            let applied = try next.apply(committed, verified: { [verified] in verified.contains($0) })
            var backoffMs = 50
            while true {
                do {
                    try await store.commit(committed, suite: suite, evidence: ConsensusCodec.encodeEvidence(of: block), skipped: applied.skipped)
                    break
                } catch {
                    // The block is decided; only storing it failed (database down). Keep trying: nothing after it can
                    // be stored first, and nothing is acknowledged before it is stored.
                    logger.error("storing committed block failed; retrying", metadata: ["height": "\(block.height)", "error": "\(error)"])
                    try? await Task.sleep(for: .milliseconds(backoffMs))
                    backoffMs = min(backoffMs * 2, 2_000)
                }
            }
            ledger = next
            for (index, transaction) in transactions.enumerated() {
                let hash = transaction.hash(suite: suite)
                if let reason = applied.skipped[index] {
                    if recent[hash] == nil { resume(hash, with: .failure(NodeError("transaction was skipped by the ledger rules: \(reason)"))) }
                    continue
                }
                let location = TransactionLocation(height: block.height, index: index)
                remember(hash, location)
                resume(hash, with: .success(location))
            }
        } catch {
            // Only possible if more than f validators certified an invalid block: refuse to follow it.
            logger.critical("a committed block fails the ledger rules; this node stops following the chain", metadata: [
                "height": "\(block.height)", "error": "\(error)",
            ])
            commitContinuation?.finish()
        }
    }

    /// Offers transactions that are durable in the outbox to the replica (called after their database commit).
    public func offer(_ transactions: [Transaction]) {
        intake += transactions
        ring()
    }

    /// At start: everything the outbox holds (acknowledged before a crash or shutdown) is offered again.
    func loadOutbox() async throws {
        var after: Int64 = 0
        while true {
            let page = try await store.pending(afterSeq: after, limit: 4_096)
            guard let last = page.last else { break }
            var undecodable: [[UInt8]] = []
            for entry in page {
                if let transaction = try? Transaction(decoding: entry.body) { intake.append(transaction) } else { undecodable.append(entry.hash) }
            }
            if !undecodable.isEmpty { try await store.discardPending(hashes: undecodable) }
            after = last.seq
        }
        if !intake.isEmpty { logger.notice("re-offering the outbox", metadata: ["transactions": "\(intake.count)"]) }
    }

    /// Hands intake to the replica, checked against the ledger rules first; keeps what a full pool does not take.
    func feed() async throws {
        guard let driver else { return }
        while !intake.isEmpty {
            let candidates = Array(intake.prefix(4_096))
            let selection = ledger.selectValid(candidates)
            let hashes = candidates.map { $0.hash(suite: suite) }
            var rejectedIndices = Set<Int>()
            for (index, error) in selection.rejected {
                logger.error("discarding an invalid pending transaction", metadata: ["error": "\(error)"])
                rejectedIndices.insert(index)
            }
            if !rejectedIndices.isEmpty {
                let rejected = rejectedIndices.sorted().map { hashes[$0] }
                try await store.discardPending(hashes: rejected)
                for hash in rejected { resume(hash, with: .failure(NodeError("transaction was rejected by the ledger rules"))) }
            }
            let accepted = candidates.indices.filter { !rejectedIndices.contains($0) }
            for index in accepted { verified.insert(hashes[index]) }
            let taken = await driver.submit(accepted.map { candidates[$0].encoded })
            // What the pool did not take stays at the front of the intake, in order, for the next bell.
            let keep = accepted.dropFirst(taken).map { candidates[$0] }
            intake.removeFirst(candidates.count)
            intake.insert(contentsOf: keep, at: 0)
            if !keep.isEmpty { return }
        }
    }

    /// Refuses new work while too many transactions wait for the chain (back-pressure instead of unbounded queues).
    public func admit() throws {
        guard waiting < settings.backlogMax else {
            throw ExchangeError(.busy, "\(waiting) transactions are waiting for the chain; retry shortly")
        }
    }

    /// For diagnostics and tests: the replica's state in one line.
    public func consensusSummary() async -> String { await driver?.stateSummary ?? "not started" }

    // MARK: Waiting for commits

    /// Returns once the transaction is in a committed block. The transaction must already be in the outbox.
    /// Asks no database for a transaction this process has just offered (`known`): it is in `recent` or resumes the
    /// waiter when its block commits. Any other one (it may have been committed long ago, or before a restart) is
    /// looked up once in the chain tables by `probeUnknownWaiters`, many in one query.
    public func awaitCommit(_ hash: [UInt8], known: Bool = false) async throws -> TransactionLocation {
        if let location = recent[hash] { return location }
        try await waitUntilReady()
        if let location = recent[hash] { return location }
        waiterCount += 1
        let id = waiterCount
        let created = now()
        ring()
        if !known { unprobed.insert(hash) }
        return try await withCheckedThrowingContinuation { continuation in
            waiting += 1
            waiters[hash, default: []].append(
                Waiter(id: id, deadlineMs: created + Self.commitTimeoutMs, continuation: continuation)
            )
        }
    }

    func probeUnknownWaiters() async throws {
        guard !unprobed.isEmpty else { return }
        let batch = Array(unprobed.prefix(4_096))
        for hash in batch { unprobed.remove(hash) }
        for entry in try await store.locations(of: batch) {
            let found = TransactionLocation(height: entry.height, index: entry.index)
            remember(entry.hash, found)
            resume(entry.hash, with: .success(found))
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
        waiting -= list.count
        for waiter in list { waiter.continuation.resume(with: result) }
    }

    func expireWaiters() {
        let current = now()
        for (hash, list) in waiters {
            let (expired, alive) = (list.filter { $0.deadlineMs <= current }, list.filter { $0.deadlineMs > current })
            for waiter in expired {
                waiting -= 1
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
        waiting = 0
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
