import Foundation
import GatewayChain
import GatewayCrypto
import GatewayNode
import GatewayPolicy
import GatewaySchema
import GatewayStore
import Logging

/// A clock tests move by hand: use cases read the time only through it.
package final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var ms: Int64

    package init(_ ms: Int64 = 1_800_000_000_000) { self.ms = ms }

    /// A clock that starts at the current time (for tests that reckon dates from today).
    package static var wallClock: ManualClock { ManualClock(Int64(Date().timeIntervalSince1970 * 1000)) }

    package var now: Int64 { lock.withLock { ms } }
    package func advance(byMs delta: Int64) { lock.withLock { ms += delta } }
    package var reader: @Sendable () -> Int64 { { [self] in now } }
}

/// Nonces for the fake chain's own transactions, shared with the fake record store (as the outbox sequence is).
final class NonceSequence: @unchecked Sendable {
    private let lock = NSLock()
    private var last: UInt64 = 0
    func next() -> UInt64 {
        lock.withLock {
            last += 1; return last
        }
    }
}

/// An in-memory chain for unit tests of the use cases: a real `Ledger` of one solo validator (this node), a block per
/// submitted transaction, committed at once. Everything the node's chain service answers — governance, grants,
/// consents, proofs — comes from the real ledger and real blocks, so the use cases see chain semantics, not stubs.
package actor InMemoryChain: LedgerReading, ChainWriting, AccessLogging, AuditStoring {
    package nonisolated let suite: any CryptoSuite
    package nonisolated let nodeID: String
    package nonisolated let genesis: Genesis
    nonisolated let signer: any SigningKey
    let clock: ManualClock
    let nonces = NonceSequence()
    package private(set) var ledger: Ledger
    package private(set) var blocks: [Block] = []
    var locations: [[UInt8]: TransactionLocation] = [:]
    /// Access events in commit order, as the access-log tables would hold them.
    package private(set) var events: [(event: AccessEvent, height: UInt64, hash: [UInt8])] = []
    /// Releases of deferred accesses: event id → the releasing department and height (the first release).
    var releases: [String: (department: String, height: UInt64)] = [:]
    /// Faults a test declares on derived tables (what `ChainService` finds when a table differs from the blocks).
    package var derivedFaults: [DerivedRows.Table: String] = [:]
    /// When set, the next access-log write fails with it (the chain unavailable): nothing may be released then.
    package var failNextLog: (any Error)?

    /// Other share holders of the consortium key (observers of this chain, so that this node alone certifies blocks):
    /// their keys, for transactions a test submits as them.
    package nonisolated let peers: [String: any SigningKey]
    let peerNonces = NonceSequence()
    /// Share holders' duties, run when a decryption request commits (as their nodes would on seeing its block).
    nonisolated let duties = DutyList()

    package final class DutyList: @unchecked Sendable {
        // Safety: `list` is only touched under `lock`.
        private let lock = NSLock()
        private var list: [DecryptionDuty] = []
        func add(_ duty: DecryptionDuty) { lock.withLock { list.append(duty) } }
        var all: [DecryptionDuty] { lock.withLock { list } }
    }
    var heightWaiters: [(height: UInt64, id: Int, continuation: CheckedContinuation<Void, Never>)] = []
    var nextWaiter = 0

    /// A chain whose only validator is `nodeID` of `department`. `peers` (node ids, sorted) join as observers; with
    /// `aggregation`, share i of the consortium key belongs to the i-th of [nodeID] + peers.
    package init(
        suite: any CryptoSuite, nodeID: String = "node-1", department: String, clock: ManualClock, peers: [String] = [],
        aggregation: ThresholdPaillier.PublicParameters? = nil
    ) throws {
        self.suite = suite
        self.nodeID = nodeID
        self.clock = clock
        signer = suite.generateSigningKey()
        var keys: [String: any SigningKey] = [:]
        for peer in peers { keys[peer] = suite.generateSigningKey() }
        self.peers = keys
        genesis = Genesis(
            chainID: "unit-chain", suite: suite.name,
            members: [
                .init(
                    nodeID: nodeID, department: department, role: .validator, publicKey: signer.publicKey.pemRepresentation,
                    address: "127.0.0.1:1")
            ]
                + peers.map { peer in
                    .init(
                        nodeID: peer, department: "peer-\(peer)", role: .observer, publicKey: keys[peer]!.publicKey.pemRepresentation,
                        address: "127.0.0.1:2")
                },
            createdAtMs: clock.now - 1_000, policyBundles: [],
            aggregation: aggregation.map { AggregationKey(key: $0, holders: [nodeID] + peers) }
        )
        ledger = try Ledger(genesis: genesis, suite: suite)
    }

    /// Registers a share holder's duty: it answers each decryption request when its block commits.
    package nonisolated func addDuty(_ duty: DecryptionDuty) { duties.add(duty) }

    /// Signs a transaction as a peer and commits it (a peer node's submission).
    @discardableResult
    package func submit(as peer: String, _ kind: Transaction.Kind, payload: [UInt8]) throws -> (hash: [UInt8], location: TransactionLocation) {
        guard let key = peers[peer] else { throw ChainServiceError(.skipped, "no peer \(peer)") }
        let transaction = try Transaction(
            chainID: genesis.chainID, kind: kind, submitter: peer, nonce: peerNonces.next(), timestampMs: clock.now, payload: payload, signer: key)
        return (hash(transaction), try commit([transaction])[0])
    }

    package func setDerivedFault(_ table: DerivedRows.Table, _ reason: String?) { derivedFaults[table] = reason }
    package func setFailNextLog(_ error: (any Error)?) { failNextLog = error }

    /// Commits one block holding `transactions`; throws `skipped` for one the ledger refused to execute.
    @discardableResult
    func commit(_ transactions: [Transaction]) throws -> [TransactionLocation] {
        let block = try ledger.proposeSolo(transactions: transactions, proposer: nodeID, signer: signer, timestampMs: clock.now)
        let applied = try ledger.apply(block)
        blocks.append(block)
        var out: [TransactionLocation] = []
        for (index, transaction) in transactions.enumerated() {
            let location = TransactionLocation(height: block.header.height, index: index)
            let hash = transaction.hash(suite: suite)
            if let reason = applied.skipped[index] { throw ChainServiceError(.skipped, reason) }
            locations[hash] = location
            for event in try transaction.accessEvents() { events.append((event, block.header.height, hash)) }
            if transaction.kind == .accessRelease {
                // The ledger executed it: the submitter is the named department's node.
                let release = try AccessRelease(decoding: transaction.payload)
                for id in release.eventIDs where releases[id] == nil { releases[id] = (release.department, block.header.height) }
            }
            out.append(location)
        }
        for waiter in heightWaiters where waiter.height < ledger.height { waiter.continuation.resume() }
        heightWaiters.removeAll { $0.height < ledger.height }
        if transactions.contains(where: { $0.kind == .decryptionRequest }) {
            for duty in duties.all { Task { await duty.answerOpenRequests() } }
        }
        return out
    }

    // MARK: ChainWriting

    package func submit(_ kind: Transaction.Kind, payload: [UInt8]) async throws -> (hash: [UInt8], location: TransactionLocation) {
        try await submit(kind, payload: payload, check: { _ in })
    }

    package func submit(
        _ kind: Transaction.Kind, payload: [UInt8], check: @Sendable (Transaction) async throws -> Void
    ) async throws -> (hash: [UInt8], location: TransactionLocation) {
        let transaction = try sign(kind, payload: payload, nonce: nonces.next(), timestampMs: nil)
        try await check(transaction)
        return (hash(transaction), try commit([transaction])[0])
    }

    package func checkGovernance(_ transaction: Transaction) async throws {
        try ledger.validate(transaction)
        var state = ledger.governance
        try state.apply(transaction, height: ledger.height + 1)
    }

    package nonisolated func sign(_ kind: Transaction.Kind, payload: [UInt8], nonce: UInt64, timestampMs: Int64?) throws -> Transaction {
        try Transaction(
            chainID: genesis.chainID, kind: kind, submitter: nodeID, nonce: nonce, timestampMs: timestampMs ?? clock.now, payload: payload,
            signer: signer
        )
    }

    package nonisolated func hash(_ transaction: Transaction) -> [UInt8] { transaction.hash(suite: suite) }

    package func offer(_ transaction: Transaction) async {
        guard locations[hash(transaction)] == nil else { return }
        _ = try? commit([transaction])
    }

    package func awaitCommit(_ hash: [UInt8], known: Bool) async throws -> TransactionLocation {
        guard let location = locations[hash] else { throw ChainServiceError(.commitTimedOut, "transaction was never offered") }
        return location
    }

    /// The next nonce of this node's outbox (for the fake record store's anchors).
    nonisolated func nextNonce() -> UInt64 { nonces.next() }

    // MARK: AccessLogging

    package func log(_ event: AccessEvent) async throws -> AccessLogBatcher.Receipt {
        if let error = failNextLog {
            failNextLog = nil
            throw error
        }
        let (hash, location) = try await submit(.accessLog, payload: event.encoded)
        return AccessLogBatcher.Receipt(transactionHash: hash, location: location)
    }

    // MARK: LedgerReading

    /// An in-memory chain stores what it decides at once: never behind.
    package func catchingUp() -> (stored: UInt64, certified: UInt64)? { nil }

    /// The access log over `events` (commit order), built afresh: tests hold few events.
    var accessLog: MerkleLog {
        var log = MerkleLog(tree: MerkleTree(suite: suite))
        for entry in events { log.append(leafHash: AccessLogHead.leafHash(entry.event, tree: log.tree)) }
        return log
    }

    package func accessLogHead() throws -> AccessLogHead {
        let log = accessLog
        return try AccessLogHead(
            chainID: genesis.chainID, nodeID: nodeID, size: UInt64(log.count), height: ledger.height, root: log.root(size: log.count),
            timestampMs: clock.now, signer: signer)
    }

    package func accessLogConsistency(from: UInt64, to: UInt64) -> [[UInt8]]? {
        let log = accessLog
        guard from >= 1, from <= to, to <= UInt64(log.count) else { return nil }
        return log.consistencyProof(oldSize: Int(from), newSize: Int(to))
    }

    package func accessLogInclusion(index: UInt64, size: UInt64) -> (leafHash: [UInt8], proof: [[UInt8]])? {
        let log = accessLog
        guard index < size, size <= UInt64(log.count) else { return nil }
        return (log.leafHash(at: Int(index)), log.inclusionProof(index: Int(index), size: Int(size)))
    }

    package func waitUntilReady() async throws {}
    package func decidedGovernance() async -> (height: UInt64, state: GovernanceState) { (ledger.height, ledger.governance) }
    package func consentedPurposes(_ subjects: [[UInt8]]) async -> [[String]] { subjects.map { ledger.consents.purposes(of: $0) } }
    package func grant(id: String) async -> GrantRegistry.Entry? { ledger.grants.entries[id] }
    package func grants(involving department: String) async -> [GrantRegistry.Entry] { ledger.grants.involving(department) }

    package func liveGrants(byDepartmentOf holder: String, grantee: String, category: String, atMs nowMs: Int64) async -> [GrantRegistry.Entry] {
        guard let grantor = await department(ofNode: holder) else { return [] }
        return ledger.grants.live(grantor: grantor, grantee: grantee, category: category, atMs: nowMs)
    }

    package func department(ofNode nodeID: String) async -> String? {
        ledger.governance.members.first { $0.nodeID == nodeID }?.department
    }

    package func derivedFault(_ table: DerivedRows.Table) async -> String? { derivedFaults[table] }
    package func privacySpent(_ key: PrivacySpending.Key) async -> Int64 { ledger.privacy.spent(key) }
    package func decryption(_ id: String) async -> DecryptionBook.Entry? { ledger.decryptions.entry(id) }

    package func openDecryptions() async -> [(id: String, entry: DecryptionBook.Entry)] {
        ledger.decryptions.order.compactMap { id in ledger.decryptions.entry(id).map { (id, $0) } }
    }

    package func awaitHeight(after height: UInt64, timeoutMs: Int64) async -> UInt64 {
        guard ledger.height <= height else { return ledger.height }
        nextWaiter += 1
        let id = nextWaiter
        let timer = Task { [weak self] in
            try? await Task.sleep(for: .milliseconds(timeoutMs))
            await self?.expireWaiter(id)
        }
        await withCheckedContinuation { heightWaiters.append((height, id, $0)) }
        timer.cancel()
        return ledger.height
    }

    func expireWaiter(_ id: Int) {
        guard let index = heightWaiters.firstIndex(where: { $0.id == id }) else { return }
        heightWaiters.remove(at: index).continuation.resume()
    }

    package func committedTransaction(_ hash: [UInt8]) async throws -> Transaction? {
        guard let location = locations[hash] else { return nil }
        return blocks[Int(location.height - 1)].transactions[location.index]
    }

    /// A real inclusion proof (audit path, header, certificate) with every governance transaction before it.
    package func proof(for hash: [UInt8]) async throws -> InclusionProof? {
        guard let location = locations[hash], let proof = proof(at: location) else { return nil }
        var steps: [InclusionProof] = []
        for block in blocks where block.header.height <= location.height {
            for (index, transaction) in block.transactions.enumerated() where [.proposal, .approval].contains(transaction.kind) {
                if let step = self.proof(at: TransactionLocation(height: block.header.height, index: index)) { steps.append(step) }
            }
        }
        return steps.isEmpty ? proof : InclusionProof(transaction: proof, governance: steps)
    }

    func proof(at location: TransactionLocation) -> InclusionProof? {
        guard location.height >= 1, location.height <= UInt64(blocks.count) else { return nil }
        let block = blocks[Int(location.height - 1)]
        let tree = MerkleTree(suite: suite)
        let leaves = Block.transactionLeafHashes(block.transactions, tree: tree)
        return InclusionProof(
            transaction: block.transactions[location.index], leafIndex: location.index,
            auditPath: tree.inclusionProof(index: location.index, leafHashes: leaves), header: block.header, certificate: block.certificate,
            commitment: commitment(of: location.height)
        )
    }

    package func commitment(atHeight height: UInt64) async throws -> InclusionProof.Commitment? { commitment(of: height) }

    /// A block is committed once its child (the next round) is certified: the child's header and certificate.
    func commitment(of height: UInt64) -> InclusionProof.Commitment? {
        guard height >= 1, height < UInt64(blocks.count) else { return nil }
        let child = blocks[Int(height)]
        return InclusionProof.Commitment(headers: [child.header], certificate: child.certificate)
    }

    // MARK: AuditStoring

    /// Commit order as `ChainStore` sorts it: height, event id, transaction hash.
    static func precedes(_ a: (height: UInt64, id: String, hash: [UInt8]), _ b: (height: UInt64, id: String, hash: [UInt8])) -> Bool {
        if a.height != b.height { return a.height < b.height }
        if a.id != b.id { return a.id < b.id }
        return a.hash.lexicographicallyPrecedes(b.hash)
    }

    package func accessEvents(afterHeight: UInt64, afterEventID: String, afterTransaction: [UInt8], limit: Int) async throws -> [ChainStore
        .AccessEventRow]
    {
        try await accessEvents(
            afterHeight: afterHeight, afterEventID: afterEventID, afterTransaction: afterTransaction, limit: limit,
            filter: ChainStore.AccessEventFilter())
    }

    package func accessEvents(
        afterHeight: UInt64, afterEventID: String, afterTransaction: [UInt8], limit: Int, filter: ChainStore.AccessEventFilter
    ) async throws -> [ChainStore.AccessEventRow] {
        let keys = filter.recordKeys.map(Set.init)
        let cursor = (height: afterHeight, id: afterEventID, hash: afterTransaction)
        let rows = events.filter { Self.precedes(cursor, ($0.height, $0.event.eventID, $0.hash)) }
            .filter { entry in
                let event = entry.event
                return (filter.requester.map { $0 == event.requester } ?? true) && (filter.role.map { $0 == event.role } ?? true)
                    && (filter.purpose.map { $0 == event.purpose } ?? true) && (filter.decision.map { $0 == event.decision.rawValue } ?? true)
                    && (filter.fromMs.map { event.timestampMs >= $0 } ?? true) && (filter.toMs.map { event.timestampMs < $0 } ?? true)
                    && (keys.map { wanted in event.recordKeys.contains(where: wanted.contains) } ?? true)
            }
            .sorted { Self.precedes(($0.height, $0.event.eventID, $0.hash), ($1.height, $1.event.eventID, $1.hash)) }
        return rows.prefix(limit).map(row)
    }

    package func accessEvents(id: String) async throws -> [ChainStore.AccessEventRow] {
        events.filter { $0.event.eventID == id }.map(row)
    }

    package func accessesToRecords(_ recordKeys: [[UInt8]], limit: Int) async throws -> [ChainStore.AccessEventRow] {
        let wanted = Set(recordKeys)
        let rows = events.filter { $0.event.recordKeys.contains(where: wanted.contains) }
            .sorted { ($0.height, $0.event.eventID) > ($1.height, $1.event.eventID) }
        return rows.prefix(limit).map(row)
    }

    package func blocks(from height: UInt64, limit: Int) async throws -> [Block] {
        Array(blocks.dropFirst(Int(min(height, UInt64(blocks.count + 1))) - 1).prefix(limit))
    }

    func row(_ entry: (event: AccessEvent, height: UInt64, hash: [UInt8])) -> ChainStore.AccessEventRow {
        let event = entry.event
        let release = releases[event.eventID].flatMap { $0.department == event.requester ? $0.height : nil }
        return ChainStore.AccessEventRow(
            eventID: event.eventID, height: entry.height, transactionHash: entry.hash, requester: event.requester, action: event.action,
            category: event.category, purpose: event.purpose, decision: event.decision.rawValue, policies: event.determiningPolicies,
            recordCount: event.recordKeys.count, bundleHash: event.policyBundleHash, timestampMs: event.timestampMs, role: event.role,
            grantID: event.grantID, discloseAtMs: event.discloseAtMs, releasedAtHeight: release
        )
    }
}

