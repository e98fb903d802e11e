import Dispatch
import Foundation
import GatewayChain
import GatewayCrypto
import GatewayNode
import GatewayStore
import Logging
import ServiceLifecycle

// Our side of bench/chain: n validators (real ChainService, real PostgreSQL databases, real TCP on 127.0.0.1) in
// this process; access-log transactions signed by the nodes go through each node's outbox into consensus.
//
//   gateway-chain-bench <sm|intl> <validators> <seconds> <database-url> <peer-base-port>
//
// Prints one JSON object: committed events/s and commit latency p50/p99 at the maximum load (closed loop) and at
// half of it (open loop), and the machine's signature-verification rate measured on the same transactions.

func progress(_ message: String) { FileHandle.standardError.write(Data("[chain-bench] \(message)\n".utf8)) }

struct Measurement: Codable {
    let offered_per_s: Double?
    let committed: Int
    let seconds: Double
    let events_per_s: Double
    let p50_ms: Double
    let p99_ms: Double
}

struct Report: Codable {
    let suite: String
    let validators: Int
    /// Access events through the node's group commit (AccessLogBatcher), at maximum and half load.
    let events_max: Measurement
    let events_half: Measurement
    /// One pre-signed transaction per event (no batching): signed transactions per second.
    let transactions_max: Measurement
    /// n ≥ 4: access events at maximum load through the validators still up, after one was stopped.
    let events_one_down: Measurement?
    let verify_per_s: Double
    let verify_threads: Int
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.down)))]
}

func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1_000 + Double(duration.components.attoseconds) / 1e15
}

/// Pre-signed transactions per node, taken in nonce order by the load.
final class Supply: @unchecked Sendable {
    let lock = NSLock()
    var next: [Int]
    let transactions: [[(Transaction, [UInt8])]]
    init(_ transactions: [[(Transaction, [UInt8])]]) {
        self.transactions = transactions
        self.next = Array(repeating: 0, count: transactions.count)
    }
    func take(_ node: Int) -> (Transaction, [UInt8])? {
        lock.withLock {
            guard next[node] < transactions[node].count else { return nil }
            defer { next[node] += 1 }
            return transactions[node][next[node]]
        }
    }
}

/// A value shared by threads of `concurrentPerform`.
final class Locked<Value>: @unchecked Sendable {
    let lock = NSLock()
    var value: Value
    init(_ value: Value) { self.value = value }
    func update(_ body: (inout Value) -> Void) { lock.withLock { body(&value) } }
}

actor Latencies {
    var values: [Double] = []
    var startedAt: ContinuousClock.Instant?
    func add(_ value: Double) { values.append(value) }
    func reset() { values = [] }
}

// The other benchmarks' sides, by their first argument.
let subcommands: [String: ([String]) async throws -> Void] = [
    "derived": derivedBench, "statistics": statisticsBench, "tls": tlsBench, "http": httpBench, "http-load": httpLoad,
    "build-chain": buildChainBench, "audit": auditBench,
]
if CommandLine.arguments.count > 1, let subcommand = subcommands[CommandLine.arguments[1]] {
    try await subcommand(CommandLine.arguments)
    exit(0)
}

let arguments = CommandLine.arguments
guard arguments.count == 6, let suiteName = SuiteName(rawValue: arguments[1]), let n = Int(arguments[2]), let seconds = Double(arguments[3]),
    let peerBase = Int(arguments[5])
else {
    FileHandle.standardError.write(Data("usage: gateway-chain-bench <sm|intl> <validators> <seconds> <database-url> <peer-base-port>\n".utf8))
    exit(2)
}
let baseURL = arguments[4]
let suite = try suiteName.makeSuite()
var logger = Logger(label: "chain-bench")
logger.logLevel = .critical

// Genesis, keys and a fresh database per validator. The pre-signed load has submitters of its own (non-voting
// members), so its nonces never meet the nodes' own access-log nonces.
let keys = (0..<n).map { _ in suite.generateSigningKey() }
let loadKeys = (0..<n).map { _ in suite.generateSigningKey() }
let genesis = Genesis(
    chainID: "bench", suite: suiteName,
    members: (0..<n).map {
        .init(
            nodeID: "v\($0)", department: "d\($0)", role: .validator, publicKey: keys[$0].publicKey.pemRepresentation,
            address: "127.0.0.1:\(peerBase + $0)")
    }
        + (0..<n).map {
            .init(
                nodeID: "l\($0)", department: "d\($0)", role: .observer, publicKey: loadKeys[$0].publicKey.pemRepresentation,
                address: "")
        },
    createdAtMs: 0
)
var databases: [Database] = []
var chains: [ChainService] = []
for index in 0..<n {
    var components = URLComponents(string: baseURL)!
    components.path = "/dg_bench_chain_\(index)"
    try await Database.recreate(url: components.string!, logger: logger)
    let database = try Database(url: components.string!, logger: logger)
    databases.append(database)
    chains.append(
        try ChainService(
            database: database, genesis: genesis, suite: suite, signer: keys[index], nodeID: "v\(index)", logger: logger,
            now: { Int64(Date().timeIntervalSince1970 * 1_000) }
        ))
}

