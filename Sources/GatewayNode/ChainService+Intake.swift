import Foundation
import GatewayChain
import GatewayCrypto
import GatewayStore
import Logging

// Intake: this node's transactions from the outbox to the replica, with back-pressure.
extension ChainService {
    /// Offers transactions that are durable in the outbox to the replica (called after their database commit).
    package func offer(_ transactions: [Transaction]) {
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
                    logger.notice(
                        "outbox transactions were already committed (by peers while this node was away); dropped from the outbox",
                        metadata: [
                            "transactions": "\(committed.count)"
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
    package nonisolated func admit() throws {
        let waiting = published.withLockedValue { $0.waiting }
        guard waiting < settings.backlogMax else {
            throw ChainServiceError(.busy, "\(waiting) transactions are waiting for the chain; retry shortly")
        }
    }
}
