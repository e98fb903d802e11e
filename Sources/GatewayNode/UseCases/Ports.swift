import GatewayChain
import GatewayStore

// What the use cases need from the world outside them. The node plugs in its chain service, submitter, access-log
// batcher and PostgreSQL stores; unit tests plug in in-memory fakes (GatewayTestSupport) and run every use case
// without a database or a chain.

/// What use cases read of the decided chain: governance, grants, consents, derived-table faults and proofs.
package protocol LedgerReading: Sendable {
    /// Returns once the chain is loaded and verified (throws if it cannot start or is stopping).
    func waitUntilReady() async throws
    func decidedGovernance() async -> (height: UInt64, state: GovernanceState)
    func consentedPurposes(_ subjects: [[UInt8]]) async -> [[String]]
    func grant(id: String) async -> GrantRegistry.Entry?
    func grants(involving department: String) async -> [GrantRegistry.Entry]
    func liveGrants(byDepartmentOf holder: String, grantee: String, category: String, atMs nowMs: Int64) async -> [GrantRegistry.Entry]
    func department(ofNode nodeID: String) async -> String?
    /// Why a derived table may not be served (it differs from the blocks), or nil.
    func derivedFault(_ table: DerivedRows.Table) async -> String?
    func proof(for hash: [UInt8]) async throws -> InclusionProof?
    func commitment(atHeight height: UInt64) async throws -> InclusionProof.Commitment?
    /// Throws the ledger's reason if a governance transaction would not apply after the last decided block.
    func checkGovernance(_ transaction: Transaction) async throws
    /// The ε (millionths) a requester's differentially private statistics spent on a category in a month, on chain.
    func privacySpent(_ key: PrivacySpending.Key) async -> Int64
    /// A decryption request (by its transaction's hash, hex) with the shares and refusals answering it so far.
    func decryption(_ id: String) async -> DecryptionBook.Entry?
    /// Requests still open for shares, in commit order.
    func openDecryptions() async -> [(id: String, entry: DecryptionBook.Entry)]
    /// Suspends until a block above `height` is committed, or `timeoutMs` passed; returns the committed height.
    func awaitHeight(after height: UInt64, timeoutMs: Int64) async -> UInt64
    /// A committed transaction by its hash.
    func committedTransaction(_ hash: [UInt8]) async throws -> Transaction?
    /// While storage trails the certified chain: how far it is stored, and certified (nil when caught up).
    func catchingUp() async -> (stored: UInt64, certified: UInt64)?
    /// This node's signed head of the access log (`AccessLogHead`).
    func accessLogHead() async throws -> AccessLogHead
    /// The consistency proof between two sizes of the access log (nil unless 1 ≤ from ≤ to ≤ its size).
    func accessLogConsistency(from: UInt64, to: UInt64) async -> [[UInt8]]?
    /// An event's leaf hash and inclusion proof in the log's first `size` events (nil unless index < size ≤ its size).
    func accessLogInclusion(index: UInt64, size: UInt64) async -> (leafHash: [UInt8], proof: [[UInt8]])?
}

/// How use cases put this node's own transactions on the chain (`TransactionSubmitter` in a node).
package protocol ChainWriting: Sendable {
    /// Signs, makes durable, offers and waits for the committing block.
    func submit(_ kind: Transaction.Kind, payload: [UInt8]) async throws -> (hash: [UInt8], location: TransactionLocation)
    /// The same, after `check` has seen the signed transaction (and may refuse it: governance rules).
    func submit(
        _ kind: Transaction.Kind, payload: [UInt8], check: @Sendable (Transaction) async throws -> Void
    ) async throws -> (hash: [UInt8], location: TransactionLocation)
    /// Signs a transaction with a nonce the caller took from the outbox (a publish writes records and anchor atomically).
    func sign(_ kind: Transaction.Kind, payload: [UInt8], nonce: UInt64, timestampMs: Int64?) throws -> Transaction
    func hash(_ transaction: Transaction) -> [UInt8]
    /// Offers a transaction the caller already wrote to the outbox.
    func offer(_ transaction: Transaction) async
    /// Waits for the block of a transaction (`known`: this process offered it).
    func awaitCommit(_ hash: [UInt8], known: Bool) async throws -> TransactionLocation
}