// Pre-sign the load (the nodes sign access events on the request path; here signing is kept out of the timing).
let perNode = max(2_000, Int((suiteName == .sm ? 6_000 : 40_000) * seconds * 2 / 5) / n)
progress("\(suiteName.rawValue), n = \(n): signing \(perNode * n) access-log transactions")
let bundle = suite.hash(Array("bundle".utf8))
let presigned: [[(Transaction, [UInt8])]] = (0..<n).map { node in
    let chunks = 8
    let out = Locked([[(Transaction, [UInt8])]](repeating: [], count: chunks))
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        var local: [(Transaction, [UInt8])] = []
        for i in stride(from: chunk, to: perNode, by: chunks) {
            let event = AccessEvent(
                eventID: "e-\(node)-\(i)", requester: "social_security", action: "read", category: "citizen",
                recordKeys: [suite.hash(Array("record \(i)".utf8))], purpose: "benefit_eligibility", policyBundleHash: bundle,
                decision: .allow, determiningPolicies: ["policy0"], requestDigest: suite.hash(Array("request \(i)".utf8)), timestampMs: 0
            )
            let transaction = try! Transaction(
                chainID: "bench", kind: .accessLog, submitter: "l\(node)", nonce: UInt64(i + 1), timestampMs: 0,
                payload: event.encoded, signer: loadKeys[node])
            local.append((transaction, transaction.hash(suite: suite)))
        }
        out.update { $0[chunk] = local }
    }
    return out.value.flatMap { $0 }.sorted { $0.0.nonce < $1.0.nonce }
}
let supply = Supply(presigned)

// The machine's verification rate on these transactions, all cores (every validator shares them).
let threads = ProcessInfo.processInfo.activeProcessorCount
let sample = presigned.flatMap { $0.prefix(2_000) }
let verifyKeys = loadKeys.map(\.publicKey)
let verifyStart = ContinuousClock.now
let verifications = Locked(0)
DispatchQueue.concurrentPerform(iterations: threads) { thread in
    var local = 0
    let deadline = ContinuousClock.now + .seconds(2)
    var i = thread
    while ContinuousClock.now < deadline {
        let (transaction, _) = sample[i % sample.count]
        let node = Int(transaction.submitter.dropFirst())!
        if verifyKeys[node].isValidSignature(transaction.signature, for: transaction.signingBytes) { local += 1 }
        i += threads
    }
    verifications.update { $0 += local }
}
let verifyPerSecond = Double(verifications.value) / (milliseconds(ContinuousClock.now - verifyStart) / 1_000)
progress("signature verification: \(Int(verifyPerSecond))/s on \(threads) threads")

// One service group per validator, so that one can be stopped alone (the one-validator-down phase).
let groups = (0..<n).map { ServiceGroup(configuration: .init(services: databases[$0].clients + [chains[$0]], logger: logger)) }
let running = groups.map { group in Task { try await group.run() } }
for chain in chains { try await chain.waitUntilReady() }
progress("\(n) validator(s) ready")

let outboxes = (0..<n).map { OutboxWriter(store: ChainStore(database: databases[$0]), chain: chains[$0]) }

/// One transaction through node `node`'s outbox into a committed block; its latency in ms.
func submit(_ node: Int, _ transaction: Transaction, _ hash: [UInt8], from start: ContinuousClock.Instant) async -> Double? {
    do {
        try await outboxes[node].enqueue(transaction, hash: hash)
        _ = try await chains[node].awaitCommit(hash, known: true)
        return milliseconds(ContinuousClock.now - start)
    } catch {
        return nil
    }
}

let batchers = (0..<n).map {
    let batcher = AccessLogBatcher(
        chain: TransactionSubmitter(
            chain: chains[$0], store: ChainStore(database: databases[$0]), suite: suite, signer: keys[$0], chainID: "bench", nodeID: "v\($0)",
            now: { Int64(Date().timeIntervalSince1970 * 1_000) }
        ), now: { Int64(Date().timeIntervalSince1970 * 1_000) })
    chains[$0].payloadTap.attach(batcher)
    return batcher
}
let eventCounter = Locked(0)

/// One access event through node `node`'s group commit into a committed block; its latency in ms.
func logEvent(_ node: Int, from start: ContinuousClock.Instant) async -> Double? {
    var number = 0
    eventCounter.update {
        $0 += 1; number = $0
    }
    let event = AccessEvent(
        eventID: "b-\(number)", requester: "social_security", action: "read", category: "citizen",
        recordKeys: [suite.hash(Array("record \(number)".utf8))], purpose: "benefit_eligibility", policyBundleHash: bundle,
        decision: .allow, determiningPolicies: ["policy0"], requestDigest: suite.hash(Array("request \(number)".utf8)),
        timestampMs: Int64(Date().timeIntervalSince1970 * 1_000)
    )
    do {
        _ = try await batchers[node].log(event)
        return milliseconds(ContinuousClock.now - start)
    } catch {
        return nil
    }
}

