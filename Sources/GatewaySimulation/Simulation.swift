import GatewayChain
import GatewayCrypto

/// One seed determines every choice of a simulation run. (The seed is mixed so that seed 0 is not special.)
typealias SeededGenerator = SplitMix64

extension SplitMix64 {
    init(simulationSeed seed: UInt64) { self.init(seed: seed ^ 0x5DEE_CE66_D1CE_4E5B) }
}

/// Signatures for the simulation: a keyed hash per replica. Verification recomputes it with the claimed signer's
/// secret, so a replica (honest or not) can only produce its own signatures.
struct SimulatedSigner: ConsensusSigner {
    let replica: ReplicaID
    let secrets: [[UInt8]]
    let suite = InternationalSuite()

    func sign(_ message: [UInt8]) -> [UInt8] { Array(suite.hmac(key: secrets[replica], message).prefix(16)) }

    func verify(_ signature: [UInt8], by replica: ReplicaID, for message: [UInt8]) -> Bool {
        guard secrets.indices.contains(replica) else { return false }
        return constantTimeEquals(signature, Array(suite.hmac(key: secrets[replica], message).prefix(16)))
    }
}

/// The fault rates of one run, all drawn from its seed (as TigerBeetle's VOPR does).
public struct FaultProfile: Sendable, CustomStringConvertible {
    public let dropRate: Double
    public let duplicateRate: Double
    public let delayMaxTicks: Int
    public let partitionRate: Double
    public let crashRate: Double
    public let clockSkewMaxTicks: Int
    public let byzantine: Bool

    init(_ random: inout SeededGenerator, byzantine: Bool) {
        dropRate = Double(random.below(30)) / 100
        duplicateRate = Double(random.below(10)) / 100
        delayMaxTicks = 1 + random.below(20)
        partitionRate = Double(random.below(5)) / 1_000
        crashRate = Double(random.below(5)) / 1_000
        clockSkewMaxTicks = random.below(50)
        self.byzantine = byzantine
    }

    public var description: String {
        "drop \(Int(dropRate * 100))%, duplicate \(Int(duplicateRate * 100))%, delay ≤ \(delayMaxTicks) ticks, partition \(partitionRate * 1000)‰/tick, crash \(crashRate * 1000)‰/tick, clock skew ≤ \(clockSkewMaxTicks) ticks, byzantine replica: \(byzantine ? "yes" : "no")"
    }
}

public struct SimulationReport: Sendable {
    public let seed: UInt64
    public let replicas: Int
    public let faults: FaultProfile
    public let ticks: UInt64
    public let committedHeights: [UInt64]
    public let heightAtHeal: UInt64
    public let messagesDelivered: Int
    public let messagesDropped: Int
    public let crashes: Int
    public let partitions: Int
    /// The first violated property, or nil if safety and liveness held.
    public let violation: String?
    /// Each replica's state at the end, for diagnosing a failure.
    public let replicaStates: [String]

    public var passed: Bool { violation == nil }

    public var summary: String {
        var lines = [
            "seed \(seed): \(replicas) validators, \(ticks) ticks; faults: \(faults)",
            "committed heights \(committedHeights.map(String.init).joined(separator: " ")) (at heal: \(heightAtHeal)); messages delivered \(messagesDelivered), dropped \(messagesDropped); crashes \(crashes), partitions \(partitions)",
        ]
        lines.append(violation.map { "FAILED (seed \(seed)): \($0)" } ?? "safety and liveness held")
        if violation != nil { lines += replicaStates.map { "  " + $0 } }
        return lines.joined(separator: "\n")
    }
}

/// Runs N real replicas in one process under a seeded scheduler: message drop, delay, reorder, duplication,
/// partitions, crash and restart (losing everything not persisted), clock skew, and optionally one Byzantine replica
/// (equivocation, forged and replayed messages, invalid blocks). Then heals the network and requires progress.
public struct Simulation {
    public let seed: UInt64
    public let replicas: Int
    /// Ticks of the chaotic phase; the healed phase that follows lasts `healTicks`.
    public let ticks: UInt64
    public let healTicks: UInt64
    public let byzantine: Bool
    /// Replicas that never run (to show that more than f faults stop progress without forking).
    public let offline: Set<ReplicaID>
    /// Liveness: after healing, every honest replica commits this many blocks beyond the highest height at heal.
    public static let progressAfterHeal: UInt64 = 3

