import GatewayChain
import GatewayCrypto
import GatewayStore

/// How this node puts a transaction of its own on the chain: sign it with the next nonce, make it durable in the
/// outbox, offer it to the chain, wait for its block. Record anchors, consents and grants, erasures and governance go
/// through it, so back-pressure, durability before offering, and what "committed" means are decided in one place. The
/// access log's group commit uses its admission, signature, nonces and wait, but not the outbox (`AccessLogBatcher`:
/// no access is acknowledged before its block, so there is nothing to make durable before offering).
package struct TransactionSubmitter: Sendable {
    let chain: ChainService
    let store: ChainStore
    let suite: any CryptoSuite
    let signer: any SigningKey
    let chainID: String
    let nodeID: String
    let now: @Sendable () -> Int64

    package init(
        chain: ChainService, store: ChainStore, suite: any CryptoSuite, signer: any SigningKey, chainID: String, nodeID: String,
        now: @escaping @Sendable () -> Int64
    ) {
        self.chain = chain
        self.store = store
        self.suite = suite
        self.signer = signer
        self.chainID = chainID
        self.nodeID = nodeID
        self.now = now
    }

    /// A transaction of this node, signed, with the given nonce (from the outbox's sequence).
    package func sign(_ kind: Transaction.Kind, payload: [UInt8], nonce: UInt64, timestampMs: Int64? = nil) throws -> Transaction {
        try Transaction(
            chainID: chainID, kind: kind, submitter: nodeID, nonce: nonce, timestampMs: timestampMs ?? now(), payload: payload, signer: signer
        )
    }

    package func hash(_ transaction: Transaction) -> [UInt8] { transaction.hash(suite: suite) }

    /// Refuses with `busy` when too much already waits for the chain (before any work is done for a request).
    package func admit() async throws { try await chain.admit() }

    /// Signs, writes to the outbox (durable before anyone learns of it), offers to the chain and returns without
    /// waiting for the block. `check` sees the signed transaction first and may refuse it (governance rules). The
    /// caller has been admitted already (`admit`): a group commit admits each event when it arrives, not its batch.
    package func enqueue(
        _ kind: Transaction.Kind, payload: [UInt8], timestampMs: Int64? = nil, check: (Transaction) async throws -> Void = { _ in }
    ) async throws -> [UInt8] {
        try await chain.waitUntilReady()
        let transaction = try sign(kind, payload: payload, nonce: try await store.nextNonce(), timestampMs: timestampMs)
        try await check(transaction)
        let hash = hash(transaction)
        try await store.enqueue(transaction, hash: hash)
        await chain.offer([transaction])
        return hash
    }

    /// `admit`, `enqueue`, then the wait for the block that commits it.
    package func submit(
        _ kind: Transaction.Kind, payload: [UInt8], timestampMs: Int64? = nil, check: (Transaction) async throws -> Void = { _ in }
    ) async throws -> (hash: [UInt8], location: TransactionLocation) {
        try await chain.waitUntilReady()
        try await chain.admit()
        let hash = try await enqueue(kind, payload: payload, timestampMs: timestampMs, check: check)
        return (hash, try await chain.awaitCommit(hash, known: true))
    }

    /// For a writer that put its transaction in the outbox inside its own database transaction (a publish writes its
    /// records and their anchor atomically): offers it once that commit is done.
    package func offer(_ transaction: Transaction) async { await chain.offer([transaction]) }

    /// Waits for the block of a transaction: `known` when this process offered it (otherwise it is looked up once
    /// in the chain tables, e.g. an identical re-publish waiting for an older anchor).
    package func awaitCommit(_ hash: [UInt8], known: Bool) async throws -> TransactionLocation {
        try await chain.awaitCommit(hash, known: known)
    }
}
