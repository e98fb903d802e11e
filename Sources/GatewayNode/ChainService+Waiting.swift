import Foundation
import GatewayChain
import GatewayCrypto
import GatewayStore
import Logging

// Waiting for commits: the actor's side of `CommitWaiters` and height waiters.
extension ChainService {
    // MARK: Waiting for commits

    /// Returns once the transaction is in a committed block. The transaction must already be in the outbox.
    /// Asks no database for a transaction this process has just offered (`known`): it is in `recent` or resumes the
    /// waiter when its block commits. Any other one (it may have been committed long ago, or before a restart) is
    /// looked up once in the chain tables by `probeUnknownWaiters`, many in one query.
    package func awaitCommit(_ hash: [UInt8], known: Bool = false) async throws -> TransactionLocation {
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
        resume(
            waiters.expired(nowMs: now()),
            with: .failure(
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
}