/// The access log: returns once the event is in a committed block (`AccessLogBatcher` in a node).
package protocol AccessLogging: Sendable {
    func log(_ event: AccessEvent) async throws -> AccessLogBatcher.Receipt
}

/// Encrypted records, stored together with their anchor transaction (`RecordStore` in a node).
package protocol RecordStoring: Sendable {
    /// Stores new records with their anchor and adds them to the running sums (`sums`), in one transaction.
    func publish(
        _ records: [StoredRecord], sums: RunningSumsWriter?,
        makeAnchor: @Sendable ([StoredRecord], UInt64) throws -> (transaction: Transaction, hash: [UInt8])
    ) async throws -> RecordStore.PublishOutcome
    /// Every running-sum row of an aggregate field.
    func runningSums(category: String, field: String) async throws -> [RunningSum]
    func records(category: String, ids: [String]) async throws -> [StoredRecord]
    func aggregateRows(category: String, field: String) async throws -> [AggregateRow]
    /// Erases one record held by `holder` and queues its erasure transaction, in one transaction (`RecordStore.erase`).
    func erase(
        category: String, id: String, holder: String, sums: RunningSumsWriter?,
        makeErasure: @Sendable (_ recordKey: [UInt8], _ nonce: UInt64) throws -> (transaction: Transaction, hash: [UInt8])
    ) async throws -> ErasureOutcome
    /// The first erasure on chain of each of these record keys submitted by `node`, of a key `node` anchored (a copy of
    /// the key in another member's anchor or erasure is not this node's record).
    func erasures(recordKeys: [[UInt8]], by node: String) async throws -> [[UInt8]: (hash: [UInt8], height: UInt64)]
    /// Reclaims the space of erased rows.
    func vacuumErased() async throws
}

/// The chain's tables as auditors read them (`ChainStore` in a node).
package protocol AuditStoring: Sendable {
    /// Access events in commit order after a (height, event id, transaction hash) cursor.
    func accessEvents(afterHeight: UInt64, afterEventID: String, afterTransaction: [UInt8], limit: Int) async throws -> [ChainStore.AccessEventRow]
    /// The same, only the events that match the filter.
    func accessEvents(
        afterHeight: UInt64, afterEventID: String, afterTransaction: [UInt8], limit: Int, filter: ChainStore.AccessEventFilter
    ) async throws -> [ChainStore.AccessEventRow]
    /// Every committed event with this id, in commit order (more than one only when a member copied the id).
    func accessEvents(id: String) async throws -> [ChainStore.AccessEventRow]
    /// The access events that name any of these salted record keys, newest first, each once.
    func accessesToRecords(_ recordKeys: [[UInt8]], limit: Int) async throws -> [ChainStore.AccessEventRow]
    func blocks(from height: UInt64, limit: Int) async throws -> [Block]
}

extension ChainService: LedgerReading {
    package func catchingUp() async -> (stored: UInt64, certified: UInt64)? { await catchingUp(margin: 2) }
}
extension AccessLogBatcher: AccessLogging {}
extension RecordStore: RecordStoring {}
extension ChainStore: AuditStoring {}

extension TransactionSubmitter: ChainWriting {
    package func submit(_ kind: Transaction.Kind, payload: [UInt8]) async throws -> (hash: [UInt8], location: TransactionLocation) {
        try await submit(kind, payload: payload, timestampMs: nil)
    }

    package func submit(
        _ kind: Transaction.Kind, payload: [UInt8], check: @Sendable (Transaction) async throws -> Void
    ) async throws -> (hash: [UInt8], location: TransactionLocation) {
        try await submit(kind, payload: payload, timestampMs: nil, check: check)
    }
}

extension AuditStoring {
    /// The first committed event with this id.
    package func accessEvent(id: String) async throws -> ChainStore.AccessEventRow? { try await accessEvents(id: id).first }
}
