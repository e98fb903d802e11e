import GatewayChain
import GatewayCrypto
@testable import GatewayNode
import Testing

/// Group commit of the access log, against a fake outbox: every event is in exactly one transaction and gets that
/// transaction's receipt, no transaction exceeds the batch bound, failures reach every event of their batch, and a
/// refused admission enqueues nothing.
@Suite struct AccessLogBatcherTests {
    actor FakeOutbox: OutboxWriting {
        var transactions: [[UInt8]: [AccessEvent]] = [:]
        var admitted = 0
        var refuseAdmission = false
        var failEnqueue = false
        var failCommit = false
        /// The first enqueue waits until this many events were admitted, so that later ones queue up behind it.
        let holdFirstUntil: Int
        var held: CheckedContinuation<Void, Never>?
        var first = true

        init(holdFirstUntil: Int = 0) { self.holdFirstUntil = holdFirstUntil }

        func set(refuse: Bool = false, failEnqueue: Bool = false, failCommit: Bool = false) {
            refuseAdmission = refuse
            self.failEnqueue = failEnqueue
            self.failCommit = failCommit
        }

        func admit() async throws {
            if refuseAdmission { throw ChainServiceError(.busy, "busy") }
            admitted += 1
            if admitted >= holdFirstUntil, let held {
                self.held = nil
                held.resume()
            }
        }

        func enqueue(_ kind: Transaction.Kind, payload: [UInt8], timestampMs: Int64?) async throws -> [UInt8] {
            if first, admitted < holdFirstUntil {
                first = false
                await withCheckedContinuation { held = $0 }
            }
            first = false
            if failEnqueue { throw ChainServiceError(.shuttingDown, "stopping") }
            let events = kind == .accessLog ? [try AccessEvent(decoding: payload)] : try AccessLogBatch(decoding: payload).events
            let hash = InternationalSuite().hash(payload)
            transactions[hash] = events
            return hash
        }

        func awaitCommit(_ hash: [UInt8], known: Bool) async throws -> TransactionLocation {
            if failCommit { throw ChainServiceError(.commitTimedOut, "not committed") }
            return TransactionLocation(height: 1, index: transactions.keys.sorted { $0.lexicographicallyPrecedes($1) }.firstIndex(of: hash) ?? 0)
        }
    }

    static func event(_ number: Int) -> AccessEvent {
        AccessEvent(
            eventID: "event-\(number)", requester: "housing", action: "read", category: "citizen", recordKeys: [[UInt8(number % 256)]],
            purpose: "housing_allocation", policyBundleHash: [1], decision: .allow, determiningPolicies: ["p"], requestDigest: [2],
            timestampMs: Int64(number)
        )
    }

    @Test func everyEventIsInExactlyOneBoundedTransactionAndGetsItsReceipt() async throws {
        let count = 700
        let outbox = FakeOutbox(holdFirstUntil: count)
        let batcher = AccessLogBatcher(submitter: outbox)
        let receipts = try await withThrowingTaskGroup(of: (Int, AccessLogBatcher.Receipt).self) { group in
            for number in 0..<count { group.addTask { (number, try await batcher.log(Self.event(number))) } }
            var out: [Int: AccessLogBatcher.Receipt] = [:]
            for try await (number, receipt) in group { out[number] = receipt }
            return out
        }
        let transactions = await outbox.transactions
        let logged = transactions.values.flatMap { $0.map(\.eventID) }
        #expect(logged.count == count && Set(logged).count == count)
        #expect(transactions.values.allSatisfy { $0.count <= AccessLogBatcher.eventsMax })
        // The first event went alone while the rest queued behind it: they share transactions.
        #expect(transactions.count < count && transactions.count >= 1 + (count - 1 + AccessLogBatcher.eventsMax - 1) / AccessLogBatcher.eventsMax)
        for (number, receipt) in receipts {
            #expect(transactions[receipt.transactionHash]?.contains { $0.eventID == "event-\(number)" } == true)
        }
    }

    @Test func failuresReachEveryEventOfTheirBatchAndRefusedAdmissionsEnqueueNothing() async throws {
        let outbox = FakeOutbox()
        let batcher = AccessLogBatcher(submitter: outbox)
        await outbox.set(refuse: true)
        await #expect(throws: ChainServiceError.self) { _ = try await batcher.log(Self.event(1)) }
        #expect(await outbox.transactions.isEmpty)

        await outbox.set(failEnqueue: true)
        await #expect(throws: ChainServiceError.self) { _ = try await batcher.log(Self.event(2)) }
        await outbox.set(failCommit: true)
        do {
            _ = try await batcher.log(Self.event(3))
            Issue.record("an event whose block never came was acknowledged")
        } catch let error as ChainServiceError {
            #expect(error.code == .commitTimedOut)
        }
        // The batcher keeps working after failures.
        await outbox.set()
        let receipt = try await batcher.log(Self.event(4))
        #expect(await outbox.transactions[receipt.transactionHash]?.map(\.eventID) == ["event-4"])
    }
}
