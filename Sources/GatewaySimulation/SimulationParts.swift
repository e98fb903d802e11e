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

    func sign(_ message: [UInt8]) -> [UInt8] {
        guard secrets.indices.contains(replica) else { return [] }  // a follower holds no validator key in this epoch
        return Array(suite.hmac(key: secrets[replica], message).prefix(16))
    }

    func verify(_ signature: [UInt8], by replica: ReplicaID, for message: [UInt8]) -> Bool {
        guard secrets.indices.contains(replica) else { return false }
        return constantTimeEquals(signature, Array(suite.hmac(key: secrets[replica], message).prefix(16)))
    }
}

/// The fault rates of one run, all drawn from its seed (as TigerBeetle's VOPR does).
package struct FaultProfile: Sendable, CustomStringConvertible {
    package let dropRate: Double
    package let duplicateRate: Double
    package let delayMaxTicks: Int
    package let partitionRate: Double
    package let crashRate: Double
    package let clockSkewMaxTicks: Int
    package let byzantine: Bool

    init(_ random: inout SeededGenerator, byzantine: Bool) {
        dropRate = Double(random.below(30)) / 100
        duplicateRate = Double(random.below(10)) / 100
        delayMaxTicks = 1 + random.below(20)
        partitionRate = Double(random.below(5)) / 1_000
        crashRate = Double(random.below(5)) / 1_000
        clockSkewMaxTicks = random.below(50)
        self.byzantine = byzantine
    }

    package var description: String {
        "drop \(Int(dropRate * 100))%, duplicate \(Int(duplicateRate * 100))%, delay ≤ \(delayMaxTicks) ticks, partition \(partitionRate * 1000)‰/tick, crash \(crashRate * 1000)‰/tick, clock skew ≤ \(clockSkewMaxTicks) ticks, byzantine replica: \(byzantine ? "yes" : "no")"
    }
}

package struct SimulationReport: Sendable {
    package let seed: UInt64
    package let replicas: Int
    package let faults: FaultProfile
    package let ticks: UInt64
    package let committedHeights: [UInt64]
    package let heightAtHeal: UInt64
    package let messagesDelivered: Int
    package let messagesDropped: Int
    package let crashes: Int
    package let partitions: Int
    /// Forward-sync batches served (replicas far behind catching up from others' storage).
    package let syncBatches: Int
    /// Restarts whose stored chain had lost its newest blocks while the safety state still certified them.
    package var tailCuts: Int = 0
    /// The highest committed height at `Simulation.markTick` (0 without one).
    package var heightAtMark: UInt64 = 0
    /// The aimed strategy, how often it acted, and how often the observer checked its lemmas.
    package var strategy: AdversaryStrategy = .equivocation
    package var aimedActions = 0
    package var observerChecks: (votes: Int, certificates: Int, extensions: Int) = (0, 0, 0)
    /// The validator-set changes governance committed, in order ("node-4 joined at height 37").
    package let reconfigurations: [String]
    /// The first violated property, or nil if safety and liveness held.
    package let violation: String?
    /// Each replica's state at the end, for diagnosing a failure.
    package let replicaStates: [String]

    package var passed: Bool { violation == nil }

    package var summary: String {
        var lines = [
            "seed \(seed): \(replicas) nodes, \(ticks) ticks; faults: \(faults); strategy: \(strategy.rawValue) (\(aimedActions) aimed actions)",
            "committed heights \(committedHeights.map(String.init).joined(separator: " ")) (at heal: \(heightAtHeal)); messages delivered \(messagesDelivered), dropped \(messagesDropped); crashes \(crashes) (\(tailCuts) with a cut chain tail), partitions \(partitions), sync batches \(syncBatches); checked \(observerChecks.votes) votes, \(observerChecks.certificates) certificates acted on, \(observerChecks.extensions) certified-after-commit extensions",
        ]
        if !reconfigurations.isEmpty { lines.append("validator set changes: " + reconfigurations.joined(separator: "; ")) }
        lines.append(violation.map { "FAILED (seed \(seed)): \($0)" } ?? "safety and liveness held")
        if violation != nil { lines += replicaStates.map { "  " + $0 } }
        return lines.joined(separator: "\n")
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

extension Simulation {
    /// Deliberate bugs planted in the nodes' behaviour, to show that the checkers catch what they claim to
    /// (mutation testing of the simulator itself). Never used outside tests.
    package enum Mutation: String, Sendable, CaseIterable {
        /// Node 0 reports a commit of a block other than the one it was given (a fork).
        case conflictingCommit
        /// Node 0 reports a commit whose certificate has too few valid signatures.
        case uncertifiedCommit
        /// After healing, nothing reaches node 0 any more (it cannot make progress).
        case deafAfterHeal
        /// Every node's governance applies a proposal without waiting for its approvals, so the validator set
        /// changes before the chain says it does.
        case approvalsIgnored
    }

    struct Envelope {
        let at: UInt64
        let sequence: Int
        let from: Int
        let to: Int
        /// The sender's epoch when it sent the message.
        let epoch: UInt64
        let message: ConsensusMessage
    }

    /// One node: its `EpochHost` — the node's own epoch code (replica of the current epoch, replica ids, how past
    /// epochs ended, cross-epoch routing) — and the governance state that decides the epochs.
    struct Host {
        var core: EpochHost<Int>
        var governance: GovernanceState
        var epoch: UInt64 { core.epoch }
        var members: [Int] { core.members }
        var replica: Replica { core.replica }
    }

    /// What a node keeps across a crash.
    struct Disk {
        var safety: (epoch: UInt64, state: SafetyState)?
        var committed: [ConsensusBlock] = []
        var pending: [(epoch: UInt64, block: ConsensusBlock)] = []
        /// The commit evidence that ended each epoch, by epoch, and the height of each epoch's last block.
        var epochEnds: [EpochEnd] = []
        var boundaries: [UInt64] = []
        /// For each committed block (aligned with `committed`): the QC on it and the evidence that committed it.
        var certificates: [QuorumCertificate] = []
        var evidences: [CommitEvidence] = []
    }
}

extension Simulation {
    package init(
        seed: UInt64, replicas: Int = 4, ticks: UInt64 = 2_000, healTicks: UInt64 = 3_000, byzantine: Bool = true,
        offline: Set<Int> = [], reconfigure: Bool = true, mutation: Mutation? = nil, strategy: AdversaryStrategy? = nil,
        plantedBug: PlantedBug? = nil
    ) {
        precondition(replicas >= 1)
        self.mutation = mutation
        self.strategy = strategy ?? AdversaryStrategy.forSeed(seed)
        self.plantedBug = plantedBug
        self.offline = offline
        self.seed = seed
        self.replicas = replicas
        self.ticks = ticks
        self.healTicks = healTicks
        self.byzantine = byzantine && replicas >= 4
        aimedTicks = self.byzantine ? 1_500 : 0
        self.reconfigure = reconfigure || mutation == .approvalsIgnored
    }
}