    /// Deliberate bugs planted in honest replica 0's behaviour, to show that the checkers catch what they claim to
    /// (mutation testing of the simulator itself). Never used outside tests.
    public enum Mutation: String, Sendable, CaseIterable {
        /// Replica 0 reports a commit of a block other than the one it was given (a fork).
        case conflictingCommit
        /// Replica 0 reports a commit whose certificate has too few valid signatures.
        case uncertifiedCommit
        /// After healing, nothing reaches replica 0 any more (it cannot make progress).
        case deafAfterHeal
    }

    public let mutation: Mutation?

    public init(seed: UInt64, replicas: Int = 4, ticks: UInt64 = 2_000, healTicks: UInt64 = 3_000, byzantine: Bool = true,
                offline: Set<ReplicaID> = [], mutation: Mutation? = nil) {
        precondition(replicas >= 1)
        self.mutation = mutation
        self.offline = offline
        self.seed = seed
        self.replicas = replicas
        self.ticks = ticks
        self.healTicks = healTicks
        self.byzantine = byzantine && replicas >= 4
    }

    struct Envelope {
        let at: UInt64
        let sequence: Int
        let from: ReplicaID
        let to: ReplicaID
        let message: ConsensusMessage
    }

    public func run() -> SimulationReport {
        var random = SeededGenerator(simulationSeed: seed)
        let faults = FaultProfile(&random, byzantine: byzantine)
        let suite = InternationalSuite()
        let hash: @Sendable ([UInt8]) -> [UInt8] = { suite.hash($0) }
        let secrets = (0..<replicas).map { i in suite.hash(Array("sim-secret-\(seed)-\(i)".utf8)) }
        let byzantineID: ReplicaID? = byzantine ? replicas - 1 : nil
        var configuration = Replica.Configuration(replicas: replicas)
        configuration.roundTimeoutTicks = 30
        var diskSafety: [SafetyState?] = Array(repeating: nil, count: replicas)
        var diskCommitted: [[ConsensusBlock]] = Array(repeating: [], count: replicas)
        var diskBlocks: [[ConsensusBlock]] = Array(repeating: [], count: replicas)
        /// A replica as it restarts: only what it persisted survives the crash.
        func makeReplica(_ id: ReplicaID) -> Replica {
            let height = UInt64(diskCommitted[id].count)
            return Replica(id: id, configuration: configuration, signer: SimulatedSigner(replica: id, secrets: secrets), hash: hash,
                           restoring: diskSafety[id], committed: diskCommitted[id], pendingBlocks: diskBlocks[id].filter { $0.height > height })
        }
        var nodes: [Replica?] = (0..<replicas).map { offline.contains($0) ? nil : makeReplica($0) }
        let skews = (0..<replicas).map { _ in UInt64(random.below(faults.clockSkewMaxTicks + 1)) }
        var queue = MessageQueue()
        var sequence = 0
        var delivered = 0
        var dropped = 0
        var crashes = 0
        var partitions = 0
        var side = Array(repeating: 0, count: replicas)
        var partitionUntil: UInt64 = 0
        var canonical: [UInt64: [UInt8]] = [:]
        var violation: String?
        var replayable: [Envelope] = []
        var heightAtHeal: UInt64 = 0
        var nextItem = 0
        let verifier = SimulatedSigner(replica: 0, secrets: secrets)

        func honest(_ id: ReplicaID) -> Bool { id != byzantineID }

        func perform(_ effects: [ConsensusEffect], of id: ReplicaID, at now: UInt64, chaos: Bool) {
            for effect in effects {
                switch effect {
                case .persist(let state):
                    diskSafety[id] = state
                case .persistBlock(let block):
                    diskBlocks[id].append(block)
                    if diskBlocks[id].count > 4_096 { diskBlocks[id].removeFirst(diskBlocks[id].count - 4_096) }
                case .commit(var block, var certificate):
                    diskCommitted[id].append(block)
                    if id == 0, block.height >= 2 {
                        switch mutation {
                        case .conflictingCommit? where canonical[block.height] != nil:
                            // After another replica committed this height, so the fork check is the one that fires.
                            block = ConsensusBlock(chainID: block.chainID, round: block.round, justify: block.justify, timeout: block.timeout,
                                                   proposer: block.proposer, timestampMs: block.timestampMs, payload: [Array("mutant".utf8)], hash: hash)
                        case .uncertifiedCommit?:
                            certificate = QuorumCertificate(blockID: certificate.blockID, round: certificate.round, height: certificate.height,
                                                            signatures: Array(certificate.signatures.prefix(configuration.quorum - 1)))
                        case .conflictingCommit?, .deafAfterHeal?, nil:
                            break
                        }
                    }
                    guard honest(id), violation == nil else { continue }
                    if let existing = canonical[block.height], existing != block.id {
                        violation = "safety: replica \(id) committed a different block at height \(block.height)"
                    }
                    canonical[block.height] = block.id
                    let message = QuorumCertificate.voteMessage(blockID: certificate.blockID, round: certificate.round, height: certificate.height)
                    var signers = Set<ReplicaID>()
                    for signed in certificate.signatures where verifier.verify(signed.signature, by: signed.replica, for: message) {
                        signers.insert(signed.replica)
                    }
                    // Report the first violated property only (mutation testing caught this check overwriting the fork report).
                    if violation == nil, certificate.blockID != block.id || signers.count < configuration.quorum {
                        violation = "safety: block at height \(block.height) committed by replica \(id) without a valid certificate"
                    }
                case .send(let to, let message):
                    send(message, from: id, to: to, at: now, chaos: chaos)
                case .broadcast(let message):
                    for to in 0..<replicas where to != id { send(message, from: id, to: to, at: now, chaos: chaos) }
                }
            }
        }

        func send(_ message: ConsensusMessage, from: ReplicaID, to: ReplicaID, at now: UInt64, chaos: Bool) {
            if chaos && random.chance(faults.dropRate) {
                dropped += 1
                return
            }
            let copies = chaos && random.chance(faults.duplicateRate) ? 2 : 1
            for _ in 0..<copies {
                sequence += 1
                let delay = UInt64(1 + (chaos ? random.below(faults.delayMaxTicks) : random.below(3)))
                queue.push(Envelope(at: now + delay, sequence: sequence, from: from, to: to, message: message))
            }
        }

        /// The Byzantine replica's behaviour: it runs the honest code, then lies about it.
        func misbehave(_ effects: [ConsensusEffect], of id: ReplicaID, at now: UInt64) -> [ConsensusEffect] {
            var out: [ConsensusEffect] = []
            for effect in effects {
                switch effect {
                case .broadcast(.proposal(let block)) where random.chance(0.7):
                    // Equivocation: a conflicting block for the same round to half of the replicas.
                    let twin = ConsensusBlock(chainID: block.chainID, round: block.round, justify: block.justify, timeout: block.timeout, proposer: id,
                                              timestampMs: block.timestampMs, payload: block.payload + [Array("equivocation-\(now)".utf8)], hash: hash)
                    for to in 0..<replicas where to != id { out.append(.send(to: to, .proposal(to % 2 == 0 ? block : twin))) }
                case .send(let to, .vote(let vote)) where random.chance(0.5):
                    // Votes for a block that does not exist, and a vote forged in another replica's name.
                    let signer = SimulatedSigner(replica: id, secrets: secrets)
                    let bogus = hash(Array("bogus-\(now)".utf8))
                    out.append(.send(to: to, .vote(Vote(blockID: bogus, round: vote.round, height: vote.height, voter: id,
                        signature: signer.sign(QuorumCertificate.voteMessage(blockID: bogus, round: vote.round, height: vote.height))))))
                    out.append(.send(to: to, .vote(Vote(blockID: vote.blockID, round: vote.round, height: vote.height, voter: (id + 1) % replicas,
                        signature: Array(repeating: 0xAB, count: 16)))))
                    out.append(effect)
                default:
                    out.append(effect)
                }
            }
            if random.chance(0.05), !replayable.isEmpty {
                // Replay an old message to someone else, and an invalid block with a forged certificate.
                let old = replayable[random.below(replayable.count)]
                out.append(.send(to: random.below(replicas), old.message))
                let fake = QuorumCertificate(blockID: hash(Array("fake-\(now)".utf8)), round: UInt64(now), height: 99,
                                             signatures: (0..<configuration.quorum).map { .init(replica: $0, signature: [1, 2, 3]) })
                out.append(.broadcast(.proposal(ConsensusBlock(chainID: configuration.chainID, round: UInt64(now) + 1, justify: fake, timeout: nil,
                                                               proposer: id, timestampMs: Int64(now), payload: [], hash: hash))))
            }
            return out
        }

        for id in 0..<replicas where nodes[id] != nil {
            var node = nodes[id]!
            let effects = node.start(now: skews[id])
            nodes[id] = node
            perform(honest(id) ? effects : misbehave(effects, of: id, at: 0), of: id, at: 0, chaos: true)
        }

        let total = ticks + healTicks
        var now: UInt64 = 0
        while now < total && violation == nil {
            now += 1
            let chaos = now <= ticks
            if now == ticks + 1 {
                // Heal: reconnect everyone and restart crashed replicas from what they persisted.
                partitionUntil = 0
                side = Array(repeating: 0, count: replicas)
                for id in 0..<replicas where nodes[id] == nil && !offline.contains(id) {
                    var node = makeReplica(id)
                    perform(node.start(now: now + skews[id]), of: id, at: now, chaos: false)
                    nodes[id] = node
                }
                heightAtHeal = (0..<replicas).filter(honest).compactMap { nodes[$0]?.committedHeight }.max() ?? 0
            }
            if chaos {
                if now >= partitionUntil && side.contains(1) { side = Array(repeating: 0, count: replicas) }
                if random.chance(faults.partitionRate) {
                    partitions += 1
                    side = (0..<replicas).map { _ in random.below(2) }
                    partitionUntil = now + UInt64(50 + random.below(400))
                }
                if random.chance(faults.crashRate) {
                    // Crash a replica; it loses everything it had not persisted. Restart a crashed one sometimes.
                    let id = random.below(replicas)
                    if nodes[id] != nil {
                        nodes[id] = nil
                        crashes += 1
                    }
                }
                if random.chance(faults.crashRate * 2), let id = (0..<replicas).first(where: { nodes[$0] == nil && !offline.contains($0) }) {
                    var node = makeReplica(id)
                    perform(node.start(now: now + skews[id]), of: id, at: now, chaos: chaos)
                    nodes[id] = node
                }
            }
            // Client load: one new item, offered to every live replica.
            if random.chance(0.3) {
                nextItem += 1
                let item = Array("tx-\(nextItem)".utf8)
                for id in 0..<replicas { _ = nodes[id]?.submit(item) }
            }
            while let envelope = queue.popDue(now) {
                guard var node = nodes[envelope.to] else { dropped += 1; continue }
                if mutation == .deafAfterHeal, envelope.to == 0, !chaos { dropped += 1; continue }
                if side[envelope.from] != side[envelope.to] { dropped += 1; continue }
                delivered += 1
                if replayable.count < 256 { replayable.append(envelope) } else if random.chance(0.01) { replayable[random.below(256)] = envelope }
                let effects = node.receive(envelope.message, from: envelope.from, now: now + skews[envelope.to])
                nodes[envelope.to] = node
                perform(honest(envelope.to) ? effects : misbehave(effects, of: envelope.to, at: now), of: envelope.to, at: now, chaos: chaos)
            }
            for id in 0..<replicas {
                guard var node = nodes[id] else { continue }
                let effects = node.tick(now: now + skews[id])
                nodes[id] = node
                perform(honest(id) ? effects : misbehave(effects, of: id, at: now), of: id, at: now, chaos: chaos)
                if honest(id), let problem = node.safetyViolation, violation == nil { violation = "safety: \(problem)" }
            }
        }
        let heights = (0..<replicas).map { nodes[$0]?.committedHeight ?? 0 }
        if violation == nil {
            for id in 0..<replicas where honest(id) && !offline.contains(id) && heights[id] < heightAtHeal + Self.progressAfterHeal {
                violation = "liveness: replica \(id) reached height \(heights[id]) within \(healTicks) ticks of healing; needed \(heightAtHeal + Self.progressAfterHeal)"
                break
            }
        }
        return SimulationReport(
            seed: seed, replicas: replicas, faults: faults, ticks: total, committedHeights: heights, heightAtHeal: heightAtHeal,
            messagesDelivered: delivered, messagesDropped: dropped, crashes: crashes, partitions: partitions, violation: violation,
            replicaStates: (0..<replicas).map { id in (nodes[id]?.stateSummary ?? "replica \(id): crashed") + (honest(id) ? "" : " (byzantine)") }
        )
    }
}

/// A binary min-heap of envelopes by (delivery tick, sequence): deterministic order, O(log n) per message.
struct MessageQueue {
    var heap: [Simulation.Envelope] = []

    static func before(_ a: Simulation.Envelope, _ b: Simulation.Envelope) -> Bool { (a.at, a.sequence) < (b.at, b.sequence) }

    mutating func push(_ envelope: Simulation.Envelope) {
        heap.append(envelope)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popDue(_ now: UInt64) -> Simulation.Envelope? {
        guard let first = heap.first, first.at <= now else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < heap.count && Self.before(heap[left], heap[smallest]) { smallest = left }
                if right < heap.count && Self.before(heap[right], heap[smallest]) { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first
    }
}