// Maximum load: a closed loop with many requests in flight per node.
func closedLoop(workers: Int, seconds: Double, batched: Bool, nodes: Int = n) async -> Measurement {
    let latencies = Latencies()
    let start = ContinuousClock.now
    let deadline = start + .milliseconds(Int(seconds * 1_000))
    await withTaskGroup(of: Void.self) { tasks in
        for worker in 0..<workers * nodes {
            tasks.addTask {
                let node = worker % nodes
                while ContinuousClock.now < deadline {
                    let latency: Double?
                    if batched {
                        latency = await logEvent(node, from: ContinuousClock.now)
                    } else {
                        guard let (transaction, hash) = supply.take(node) else { break }
                        latency = await submit(node, transaction, hash, from: ContinuousClock.now)
                    }
                    if let latency { await latencies.add(latency) }
                }
            }
        }
    }
    let elapsed = milliseconds(ContinuousClock.now - start) / 1_000
    let sorted = await latencies.values.sorted()
    return Measurement(
        offered_per_s: nil, committed: sorted.count, seconds: elapsed, events_per_s: Double(sorted.count) / elapsed,
        p50_ms: percentile(sorted, 0.5), p99_ms: percentile(sorted, 0.99))
}

// A fixed offered rate (open loop): latency counts from the scheduled send time.
func openLoop(rate: Double, seconds: Double) async -> Measurement {
    let latencies = Latencies()
    let start = ContinuousClock.now
    let total = Int(rate * seconds)
    await withTaskGroup(of: Void.self) { tasks in
        for i in 0..<total {
            let scheduled = start + .microseconds(Int(Double(i) / rate * 1e6))
            let now = ContinuousClock.now
            if scheduled > now { try? await Task.sleep(until: scheduled, clock: .continuous) }
            let node = i % n
            tasks.addTask {
                if let latency = await logEvent(node, from: scheduled) { await latencies.add(latency) }
            }
        }
    }
    // Everything offered in `seconds` was committed (or not) by now; the committed rate is over the offered window.
    let sorted = await latencies.values.sorted()
    return Measurement(
        offered_per_s: rate, committed: sorted.count, seconds: seconds, events_per_s: Double(sorted.count) / seconds,
        p50_ms: percentile(sorted, 0.5), p99_ms: percentile(sorted, 0.99))
}

progress("warm-up")
_ = await closedLoop(workers: 64, seconds: 1, batched: true)
progress("signed transactions, one event each, maximum load (closed loop) for \(seconds) s")
let transactions = await closedLoop(workers: 4_096 / n, seconds: seconds, batched: false)
progress("transactions: \(Int(transactions.events_per_s))/s, p50 \(transactions.p50_ms) ms, p99 \(transactions.p99_ms) ms")
progress("access events (group commit), maximum load (closed loop) for \(seconds) s")
let maximum = await closedLoop(workers: 4_096 / n, seconds: seconds, batched: true)
progress("events max: \(Int(maximum.events_per_s))/s, p50 \(maximum.p50_ms) ms, p99 \(maximum.p99_ms) ms")
progress("access events, half load (open loop at \(Int(maximum.events_per_s / 2))/s) for \(seconds) s")
let half = await openLoop(rate: max(1, maximum.events_per_s / 2), seconds: seconds)
progress("events half: \(Int(half.events_per_s))/s, p50 \(half.p50_ms) ms, p99 \(half.p99_ms) ms")

// One validator down (n ≥ 4): the last one is stopped (its connections close, it votes no more); the others keep
// taking the load. Leader reputation should keep the committed rate at least half of the healthy one.
var oneDown: Measurement?
if n >= 4 {
    progress("stopping validator v\(n - 1)")
    await groups[n - 1].triggerGracefulShutdown()
    _ = try? await running[n - 1].value
    progress("one validator down: warm-up (its rounds fail until reputation skips it)")
    _ = await closedLoop(workers: 64, seconds: 3, batched: true, nodes: n - 1)
    // Long enough to include the dead validator's retries: it is tried again each time its failure leaves the
    // reputation window (200 blocks at n = 4), which under this load comes every several seconds.
    let downSeconds = max(seconds, 30)
    progress("one validator down: access events, maximum load (closed loop) for \(downSeconds) s")
    let measured = await closedLoop(workers: 4_096 / n, seconds: downSeconds, batched: true, nodes: n - 1)
    progress("events one down: \(Int(measured.events_per_s))/s, p50 \(measured.p50_ms) ms, p99 \(measured.p99_ms) ms")
    oneDown = measured
}

for (index, group) in groups.enumerated() where n < 4 || index < n - 1 { await group.triggerGracefulShutdown() }
for task in running { _ = try? await task.value }
let encoder = JSONEncoder()
encoder.outputFormatting = [.sortedKeys]
let report = Report(
    suite: suiteName.rawValue, validators: n, events_max: maximum, events_half: half, transactions_max: transactions, events_one_down: oneDown,
    verify_per_s: verifyPerSecond, verify_threads: threads
)
print(String(decoding: try encoder.encode(report), as: UTF8.self))