/// Records in memory, with the anchored hash of each taken from the anchor transactions the chain committed, as
/// the node's `anchored_records` table is derived from the blocks. Tests tamper with stored rows directly.
package actor InMemoryRecordStore: RecordStoring {
    let chain: InMemoryChain
    package private(set) var rows: [String: StoredRecord] = [:]
    var anchored: [[UInt8]: (hash: [UInt8], height: UInt64)] = [:]
    var anchorOf: [String: [UInt8]] = [:]

    package init(chain: InMemoryChain) { self.chain = chain }

    static func key(_ category: String, _ id: String) -> String { category + "\u{1F}" + id }

    /// Running-sum rows, as the node's `aggregate_sums` holds them (tests alter them directly), and the citizens each
    /// group has counted.
    package var sums: [RunningSum] = []
    var members: Set<[UInt8]> = []

    package func setSums(_ rows: [RunningSum]) { sums = rows }

    package func runningSums(category: String, field: String) async throws -> [RunningSum] {
        sums.filter { $0.category == category && $0.field == field }
    }

    package func publish(
        _ records: [StoredRecord], sums writer: RunningSumsWriter?,
        makeAnchor: @Sendable ([StoredRecord], UInt64) throws -> (transaction: Transaction, hash: [UInt8])
    ) async throws -> RecordStore.PublishOutcome {
        var fresh: [StoredRecord] = []
        var older: [[UInt8]] = []
        for record in records {
            if let present = rows[Self.key(record.category, record.recordID)] {
                guard present.recordHash == record.recordHash else {
                    throw StoreError(.conflict, "record \(record.recordID) exists with different content")
                }
                if let anchor = anchorOf[Self.key(record.category, record.recordID)], !older.contains(anchor) { older.append(anchor) }
            } else {
                fresh.append(record)
            }
        }
        guard !fresh.isEmpty else { return RecordStore.PublishOutcome(anchorTransactions: older, inserted: 0, alreadyPresent: records.count) }
        let (transaction, hash) = try makeAnchor(fresh, chain.nextNonce())
        for record in fresh {
            rows[Self.key(record.category, record.recordID)] = record
            anchorOf[Self.key(record.category, record.recordID)] = hash
        }
        if let writer {
            var newCitizens: [String: Int] = [:]
            for record in fresh
            where members.insert(Array(record.category.utf8) + [0] + Array(record.dimensionsJSON.utf8) + [0] + record.citizenKey).inserted {
                newCitizens[record.dimensionsJSON, default: 0] += 1
            }
            let added = writer.rows(category: fresh[0].category, records: fresh.map { ($0.dimensionsJSON, $0.aggregates) }, newCitizens: newCitizens)
            for row in added {
                sums.append(
                    RunningSum(
                        id: Int64(sums.count + 1), category: row.category, field: row.field, groupKey: row.groupKey, ciphertext: row.ciphertext,
                        records: row.records, cohort: row.cohort, tag: row.tag))
            }
        }
        // The chain commits the anchor when the use case offers it; its entries become the anchored hashes.
        await chain.offer(transaction)
        let location = try await chain.awaitCommit(hash, known: true)
        for entry in try RecordAnchor(decoding: transaction.payload).entries {
            anchored[entry.recordKey] = (entry.recordHash, location.height)
        }
        return RecordStore.PublishOutcome(
            anchorTransactions: [hash] + older, inserted: fresh.count, alreadyPresent: records.count - fresh.count, newAnchor: transaction
        )
    }

    package func records(category: String, ids: [String]) async throws -> [StoredRecord] {
        ids.compactMap { id in
            guard var record = rows[Self.key(category, id)] else { return nil }
            record.anchoredHash = anchored[record.recordKey]?.hash
            return record
        }
    }

    package func aggregateRows(category: String, field: String) async throws -> [AggregateRow] {
        rows.values.filter { $0.category == category && $0.aggregates[field] != nil }.sorted { $0.recordID < $1.recordID }.map { record in
            AggregateRow(
                recordKey: record.recordKey, recordHash: record.recordHash, dimensionsJSON: record.dimensionsJSON, citizenKey: record.citizenKey,
                ciphertext: record.aggregates[field] ?? [], aggregates: record.aggregates, anchorVersion: record.anchorVersion,
                anchoredHash: anchored[record.recordKey]?.hash, anchoredHeight: anchored[record.recordKey]?.height
            )
        }
    }

    /// Erased record keys, with the erasure transaction and its height (the node's `erased_records`).
    var erased: [[UInt8]: (hash: [UInt8], height: UInt64)] = [:]

    package func erase(
        category: String, id: String, holder: String, sums writer: RunningSumsWriter?,
        makeErasure: @Sendable (_ recordKey: [UInt8], _ nonce: UInt64) throws -> (transaction: Transaction, hash: [UInt8])
    ) async throws -> ErasureOutcome {
        guard let record = rows[Self.key(category, id)] else { return .absent(erasure: nil) }
        guard record.publisher == holder else { return .notHolder(publisher: record.publisher) }
        rows[Self.key(category, id)] = nil
        if let writer, !record.aggregates.isEmpty {
            let others = rows.values.contains {
                $0.category == category && $0.citizenKey == record.citizenKey && $0.dimensionsJSON == record.dimensionsJSON
            }
            var cohort = 0
            if !others,
                members.remove(Array(category.utf8) + [0] + Array(record.dimensionsJSON.utf8) + [0] + record.citizenKey) != nil
            {
                cohort = -1
            }
            for row in writer.compensation(category: category, groupKey: record.dimensionsJSON, aggregates: record.aggregates, cohort: cohort) {
                sums.append(
                    RunningSum(
                        id: Int64(sums.count + 1), category: row.category, field: row.field, groupKey: row.groupKey, ciphertext: row.ciphertext,
                        records: row.records, cohort: row.cohort, tag: row.tag))
            }
        }
        let (transaction, hash) = try makeErasure(record.recordKey, chain.nextNonce())
        pendingErasures[hash] = record.recordKey
        return .erased(transaction: transaction, hash: hash)
    }

    /// Erasures whose transaction was made but not yet seen committed (the chain commits it when offered).
    var pendingErasures: [[UInt8]: [UInt8]] = [:]

    package func erasures(recordKeys: [[UInt8]], by node: String) async throws -> [[UInt8]: (hash: [UInt8], height: UInt64)] {
        for (hash, key) in pendingErasures {
            if let location = try? await chain.awaitCommit(hash, known: true) {
                erased[key] = erased[key] ?? (hash, location.height)
                pendingErasures[hash] = nil
            }
        }
        return erased.filter { recordKeys.contains($0.key) }
    }

    package func vacuumErased() async throws {}

    /// Replaces a stored row (what an attacker with database access could do).
    package func tamper(category: String, id: String, _ change: (StoredRecord) -> StoredRecord) {
        guard let record = rows[Self.key(category, id)] else { return }
        rows[Self.key(category, id)] = change(record)
    }
}

