import GatewayChain
import GatewayCrypto
import GatewayStore

/// Group commit for the access log: events that arrive while the previous batch is being signed and written to the
/// outbox share one transaction — one signature, one outbox row, one verification per validator. When the node is
/// quiet a batch is a single event and waits for nothing; under load batches grow up to `eventsMax`.
public actor AccessLogBatcher {
    public static let eventsMax = 512

    public struct Receipt: Sendable {
        public let transactionHash: [UInt8]
        public let location: TransactionLocation
    }

    let chain: ChainService
    let store: ChainStore
    let suite: any CryptoSuite
    let signer: any SigningKey
    let chainID: String
    let nodeID: String
    var queue: [(event: AccessEvent, continuation: CheckedContinuation<Receipt, any Error>)] = []
    var flushing = false

    public init(chain: ChainService, store: ChainStore, suite: any CryptoSuite, signer: any SigningKey, chainID: String, nodeID: String) {
        self.chain = chain
        self.store = store
        self.suite = suite
        self.signer = signer
        self.chainID = chainID
        self.nodeID = nodeID
    }

    /// Returns once the event is in a committed block; `busy` if too much already waits for the chain.
    public func log(_ event: AccessEvent) async throws -> Receipt {
        try await chain.admit()
        return try await withCheckedThrowingContinuation { continuation in
            queue.append((event, continuation))
            if !flushing {
                flushing = true
                Task { await flush() }
            }
        }
    }

    func flush() async {
        while !queue.isEmpty {
            let batch = Array(queue.prefix(Self.eventsMax))
            queue.removeFirst(batch.count)
            do {
                let nonce = try await store.nextNonce()
                let events = batch.map(\.event)
                let (kind, payload) = events.count == 1
                    ? (Transaction.Kind.accessLog, events[0].encoded) : (.accessLogBatch, AccessLogBatch(events: events).encoded)
                let transaction = try Transaction(
                    chainID: chainID, kind: kind, submitter: nodeID, nonce: nonce, timestampMs: events.map(\.timestampMs).max()!, payload: payload,
                    signer: signer
                )
                let hash = transaction.hash(suite: suite)
                try await store.enqueue(transaction, hash: hash)
                await chain.offer([transaction])
                // Wait for the block without holding up the next batch.
                Task { [chain] in
                    do {
                        let location = try await chain.awaitCommit(hash, known: true)
                        for entry in batch { entry.continuation.resume(returning: Receipt(transactionHash: hash, location: location)) }
                    } catch {
                        for entry in batch { entry.continuation.resume(throwing: error) }
                    }
                }
            } catch {
                for entry in batch { entry.continuation.resume(throwing: error) }
            }
        }
        flushing = false
    }
}
