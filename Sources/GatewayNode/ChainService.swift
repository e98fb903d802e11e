import GatewayChain
import GatewayCrypto
import GatewayStore
import Logging
import ServiceLifecycle

/// Where a committed transaction sits.
public struct TransactionLocation: Sendable, Equatable {
    public let height: UInt64
    public let index: Int

    package init(height: UInt64, index: Int) {
        self.height = height
        self.index = index
    }
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
/// validators — for a solo node, the same replica with n = 1. Transactions come from the durable outbox into the
/// shared mempool; committed blocks are verified by the ledger rules (which also decide, from governance, when the
/// validator set changes and a new epoch's replica takes over) and written atomically with their derived state;
/// requests waiting for their transaction are then resumed. A node that is not a validator follows: it verifies and
/// stores every block without voting, and votes once governance admits it.
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
    /// The ledger state of every block consensus decided (applied in memory, in order, as the replica commits);
    /// storage follows it, and `storedHeight` says how far.
    var ledger: Ledger
    var storedHeight: UInt64 = 0
    /// Every member this node knows of, in the order it learnt of them (genesis first): the transport's directory and
    /// the followers' replica ids. Only grows in a process.
    var directory: [String] = []
    /// Transactions whose signatures were checked already (by admission or by the replica), so each is verified once.
    let verified = VerifiedTransactions(capacity: 1 << 17)

    var driver: ConsensusDriver?
    var transport: ConsensusTransport?
    var commitTask: Task<Void, Never>?
    /// Hands peer messages from the transport to the driver, one at a time (see `startTransport`).
    var inboundTask: Task<Void, Never>?
    var inboundDelivery: AsyncStream<(sender: String, epoch: UInt64, message: ConsensusMessage)>.Continuation?
    var commitContinuation: AsyncStream<Decided>.Continuation?

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
    var waiters = CommitWaiters<CheckedContinuation<TransactionLocation, any Error>>(recentMax: 65_536, timeoutMs: commitTimeoutMs)

    struct HeightWaiter {
        let height: UInt64
        let deadlineMs: Int64
        let continuation: CheckedContinuation<Void, Never>
    }
    var heightWaiters: [HeightWaiter] = []
    /// How long a request waits for its transaction's block before it is told the chain is unavailable.
    public static let commitTimeoutMs: Int64 = 10_000

