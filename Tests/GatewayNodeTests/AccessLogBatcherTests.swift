import GatewayChain
import GatewayCrypto
import NIOConcurrencyHelpers
@testable import GatewayNode
import Testing

/// The access log's group commit, paced by the driver's ticks, against a fake chain: every event is in exactly one
/// transaction and gets that transaction's receipt, each tick takes everything waiting (bounded per transaction),
/// nonces are never used twice, no nonce in reserve means the events wait for a later tick, failures reach every event
/// of their batch, and refused, expired and closed events get clear errors and leave nothing queued.
@Suite struct AccessLogBatcherTests {
    final class FakeChain: AccessLogChain {
        struct State {
            var transactions: [[UInt8]: (nonce: UInt64, events: [AccessEvent])] = [:]
            var nextNonce: UInt64 = 1
            var refuseAdmission = false
            var failSigning = false
            var failCommit = false
            var holdDraws = false
            var heldDraws: [CheckedContinuation<Void, Never>] = []
            var draws = 0
        }
        let state = NIOLockedValueBox(State())

        func set(_ change: (inout State) -> Void) { state.withLockedValue(change) }

        func admit() async throws {
            if state.withLockedValue({ $0.refuseAdmission }) { throw ChainServiceError(.busy, "busy") }
        }

        func reserveNonces(_ count: Int) async throws -> [UInt64] {
            if state.withLockedValue({ $0.holdDraws }) {
                await withCheckedContinuation { continuation in state.withLockedValue { $0.heldDraws.append(continuation) } }
            }
            return state.withLockedValue { state in
                state.draws += 1
                defer { state.nextNonce += UInt64(count) }
                return (0..<UInt64(count)).map { state.nextNonce + $0 }
            }
        }

        func releaseDraws() {
            let held = state.withLockedValue { state in
                state.holdDraws = false
                defer { state.heldDraws = [] }
                return state.heldDraws
            }
            for continuation in held { continuation.resume() }
        }

        func signed(_ kind: Transaction.Kind, payload: [UInt8], nonce: UInt64, timestampMs: Int64) throws -> (encoded: [UInt8], hash: [UInt8]) {
            if state.withLockedValue({ $0.failSigning }) { throw ChainServiceError(.skipped, "no key") }
            let events = kind == .accessLog ? [try AccessEvent(decoding: payload)] : try AccessLogBatch(decoding: payload).events
            let hash = InternationalSuite().hash(payload + withUnsafeBytes(of: nonce.bigEndian, Array.init))
            state.withLockedValue { $0.transactions[hash] = (nonce, events) }
            return (payload, hash)
        }

        func awaitCommit(_ hash: [UInt8], known: Bool) async throws -> TransactionLocation {
            if state.withLockedValue({ $0.failCommit }) { throw ChainServiceError(.commitTimedOut, "not committed") }
            return TransactionLocation(height: state.withLockedValue { $0.transactions[hash]?.nonce } ?? 0, index: 0)
        }
    }

    final class Clock: Sendable {
        let value = NIOLockedValueBox<Int64>(1_000)
        var now: @Sendable () -> Int64 { { [value] in value.withLockedValue { $0 } } }
        func advance(_ ms: Int64) { value.withLockedValue { $0 += ms } }
    }

    static func event(_ number: Int) -> AccessEvent {
        AccessEvent(
            eventID: "event-\(number)", requester: "housing", action: "read", category: "citizen", recordKeys: [[UInt8(number % 256)]],
            purpose: "housing_allocation", policyBundleHash: [1], decision: .allow, determiningPolicies: ["p"], requestDigest: [2],
            timestampMs: Int64(number)
        )
    }

    /// Logs `numbers` concurrently; returns once all of them wait in the batcher (each `log` call is suspended).
    static func logAll(
        _ numbers: Range<Int>, _ batcher: AccessLogBatcher, into group: inout ThrowingTaskGroup<(Int, AccessLogBatcher.Receipt), any Error>
    ) async {
        let before = batcher.waitingCount
        for number in numbers { group.addTask { (number, try await batcher.log(Self.event(number))) } }
        while batcher.waitingCount < before + numbers.count { await Task.yield() }
    }

    /// Ticks (as the driver does) until a tick takes something; the nonce reserve may still be on its way.
    static func tickUntilTaken(_ batcher: AccessLogBatcher, room: Int = 16) async -> [[UInt8]] {
        while true {
            let taken = batcher.take(room: room)
            if !taken.isEmpty { return taken }
            await Task.yield()
        }
    }

