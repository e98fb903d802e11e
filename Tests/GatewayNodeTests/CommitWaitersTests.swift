import Foundation
import GatewayCrypto
@testable import GatewayNode
import Testing

/// The commit waiters as the pure state machine they are: events in, waiters to resume out; no clock, no database.
@Suite struct CommitWaitersTests {
    let a: [UInt8] = [1]
    let b: [UInt8] = [2]

    @Test func aCommitResumesEveryWaiterOfItsTransactionAndIsRemembered() {
        var waiters = CommitWaiters<Int>(recentMax: 4, timeoutMs: 100)
        waiters.wait(1, for: a, known: true, nowMs: 0)
        waiters.wait(2, for: a, known: true, nowMs: 5)
        waiters.wait(3, for: b, known: true, nowMs: 5)
        #expect(waiters.count == 3)
        #expect(waiters.committed(a, at: TransactionLocation(height: 7, index: 0)).sorted() == [1, 2])
        #expect(waiters.count == 1)
        #expect(waiters.location(of: a) == TransactionLocation(height: 7, index: 0))
        // A later copy of the same transaction, skipped by the ledger, fails nobody: the first one stands.
        waiters.wait(4, for: a, known: true, nowMs: 6)
        #expect(waiters.failed(a).isEmpty)
        #expect(waiters.failed(b) == [3])
        #expect(waiters.count == 1)
    }

    @Test func deadlinesExpireExactlyTheWaitersWhoseTimeIsUp() {
        var waiters = CommitWaiters<Int>(recentMax: 4, timeoutMs: 100)
        waiters.wait(1, for: a, known: true, nowMs: 0)
        waiters.wait(2, for: a, known: true, nowMs: 50)
        waiters.wait(3, for: b, known: true, nowMs: 80)
        #expect(waiters.oldestSinceMs == 0)
        #expect(waiters.expired(nowMs: 99).isEmpty)
        #expect(waiters.expired(nowMs: 100) == [1])
        #expect(waiters.oldestSinceMs == 50)
        #expect(waiters.expired(nowMs: 180).sorted() == [2, 3])
        #expect(waiters.count == 0 && waiters.oldestSinceMs == nil)
    }

    @Test func unknownTransactionsAreProbedOnceAndShutdownReleasesEveryone() {
        var waiters = CommitWaiters<Int>(recentMax: 4, timeoutMs: 100)
        waiters.wait(1, for: a, known: false, nowMs: 0)
        waiters.wait(2, for: a, known: false, nowMs: 0)
        waiters.wait(3, for: b, known: true, nowMs: 0)
        #expect(waiters.takeUnprobed(limit: 10) == [a])
        #expect(waiters.takeUnprobed(limit: 10).isEmpty)
        #expect(waiters.removeAll().sorted() == [1, 2, 3])
        #expect(waiters.count == 0)
    }

    /// Seeded: the memory of recent commits stays bounded and always holds the newest `recentMax`.
    @Test func theRecentMemoryKeepsTheNewestCommitsAndStaysBounded() {
        let seed = ProcessInfo.processInfo.environment["DATAGATEWAY_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
        print("CommitWaitersTests seed \(seed) (replay: DATAGATEWAY_FUZZ_SEED=\(seed))")
        var random = SplitMix64(seed: seed)
        var waiters = CommitWaiters<Int>(recentMax: 16, timeoutMs: 100)
        var order: [[UInt8]] = []
        for step in 0..<2_000 {
            let hash = withUnsafeBytes(of: random.next() % 300, Array.init)
            if waiters.location(of: hash) == nil { order.append(hash) }
            _ = waiters.committed(hash, at: TransactionLocation(height: UInt64(step), index: 0))
        }
        let newest = order.suffix(16)
        for hash in newest { #expect(waiters.location(of: hash) != nil, "seed \(seed)") }
        let remembered = (0..<300 as Range<UInt64>).filter { waiters.location(of: withUnsafeBytes(of: $0, Array.init)) != nil }
        #expect(remembered.count == 16, "seed \(seed)")
    }
}
