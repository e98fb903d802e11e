import GatewayChain
import GatewayNode
import GatewayStore

/// The benchmark's load generator for pre-signed transactions of outside submitters (the node's own transactions go
/// through `TransactionSubmitter`). Group commit into the durable outbox: transactions submitted while the previous write is in flight go into the
/// next single INSERT (one PostgreSQL commit for many), so submitting signed transactions is not bounded by one
/// fsync each. `enqueue` returns once its transaction is durable; it is then offered to the chain.
actor OutboxWriter {
    public static let batchMax = 2_048
    let store: ChainStore
    let chain: ChainService
    var queue: [(transaction: Transaction, hash: [UInt8], continuation: CheckedContinuation<Void, any Error>)] = []
    var flushing = false

    init(store: ChainStore, chain: ChainService) {
        self.store = store
        self.chain = chain
    }

    func enqueue(_ transaction: Transaction, hash: [UInt8]) async throws {
        try await withCheckedThrowingContinuation { continuation in
            queue.append((transaction, hash, continuation))
            if !flushing {
                flushing = true
                Task { await flush() }
            }
        }
    }

    func flush() async {
        while !queue.isEmpty {
            let batch = Array(queue.prefix(Self.batchMax))
            queue.removeFirst(batch.count)
            do {
                try await store.enqueue(batch.map { ($0.transaction, $0.hash) })
                await chain.offer(batch.map(\.transaction))
                for entry in batch { entry.continuation.resume() }
            } catch {
                for entry in batch { entry.continuation.resume(throwing: error) }
            }
        }
        flushing = false
    }
}