    @Test func eachTickTakesEverythingWaitingIntoBoundedTransactionsAndEveryEventGetsItsReceipt() async throws {
        let chain = FakeChain()
        let batcher = AccessLogBatcher(chain: chain, now: Clock().now)
        let count = 700
        let receipts = try await withThrowingTaskGroup(of: (Int, AccessLogBatcher.Receipt).self) { group in
            await Self.logAll(0..<count, batcher, into: &group)
            // One tick takes transactions of at most eventsMax events, as many as the pool has room for.
            let first = await Self.tickUntilTaken(batcher, room: 1)
            #expect(first.count == 1)
            #expect(batcher.waitingCount == count - AccessLogBatcher.eventsMax)
            #expect(await Self.tickUntilTaken(batcher).count == 1)
            #expect(batcher.waitingCount == 0)
            #expect(batcher.take(room: 16).isEmpty)
            // A backlog: one tick takes it in several transactions, at most transactionsPerTakeMax.
            let backlog = (AccessLogBatcher.transactionsPerTakeMax + 1) * AccessLogBatcher.eventsMax + 100
            await Self.logAll(count..<count + backlog, batcher, into: &group)
            #expect(batcher.take(room: 64).count == AccessLogBatcher.transactionsPerTakeMax)
            #expect(batcher.waitingCount == AccessLogBatcher.eventsMax + 100)
            #expect(batcher.take(room: 64).count == 2)
            // Later events go into a later tick's transaction.
            await Self.logAll(count + backlog..<count + backlog + 3, batcher, into: &group)
            #expect(batcher.take(room: 0).isEmpty, "a full pool takes nothing")
            #expect(await Self.tickUntilTaken(batcher).count == 1)
            var out: [Int: AccessLogBatcher.Receipt] = [:]
            for try await (number, receipt) in group { out[number] = receipt }
            return out
        }
        let total = count + (AccessLogBatcher.transactionsPerTakeMax + 1) * AccessLogBatcher.eventsMax + 100 + 3
        let transactions = chain.state.withLockedValue { $0.transactions }
        #expect(transactions.count == 2 + AccessLogBatcher.transactionsPerTakeMax + 2 + 1)
        #expect(Set(transactions.values.map(\.nonce)).count == transactions.count, "a nonce was used twice")
        #expect(transactions.values.allSatisfy { $0.events.count <= AccessLogBatcher.eventsMax })
        let logged = transactions.values.flatMap { $0.events.map(\.eventID) }
        #expect(logged.count == total && Set(logged).count == total)
        #expect(receipts.count == total)
        for (number, receipt) in receipts {
            #expect(transactions[receipt.transactionHash]?.events.contains { $0.eventID == "event-\(number)" } == true)
        }
        #expect(chain.state.withLockedValue { $0.draws } == 1, "one draw of nonces serves many ticks")
    }

    @Test func withoutANonceInReserveEventsWaitForALaterTick() async throws {
        let chain = FakeChain()
        chain.set { $0.holdDraws = true }
        let batcher = AccessLogBatcher(chain: chain, now: Clock().now)
        try await withThrowingTaskGroup(of: (Int, AccessLogBatcher.Receipt).self) { group in
            await Self.logAll(0..<5, batcher, into: &group)
            #expect(batcher.take(room: 16).isEmpty)
            #expect(batcher.waitingCount == 5)
            chain.releaseDraws()
            #expect(await Self.tickUntilTaken(batcher).count == 1)
            var answered = 0
            for try await _ in group { answered += 1 }
            #expect(answered == 5)
        }
        #expect(chain.state.withLockedValue { $0.transactions.count } == 1)
    }

