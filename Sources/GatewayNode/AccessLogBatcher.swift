import GatewayChain
import GatewayCrypto

/// Group commit for the access log: events that arrive while the previous batch is being signed and written to the
/// outbox share one transaction — one signature, one outbox row, one verification per validator. When the node is
/// quiet a batch is a single event and waits for nothing; under load batches grow up to `eventsMax`.
package actor AccessLogBatcher {
    package static let eventsMax = 512

    package struct Receipt: Sendable {
        package let transactionHash: [UInt8]
        package let location: TransactionLocation

        package init(transactionHash: [UInt8], location: TransactionLocation) {
            self.transactionHash = transactionHash
            self.location = location
        }
    }

    let submitter: any OutboxWriting
    var queue: [(event: AccessEvent, continuation: CheckedContinuation<Receipt, any Error>)] = []
    var flushing = false

    let metrics: NodeMetrics?

    package init(submitter: any OutboxWriting, metrics: NodeMetrics? = nil) {
        self.submitter = submitter
        self.metrics = metrics
    }

    /// Returns once the event is in a committed block; `busy` if too much already waits for the chain.
    package func log(_ event: AccessEvent) async throws -> Receipt {
        try await submitter.admit()
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
                let events = batch.map(\.event)
                let (kind, payload) =
                    events.count == 1
                    ? (Transaction.Kind.accessLog, events[0].encoded) : (.accessLogBatch, AccessLogBatch(events: events).encoded)
                let hash = try await submitter.enqueue(kind, payload: payload, timestampMs: events.map(\.timestampMs).max()!)
                // Wait for the block without holding up the next batch.
                Task { [submitter, metrics] in
                    do {
                        let location = try await submitter.awaitCommit(hash, known: true)
                        for entry in batch { metrics?.decision(entry.event.decision.rawValue) }
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

/// What the access log's group commit needs of the chain: admission (back-pressure), a durable outbox write that
/// offers the transaction, and the wait for its block (`TransactionSubmitter` in a node).
package protocol OutboxWriting: Sendable {
    func admit() async throws
    func enqueue(_ kind: Transaction.Kind, payload: [UInt8], timestampMs: Int64?) async throws -> [UInt8]
    func awaitCommit(_ hash: [UInt8], known: Bool) async throws -> TransactionLocation
}

extension TransactionSubmitter: OutboxWriting {
    package func enqueue(_ kind: Transaction.Kind, payload: [UInt8], timestampMs: Int64?) async throws -> [UInt8] {
        try await enqueue(kind, payload: payload, timestampMs: timestampMs, check: { _ in })
    }
}