/// A peer share holder's writes, through the in-memory chain as that peer.
package struct PeerWriter: ChainWriting {
    package let chain: InMemoryChain
    package let peer: String

    package init(chain: InMemoryChain, peer: String) {
        self.chain = chain
        self.peer = peer
    }

    package func submit(_ kind: Transaction.Kind, payload: [UInt8]) async throws -> (hash: [UInt8], location: TransactionLocation) {
        try await chain.submit(as: peer, kind, payload: payload)
    }

    package func submit(
        _ kind: Transaction.Kind, payload: [UInt8], check: @Sendable (Transaction) async throws -> Void
    ) async throws -> (hash: [UInt8], location: TransactionLocation) {
        try await chain.submit(as: peer, kind, payload: payload)
    }

    package func sign(_ kind: Transaction.Kind, payload: [UInt8], nonce: UInt64, timestampMs: Int64?) throws -> Transaction {
        throw ChainServiceError(.skipped, "a peer writer only submits")
    }

    package func hash(_ transaction: Transaction) -> [UInt8] { chain.hash(transaction) }
    package func offer(_ transaction: Transaction) async {}

    package func awaitCommit(_ hash: [UInt8], known: Bool) async throws -> TransactionLocation {
        try await chain.awaitCommit(hash, known: known)
    }
}