    /// Derived tables that differ from the blocks (found at start), and the located differences.
    var derivedFaults: Set<DerivedRows.Table> = []
    var derivedProblems: [DerivedStateProblem] = []

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
    public nonisolated let startup = StartupProgress()
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
        if !genesis.members.contains(where: { $0.nodeID == nodeID }), settings.listenAddress == nil {
            throw NodeError(
                "\(nodeID) is not in the genesis: a node that joins later needs --peer-listen host:port (the address its admission proposal names); "
                    + "otherwise check --node-id and genesis.json"
            )
        }
    }

    /// The height of the last block stored (and so acknowledged).
    public var height: UInt64 { storedHeight }
    public var genesis: Genesis { ledger.genesis }

    // MARK: Lifecycle

    /// Migrates the database, verifies every stored block (hash links, Merkle roots, signatures, certificates),
    /// starts the replica (and its TCP transport when there are peers), then feeds it from the outbox until
    /// graceful shutdown, draining what was acknowledged before it returns.
    public func run() async throws {
        do {
            startup.set(.migrating)
            try await database.migrate()
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
        logger.info("chain ready", metadata: [
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
        resumeHeightWaiters(everyone: true)
    }

    /// Whether the chain is committing what this node waits for: nil when it is, otherwise why not. Work is stalled when
    /// requests have waited for a block longer than `stallAfterMs` and no block was stored since.
    public func notCommittingReason(stallAfterMs: Int64 = 3_000) -> String? {
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
        return "\(waiters.count) transaction(s) have waited \((current - oldest) / 1_000) s for a block and none was committed \(since) (too few validators reachable?)"
    }

    /// Suspends until the chain has been loaded and verified, its derived tables proven and its replica started.
    public func waitUntilReady() async throws {
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

    /// Verifies every stored block with the ledger rules, and proves the tables derived from them (`DerivedRows`)
    /// against the blocks: per height, the count and fingerprint digest of the rows each block implies must equal the
    /// table's. A difference is located (table, key, height), logged, and keeps the affected data from being served
    /// until the operator rebuilds the tables (`gateway rebuild-derived`).
    func loadAndVerify() async throws {
        var verifying = ledger
        let stored = try await store.height()
        startup.set(.verifying(verified: 0, stored: stored))
        let expected = try await Self.verifyStoredChain(store: store, ledger: &verifying, suite: suite) { [startup] verified in
            startup.set(.verifying(verified: verified, stored: max(stored, verified)))
        }
        ledger = verifying
        storedHeight = ledger.height
        startup.set(.proving)
        let proof = try await Self.proveDerivedState(store: store, expected: expected, height: ledger.height, suite: suite)
        for (table, heights) in proof.heights.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            logger.error("a table derived from the chain differs from the blocks; its data is not served until `gateway rebuild-derived`", metadata: [
                "table": "\(table.rawValue)", "heights": "\(heights.count)", "first_height": "\(heights.first ?? 0)",
            ])
        }
        for problem in proof.problems {
            logger.error("derived state differs from the chain", metadata: [
                "table": "\(problem.table.rawValue)", "key": "\(problem.key)", "height": "\(problem.height)", "difference": "\(problem.kind.rawValue)",
            ])
        }
        derivedFaults = Set(proof.heights.keys)
        derivedProblems = proof.problems
    }

    /// Applies every stored block to `ledger` (which starts at the genesis) and returns, per derived table and height,
    /// the digest of the rows the blocks imply. Throws, naming the height, at the first block that fails.
    public static func verifyStoredChain(
        store: ChainStore, ledger: inout Ledger, suite: any CryptoSuite, progress: @Sendable (UInt64) -> Void = { _ in }
    ) async throws -> [DerivedRows.Table: [UInt64: DerivedRows.Digest]] {
        var next: UInt64 = 1
        var expected: [DerivedRows.Table: [UInt64: DerivedRows.Digest]] = [:]
        // The digests a page of blocks implies are computed on the blocking pool while the ledger verifies the next
        // page here: the two halves of the work run on two cores.
        var pending: [Task<[(UInt64, [DerivedRows.Table: DerivedRows.Digest])], any Error>] = []
        func collect(_ page: Task<[(UInt64, [DerivedRows.Table: DerivedRows.Digest])], any Error>) async throws {
            for (height, digests) in try await page.value {
                for (table, digest) in digests where digest.count > 0 { expected[table, default: [:]][height] = digest }
            }
        }
        while true {
            let blocks: [ChainStore.StoredBlock]
            do {
                blocks = try await store.storedBlocks(from: next, limit: 64)
            } catch {
                throw NodeError("stored blocks from height \(next) cannot be read: \(error). The database was altered; restore it from a backup")
            }
            if blocks.isEmpty { break }
            for stored in blocks {
                do {
                    let applied = try ledger.apply(stored.block)
                    guard Set(applied.skipped.keys) == stored.skipped else { throw ChainError(.invalidBlock, "skipped transactions differ") }
                } catch {
                    throw NodeError("stored block \(stored.block.header.height) failed verification: \(error). The database was altered.")
                }
            }
            pending.append(Task {
                try await HeavyWork.run {
                    try blocks.map { stored in
                        let hashes = stored.block.transactions.map { $0.hash(suite: suite) }
                        return (stored.block.header.height, try DerivedRows(block: stored.block, hashes: hashes, skipped: stored.skipped).digests)
                    }
                }
            })
            next = ledger.height + 1
            progress(ledger.height)
            // Bounded memory: at most two pages wait for their digests.
            while pending.count > 2 { try await collect(pending.removeFirst()) }
        }
        for page in pending { try await collect(page) }
        return expected
    }

    /// At most this many differing heights are located row by row (the rest are counted).
    static let derivedHeightsLocatedMax = 64

    /// Compares the derived tables with what the blocks imply: the differing heights per table, and the differences
    /// located row by row at the first `derivedHeightsLocatedMax` of them.
    public static func proveDerivedState(
        store: ChainStore, expected: [DerivedRows.Table: [UInt64: DerivedRows.Digest]], height: UInt64, suite: any CryptoSuite
    ) async throws -> (heights: [DerivedRows.Table: [UInt64]], problems: [DerivedStateProblem]) {
        var differing: [DerivedRows.Table: [UInt64]] = [:]
        var problems: [DerivedStateProblem] = []
        for table in DerivedRows.Table.allCases {
            let wanted = expected[table] ?? [:]
            let actual = try await store.derivedDigests(table)
            let heights = Set(wanted.keys).union(actual.keys).filter { wanted[$0] != actual[$0] }.sorted()
            guard !heights.isEmpty else { continue }
            differing[table] = heights
            for at in heights.prefix(derivedHeightsLocatedMax) {
                var rows = DerivedRows()
                if at <= height, let stored = try await store.storedBlocks(from: at, limit: 1).first {
                    rows = try DerivedRows(block: stored.block, hashes: stored.block.transactions.map { $0.hash(suite: suite) }, skipped: stored.skipped)
                }
                problems += try await store.locateDifferences(table, height: at, expected: rows)
            }
        }
        return (differing, problems)
    }

    /// Why data of a derived table is not served (nil: the table matches the chain).
    public func derivedFault(_ table: DerivedRows.Table) -> String? {
        guard derivedFaults.contains(table) else { return nil }
        let located = derivedProblems.filter { $0.table == table }
        let example = located.first.map { " (first: \($0))" } ?? ""
        return "table \(table.rawValue) differs from the chain at \(located.count) located row(s)\(example); the operator rebuilds it with `gateway rebuild-derived`"
    }

    public var derivedStateProblems: [DerivedStateProblem] { derivedProblems }

    // MARK: Consensus

    func replicaConfiguration(validators: Int, epoch: UInt64) -> Replica.Configuration {
        var configuration = Replica.Configuration(replicas: validators)
        configuration.epoch = epoch
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

    var hashFunction: @Sendable ([UInt8]) -> [UInt8] { { [suite] in suite.hash($0) } }

    /// The replica for the epoch the decided ledger is in: its validators (from governance), its root (the block whose
    /// governance change started the epoch, or the genesis), and what this node persisted in that epoch.
    func epochSetup(committed tail: [ConsensusBlock]) async throws -> EpochSetup {
        let next = ledger.height + 1
        let epoch = ledger.governance.epoch(atHeight: next)
        let members = ledger.governance.validators(atHeight: next)
        let start = ledger.governance.validatorHistory.last { $0.height <= next }!.height
        var rootID = ledger.genesis.hash(suite: suite)
        if start > 1 {
            if let root = tail.last(where: { $0.height == start - 1 }) {
                rootID = root.id
            } else if let root = try await store.blocks(from: start - 1, limit: 1).first {
                rootID = root.header.hash(suite: suite)
            } else {
                throw NodeError("the block that started epoch \(epoch) (height \(start - 1)) is not stored")
            }
        }
        updateDirectory()
        let others = directory.filter { !members.contains($0) && $0 != nodeID }
        let index = members.firstIndex(of: nodeID) ?? members.count + others.count
        let keys = try members.map { try ledger.memberKey($0) }
        let safety = try await consensusStore.loadSafety(epoch: epoch)
        let pending = try await consensusStore.blocks(above: ledger.height, epoch: epoch, hash: hashFunction)
        if let missing = Self.missingHeights(storedHeight: ledger.height, safety: safety, pending: pending) {
            // The persisted safety state certified blocks the stored chain no longer holds (it was cut short, or restored
            // from an older backup). Peers can supply them; a solo validator has nobody to ask, and proposing on top of
            // blocks it does not have would only pile up blocks that can never commit.
            let range = "\(missing.lowerBound)…\(missing.upperBound)"
            if members == [nodeID] {
                throw NodeError("""
                    the stored chain ends at height \(ledger.height), but this validator's persisted consensus state certified \
                    height \(missing.upperBound): blocks \(range) are missing from the database (cut short, or restored from an \
                    older backup). A solo validator has no peer to fetch them from: restore the database from a backup that \
                    holds them, and do not start this node on the shortened chain
                    """)
            }
            logger.warning("stored chain is shorter than the persisted consensus state; fetching the missing blocks from peers", metadata: [
                "stored_height": "\(ledger.height)", "missing": "\(range)",
            ])
        }
        let replica = Replica(
            id: index, configuration: replicaConfiguration(validators: members.count, epoch: epoch),
            signer: SuiteConsensusSigner(replica: index, key: signer, validators: keys), hash: hashFunction, rootID: rootID, rootHeight: start - 1,
            restoring: safety, committed: tail, pendingBlocks: pending
        )
        // A follower's own id comes last among the others, so that its replica id maps back to itself.
        return EpochSetup(epoch: epoch, members: members, others: others + (members.contains(nodeID) ? [] : [nodeID]), replica: replica)
    }

    /// Heights the persisted safety state certified but neither the stored chain nor the persisted pending blocks hold
    /// (nil when nothing is missing). Blocks above the stored tip are normal — they were persisted before voting — but
    /// a gap between the tip and the highest certified block means the stored chain lost its tail.
    static func missingHeights(storedHeight: UInt64, safety: SafetyState?, pending: [ConsensusBlock]) -> ClosedRange<UInt64>? {
        guard let certified = safety?.highQC.height, certified > storedHeight else { return nil }
        // Walk in from both ends over what is held (at most the pending blocks), not over the whole range.
        let held = Set(pending.map(\.height))
        var first = storedHeight + 1
        while first <= certified, held.contains(first) { first += 1 }
        guard first <= certified else { return nil }
        var last = certified
        while held.contains(last) { last -= 1 }
        return first...last
    }

    /// Learns members governance admitted (keys and addresses) for the transport and the followers' replica ids.
    func updateDirectory() {
        var additions: [String: ConsensusTransport.Peer] = [:]
        for member in ledger.genesis.members + ledger.governance.members where !directory.contains(member.nodeID) {
            directory.append(member.nodeID)
            if let key = try? ledger.memberKey(member.nodeID) {
                additions[member.nodeID] = ConsensusTransport.Peer(key: key, address: Self.parseAddress(member.address))
            }
        }
        if !additions.isEmpty { transport?.update(directory: additions) }
    }

    func startConsensus() async throws {
        let hash = hashFunction
        // The replica's committed tail comes back from the chain tables, its uncommitted blocks and safety state
        // from what it persisted (in its epoch) before voting.
        var tail: [ConsensusBlock] = []
        if ledger.height > 0 {
            // As many as the replica keeps in memory, so that leader reputation's window is whole after a restart.
            let keep = UInt64(Replica.Configuration(replicas: 1).committedKeep)
            let from = ledger.height > keep ? ledger.height - keep + 1 : 1
            for stored in try await store.storedBlocks(from: from, limit: Int(keep)) {
                tail.append(try ConsensusCodec.block(
                    header: stored.block.header, payload: stored.block.transactions.map(\.encoded), evidence: stored.evidence, hash: hash
                ))
            }
        }
        let setup = try await epochSetup(committed: tail)
        let (stream, continuation) = AsyncStream.makeStream(of: Decided.self)
        commitContinuation = continuation
        let store = self.store
        let driver = ConsensusDriver(
            me: nodeID, setup: setup, persistence: consensusStore, epochEnds: try await consensusStore.epochEnds(hash: hash),
            serveFetch: { id in (try? await Self.committedBlocks(endingAt: id, store: store, hash: hash)) ?? [] },
            serveSync: { [weak self] height, epoch in try? await self?.syncBatch(from: height, epoch: epoch) },
            logger: logger,
            nextEpoch: { [weak self] committed in
                guard let self else { throw NodeError("node is shutting down") }
                return try await self.epochSetup(committed: committed)
            },
            onCommit: { [weak self] block, certificate, evidence, _ in await self?.decide(block, certificate: certificate, evidence: evidence) ?? false }
        )
        self.driver = driver
        // Peers: a solo chain has none (until governance admits one); any other node listens on its address.
        if directory.count > 1 { try await startTransport(driver: driver) }
        commitTask = Task { [weak self] in
            for await decided in stream { await self?.store(decided) }
        }
        await driver.start()
    }

    func startTransport(driver: ConsensusDriver) async throws {
        let member = (ledger.genesis.members + ledger.governance.members).first { $0.nodeID == nodeID }
        guard let listen = settings.listenAddress ?? member.flatMap({ Self.parseAddress($0.address) }) else {
            throw NodeError("the address of \(nodeID) in the genesis or its admission must be host:port; or give --peer-listen host:port")
        }
        var peers: [String: ConsensusTransport.Peer] = [:]
        for member in ledger.genesis.members + ledger.governance.members {
            if let key = try? ledger.memberKey(member.nodeID) {
                peers[member.nodeID] = ConsensusTransport.Peer(key: key, address: Self.parseAddress(member.address))
            }
        }
        // Frames arrive on the transport's event loops; one task hands them to the driver in arrival order. The stream
        // holds at most `inboxMessagesMax` (newer ones are dropped, as the driver's own inbox does): no task per message,
        // no unbounded queue.
        let (inbound, delivery) = AsyncStream.makeStream(
            of: (sender: String, epoch: UInt64, message: ConsensusMessage).self, bufferingPolicy: .bufferingOldest(ConsensusDriver.inboxMessagesMax)
        )
        inboundTask = Task {
            for await frame in inbound { await driver.deliver(frame.message, from: frame.sender, epoch: frame.epoch) }
        }
        inboundDelivery = delivery
        let transport = ConsensusTransport(
            me: nodeID, directory: peers, key: signer, hash: hashFunction, logger: logger,
            onMessage: { sender, epoch, message in _ = delivery.yield((sender, epoch, message)) }
        )
        do {
            _ = try await transport.listen(host: listen.host, port: listen.port)
        } catch {
            throw NodeError("cannot listen for peers on \(listen.host):\(listen.port): \(error)")
        }
        self.transport = transport
        await driver.attach(transport)
    }

    public static func parseAddress(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Bounded.port.parse(text[text.index(after: colon)...]) else { return nil }
        return (String(text[..<colon]), Int(port))
    }

    /// Forward sync from storage: committed blocks from `height` (at most 16, never past the end of `epoch`), with the
    /// QC on the last one and the proof it is committed (its certified child).
    public func syncBatch(from height: UInt64, epoch: UInt64) async throws -> SyncBatch? {
        guard height >= 1, height <= storedHeight else { return nil }
        let stored = try await store.storedBlocks(from: height, limit: 17)
        let commitments = try await store.commitments(from: height, limit: 17)
        let history = ledger.governance.validatorHistory
        let boundary = Int(epoch) + 1 < history.count ? history[Int(epoch) + 1].height - 1 : nil
        /// A stored certificate as the replica's QC: validator ids back to replica ids of the block's epoch.
        func quorumCertificate(_ signatures: [CommitSignature], on header: BlockHeader, setAt height: UInt64) -> QuorumCertificate {
            let validators = ledger.governance.validators(atHeight: height)
            let signed = signatures.compactMap { entry in
                validators.firstIndex(of: entry.validator).map { QuorumCertificate.Signed(replica: $0, signature: entry.signature) }
            }
            return QuorumCertificate(blockID: header.hash(suite: suite), round: header.round, height: header.height,
                                     signatures: signed.sorted { $0.replica < $1.replica })
        }
        let entries = try stored.map { entry -> (block: ConsensusBlock, certificate: QuorumCertificate, evidence: CommitEvidence?) in
            let header = entry.block.header
            let block = try ConsensusCodec.block(header: header, payload: entry.block.transactions.map(\.encoded), evidence: entry.evidence, hash: hashFunction)
            let evidence = commitments[header.height].map {
                CommitEvidence(childHeader: $0.child, childQC: quorumCertificate($0.certificate, on: $0.child, setAt: header.height))
            }
            return (block, quorumCertificate(entry.block.certificate, on: header, setAt: header.height), evidence)
        }
        return SyncBatch.serve(entries, boundary: boundary)
    }

    /// Up to 16 committed blocks ending at `id`, newest first, rebuilt as consensus blocks (for a peer that syncs).
    public static func committedBlocks(endingAt id: [UInt8], store: ChainStore, hash: ([UInt8]) -> [UInt8]) async throws -> [ConsensusBlock] {
        guard let height = try await store.height(ofBlock: id), height > 0 else { return [] }
        let from = height > 15 ? height - 15 : 1
        return try await store.storedBlocks(from: from, limit: Int(height - from + 1)).reversed().map {
            try ConsensusCodec.block(header: $0.block.header, payload: $0.block.transactions.map(\.encoded), evidence: $0.evidence, hash: hash)
        }
    }

    /// Verifies a block the replica committed against the ledger rules, in memory and in order, and queues it for
    /// storage. Returns whether its governance changed the validator set (the replica's epoch ends with it).
    func decide(_ block: ConsensusBlock, certificate: QuorumCertificate, evidence: CommitEvidence) async -> Bool {
        guard block.height == ledger.height + 1 else { return false }
        do {
            let transactions = try block.payload.map { try Transaction(decoding: $0) }
            let validators = ledger.governance.validators(atHeight: block.height)
            func signatures(_ qc: QuorumCertificate) throws -> [CommitSignature] {
                try qc.signatures.map { signed in
                    guard validators.indices.contains(signed.replica) else { throw ChainError(.invalidBlock, "certificate signer outside the validator set") }
                    return CommitSignature(validator: validators[signed.replica], signature: signed.signature)
                }
            }
            let committed = Block(header: block.header, transactions: transactions, certificate: try signatures(certificate))
            // The child's certificate was formed in the same epoch as the block's (the replica that committed it).
            let commitment = StoredCommitment(child: evidence.childHeader, certificate: try signatures(evidence.childQC))
            var next = ledger
            let applied = try next.apply(committed, verified: { [verified] in verified.contains($0) })
            ledger = next
            commitContinuation?.yield(Decided(block: committed, consensusBlock: block, applied: applied, commitment: commitment))
            // Only governance admits members: other blocks (nearly all) leave the directory as it is.
            let admitting = transactions.indices.contains { transactions[$0].kind == .proposal || transactions[$0].kind == .approval }
            let known = directory.count
            if admitting { updateDirectory() }
            let joined = Array(directory.dropFirst(known))
            if !joined.isEmpty, let driver {
                await driver.addFollowers(joined)
                if transport == nil { try? await startTransport(driver: driver) }
            }
            return ledger.governance.validatorHistory.last!.height == block.height + 1
        } catch {
            // Only possible if more than f validators certified an invalid block: refuse to follow it.
            logger.critical("a committed block fails the ledger rules; this node stops following the chain", metadata: [
                "height": "\(block.height)", "error": "\(error)",
            ])
            commitContinuation?.finish()
            await driver?.stop()
            return false
        }
    }

    /// Stores a decided block with its derived state in one database transaction, then resumes the requests waiting
    /// for its transactions.
    func store(_ decided: Decided) async {
        let block = decided.block
        var backoffMs = 50
        while true {
            do {
                try await store.commit(
                    block, suite: suite, evidence: ConsensusCodec.encodeEvidence(of: decided.consensusBlock), skipped: decided.applied.skipped,
                    commitment: decided.commitment
                )
                break
            } catch {
                // The block is decided; only storing it failed (database down). Keep trying: nothing after it can
                // be stored first, and nothing is acknowledged before it is stored.
                logger.error("storing committed block failed; retrying", metadata: ["height": "\(block.header.height)", "error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(backoffMs))
                backoffMs = min(backoffMs * 2, 2_000)
            }
        }
        storedHeight = block.header.height
        resumeHeightWaiters()
        lastCommitMs = now()
        for (index, transaction) in block.transactions.enumerated() {
            let hash = transaction.hash(suite: suite)
            if let reason = decided.applied.skipped[index] {
                resume(waiters.failed(hash), with: .failure(ChainServiceError(.skipped, "the transaction was skipped by the ledger rules: \(reason)")))
                continue
            }
            let location = TransactionLocation(height: block.header.height, index: index)
            resume(waiters.committed(hash, at: location), with: .success(location))
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
            let rejectedIndices = Set(selection.rejected.map(\.index))
            if !rejectedIndices.isEmpty {
                let rejected = rejectedIndices.sorted().map { hashes[$0] }
                // A node that was down finds in its outbox transactions its peers committed meanwhile: not an error.
                let committed = try await store.locations(of: rejected)
                let committedHashes = Set(committed.map { Hex.encode($0.hash) })
                for (index, error) in selection.rejected {
                    if committedHashes.contains(Hex.encode(hashes[index])) { continue }
                    logger.error("discarding an invalid pending transaction", metadata: ["error": "\(error)"])
                }
                if !committed.isEmpty {
                    logger.notice("outbox transactions were already committed (by peers while this node was away); dropped from the outbox", metadata: [
                        "transactions": "\(committed.count)",
                    ])
                }
                try await store.discardPending(hashes: rejected)
                for entry in committed {
                    let location = TransactionLocation(height: entry.height, index: entry.index)
                    resume(waiters.committed(entry.hash, at: location), with: .success(location))
                }
                for hash in rejected where !committedHashes.contains(Hex.encode(hash)) {
                    resume(waiters.failed(hash), with: .failure(NodeError("transaction was rejected by the ledger rules")))
                }
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
        guard waiters.count < settings.backlogMax else {
            throw ChainServiceError(.busy, "\(waiters.count) transactions are waiting for the chain; retry shortly")
        }
    }

    /// The governed state as of the last decided block, and that block's height.
    public func decidedGovernance() -> (height: UInt64, state: GovernanceState) { (ledger.height, ledger.governance) }

    /// Grants by the department of node `holder` to `grantee` for `category`, live (neither revoked nor expired) at
    /// `nowMs`, by id; empty when the node is not a member.
    public func liveGrants(byDepartmentOf holder: String, grantee: String, category: String, atMs nowMs: Int64) -> [GrantRegistry.Entry] {
        guard let grantor = department(ofNode: holder) else { return [] }
        return ledger.grants.live(grantor: grantor, grantee: grantee, category: category, atMs: nowMs)
    }

    /// One grant as the chain records it (nil: no such grant).
    public func grant(id: String) -> GrantRegistry.Entry? { ledger.grants.entries[id] }

    /// Every grant `department` gave or received, by id.
    public func grants(involving department: String) -> [GrantRegistry.Entry] { ledger.grants.involving(department) }

    /// The department of a member node, as governance records it now (nil: not a member).
    public func department(ofNode nodeID: String) -> String? {
        ledger.governance.members.first { $0.nodeID == nodeID }?.department
    }

    /// For each salted subject, the purposes it has consented to (and not withdrawn) as of the last decided block.
    public func consentedPurposes(_ subjects: [[UInt8]]) -> [[String]] {
        subjects.map { ledger.consents.purposes(of: $0) }
    }

    /// Throws the ledger's reason if a governance transaction would not apply after the last decided block.
    public func checkGovernance(_ transaction: Transaction) throws {
        try ledger.validate(transaction)
        var state = ledger.governance
        try state.apply(transaction, height: ledger.height + 1)
    }

    /// The consensus epoch this node is in and its validators (for status and tests).
    public func consensusEpoch() async -> (epoch: UInt64, validators: [String])? {
        guard let driver else { return nil }
        return (await driver.epoch, await driver.validators)
    }

    /// For diagnostics and tests: the replica's state in one line.
    public func consensusSummary() async -> String { await driver?.stateSummary ?? "not started" }

    // MARK: Waiting for commits

    /// Returns once the transaction is in a committed block. The transaction must already be in the outbox.
    /// Asks no database for a transaction this process has just offered (`known`): it is in `recent` or resumes the
    /// waiter when its block commits. Any other one (it may have been committed long ago, or before a restart) is
    /// looked up once in the chain tables by `probeUnknownWaiters`, many in one query.
    public func awaitCommit(_ hash: [UInt8], known: Bool = false) async throws -> TransactionLocation {
        if let location = waiters.location(of: hash) { return location }
        try await waitUntilReady()
        if let location = waiters.location(of: hash) { return location }
        ring()
        return try await withCheckedThrowingContinuation { continuation in
            waiters.wait(continuation, for: hash, known: known, nowMs: now())
        }
    }

    func probeUnknownWaiters() async throws {
        let batch = waiters.takeUnprobed(limit: 4_096)
        guard !batch.isEmpty else { return }
        for entry in try await store.locations(of: batch) {
            let found = TransactionLocation(height: entry.height, index: entry.index)
            resume(waiters.committed(entry.hash, at: found), with: .success(found))
        }
    }

    func resume(_ list: [CheckedContinuation<TransactionLocation, any Error>], with result: Result<TransactionLocation, any Error>) {
        for continuation in list { continuation.resume(with: result) }
    }

    func expireWaiters() {
        resumeHeightWaiters()
        resume(waiters.expired(nowMs: now()), with: .failure(
            ChainServiceError(.commitTimedOut, "the transaction was not committed in time; too few validators reachable?")
        ))
    }

    /// Suspends until the block at `height` is stored (resumed by `store`), or `timeoutMs` passed (by the ticker's
    /// `expireWaiters`), or the node stops. No polling.
    func waitUntilStored(_ height: UInt64, timeoutMs: Int64) async {
        if storedHeight >= height || stopping { return }
        await withCheckedContinuation { heightWaiters.append(HeightWaiter(height: height, deadlineMs: now() + timeoutMs, continuation: $0)) }
    }

    /// Resumes the height waiters whose height is stored or whose time is up (all of them when `everyone`).
    func resumeHeightWaiters(everyone: Bool = false) {
        guard !heightWaiters.isEmpty else { return }
        let current = now()
        var keep: [HeightWaiter] = []
        for waiter in heightWaiters {
            if everyone || waiter.height <= storedHeight || waiter.deadlineMs <= current { waiter.continuation.resume() } else { keep.append(waiter) }
        }
        heightWaiters = keep
    }

    func failAllWaiters(_ error: any Error) {
        resume(waiters.removeAll(), with: .failure(error))
    }

    // MARK: Proofs

    /// An inclusion proof for a committed transaction, with the governance history a verifier needs to know the
    /// validator set that certified it.
    public func proof(for hash: [UInt8]) async throws -> InclusionProof? {
        guard let found = try await store.location(of: hash),
              let proof = try await proof(at: TransactionLocation(height: found.height, index: found.index))
        else { return nil }
        let location = TransactionLocation(height: found.height, index: found.index)
        var steps: [InclusionProof] = []
        for step in try await store.governanceLocations(atOrBelow: location.height) {
            guard let stepProof = try await self.proof(at: TransactionLocation(height: step.height, index: step.index)) else {
                throw NodeError("governance transaction at \(step.height):\(step.index) has no proof")
            }
            steps.append(stepProof)
        }
        return steps.isEmpty ? proof : InclusionProof(transaction: proof, governance: steps)
    }

    /// Why the stored block at `height` is committed: the headers from it up to its certified child, and the child's
    /// certificate (nil for blocks stored before nodes kept it).
    public func commitment(atHeight height: UInt64) async throws -> InclusionProof.Commitment? {
        guard let stored = try await store.commitment(atHeight: height), stored.child.height > height, stored.child.height - height <= 4_096 else {
            return nil
        }
        // The blocks between were committed together with this one and are stored right after it.
        await waitUntilStored(stored.child.height - 1, timeoutMs: 5_000)
        let between = try await store.headers(from: height + 1, limit: Int(stored.child.height - height - 1))
        return InclusionProof.Commitment(headers: between + [stored.child], certificate: stored.certificate)
    }

    func proof(at location: TransactionLocation) async throws -> InclusionProof? {
        guard let block = try await store.blocks(from: location.height, limit: 1).first, location.index < block.transactions.count else { return nil }
        let tree = MerkleTree(suite: suite)
        let leaves = Block.transactionLeafHashes(block.transactions, tree: tree)
        let commitment = try await commitment(atHeight: location.height)
        return InclusionProof(
            transaction: block.transactions[location.index], leafIndex: location.index,
            auditPath: tree.inclusionProof(index: location.index, leafHashes: leaves), header: block.header,
            certificate: block.certificate, commitment: commitment
        )
    }

}