    @Test func failuresReachEveryEventOfTheirBatchAndRefusalsQueueNothing() async throws {
        let chain = FakeChain()
        let clock = Clock()
        let batcher = AccessLogBatcher(chain: chain, queueMax: 4, now: clock.now)
        // Refused admission: nothing waits.
        chain.set { $0.refuseAdmission = true }
        await #expect(throws: ChainServiceError.self) { _ = try await batcher.log(Self.event(1)) }
        #expect(batcher.waitingCount == 0)
        chain.set { $0.refuseAdmission = false }

        // A failed commit and a failed signature reach every event of the batch.
        for failure in ["commit", "signing"] {
            chain.set {
                $0.failCommit = failure == "commit"
                $0.failSigning = failure == "signing"
            }
            let failed = await withThrowingTaskGroup(of: (Int, AccessLogBatcher.Receipt).self) { group in
                await Self.logAll(0..<3, batcher, into: &group)
                if failure == "signing" {
                    while batcher.waitingCount > 0 { _ = batcher.take(room: 16) }
                } else {
                    _ = await Self.tickUntilTaken(batcher)
                }
                var failed = 0
                while let result = await group.nextResult() { if case .failure = result { failed += 1 } }
                return failed
            }
            #expect(failed == 3, "\(failure): \(failed) of 3 events failed")
        }
        chain.set {
            $0.failCommit = false
            $0.failSigning = false
        }

        // The queue's bound: the fifth waiting event is refused as busy.
        try await withThrowingTaskGroup(of: (Int, AccessLogBatcher.Receipt).self) { group in
            await Self.logAll(10..<14, batcher, into: &group)
            do {
                _ = try await batcher.log(Self.event(14))
                Issue.record("a fifth event was queued beyond the bound")
            } catch let error as ChainServiceError {
                #expect(error.code == .busy)
            }
            // Not taken in time (no tick): every waiting event fails as timed out, and the queue is empty.
            clock.advance(ChainService.commitTimeoutMs + 1)
            batcher.expire(timeoutMs: ChainService.commitTimeoutMs)
            #expect(batcher.waitingCount == 0)
            var timedOut = 0
            while let result = await group.nextResult() {
                if case .failure(let error as ChainServiceError) = result, error.code == .commitTimedOut { timedOut += 1 }
            }
            #expect(timedOut == 4)
        }

        // It keeps working after failures; closing fails what waits and refuses what comes later.
        let receipt = try await withThrowingTaskGroup(of: (Int, AccessLogBatcher.Receipt).self) { group in
            await Self.logAll(20..<21, batcher, into: &group)
            _ = await Self.tickUntilTaken(batcher)
            return try await group.next()!.1
        }
        #expect(chain.state.withLockedValue { $0.transactions[receipt.transactionHash]?.events.map(\.eventID) } == ["event-20"])
        await withThrowingTaskGroup(of: (Int, AccessLogBatcher.Receipt).self) { group in
            await Self.logAll(30..<32, batcher, into: &group)
            batcher.close(ChainServiceError(.shuttingDown, "stopping"))
            var closed = 0
            while let result = await group.nextResult() {
                if case .failure(let error as ChainServiceError) = result, error.code == .shuttingDown { closed += 1 }
            }
            #expect(closed == 2)
        }
        await #expect(throws: ChainServiceError.self) { _ = try await batcher.log(Self.event(40)) }
        #expect(batcher.waitingCount == 0)
    }

    /// The driver is woken (`onWaiting`) when an event arrives to an empty queue — once, not per event — so that an
    /// idle replica takes it without waiting for its next tick; `waiting` says whether anything waits. Through the
    /// tap, whichever of the wake and the batcher comes first.
    @Test(arguments: [true, false]) func anEventArrivingToAnEmptyQueueWakesTheDriverOnce(wakeFirst: Bool) async throws {
        let wakes = NIOLockedValueBox(0)
        let tap = PayloadTap()
        let batcher = AccessLogBatcher(chain: FakeChain(), now: Clock().now)
        if wakeFirst { tap.onWaiting { wakes.withLockedValue { $0 += 1 } } }
        tap.attach(batcher)
        if !wakeFirst { tap.onWaiting { wakes.withLockedValue { $0 += 1 } } }
        #expect(!tap.waiting)
        try await withThrowingTaskGroup(of: (Int, AccessLogBatcher.Receipt).self) { group in
            await Self.logAll(0..<1, batcher, into: &group)
            #expect(wakes.withLockedValue { $0 } == 1 && tap.waiting)
            await Self.logAll(1..<5, batcher, into: &group)
            #expect(wakes.withLockedValue { $0 } == 1, "events joining a waiting queue wake nobody")
            #expect(await Self.tickUntilTaken(batcher).count == 1)
            #expect(!tap.waiting)
            await Self.logAll(5..<6, batcher, into: &group)
            #expect(wakes.withLockedValue { $0 } == 2 && tap.waiting)
            #expect(await Self.tickUntilTaken(batcher).count == 1)
            var answered = 0
            for try await _ in group { answered += 1 }
            #expect(answered == 6)
        }
    }
}
