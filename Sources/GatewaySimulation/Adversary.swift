import GatewayChain
import GatewayCrypto

/// Byzantine strategies that aim at the safety rules rather than at random (issue 18). Each run uses one, drawn from its
/// seed unless given, on top of the random faults and the Byzantine replica's random lies; all act in the chaotic phase
/// only. The adversary controls the network's timing (it may delay any message, as the partial-synchrony model allows
/// before healing) and the Byzantine replica's signatures; it never forges an honest replica's signature.
package enum AdversaryStrategy: String, Sendable, CaseIterable {
    /// The Byzantine leader sends one block to a chosen part of the honest replicas and a conflicting twin to the rest,
    /// votes for both, and later shows each part the other's block (a replica that votes twice in a round is caught).
    case equivocation
    /// A proposal that carries a fresh QC reaches a chosen subset of replicas; the rest (and the timeouts that would
    /// carry the QC to them) get it only after they timed out, so TCs form from replicas that did not see it.
    case withheldCertificate
    /// Votes, timeouts and proposals held until their recipient has moved on: a vote counted by a leader already in the
    /// next round, a proposal that arrives just after its recipient timed out in its round.
    case acrossRoundChange
    /// The round before the Byzantine's turn is made to fail; the Byzantine then proposes on a QC older than what was
    /// committed, with a TC it assembled from real timeouts and its own lowest-reporting one.
    case olderCertificateAfterTimeout
    /// Honest replicas crash right after voting for the Byzantine's block and restart at once; the Byzantine then asks
    /// each to vote for one twin in the same round, and votes for it itself.
    case crashAfterVote

    /// The strategy a seed uses by default: they rotate, so any run of consecutive seeds covers them all.
    package static func forSeed(_ seed: UInt64) -> AdversaryStrategy { allCases[Int(seed % UInt64(allCases.count))] }
}

/// The adversary's state in one run: its own stream of the seed, messages it holds or schedules, what it withholds.
struct Adversary {
    let strategy: AdversaryStrategy
    var random: SeededGenerator
    /// Byzantine messages to send at a later tick.
    var scheduled: [(at: UInt64, to: Int, epoch: UInt64, message: ConsensusMessage)] = []
    /// Messages held until their recipient moves past `round` (or times out in it, for proposals), or `until`.
    var held: [(envelope: Simulation.Envelope, round: UInt64, untilTimedOut: Bool, until: UInt64)] = []
    /// What is being withheld, by block id, and the nodes that may see it now: fresh QCs (`withheldCertificate`, by the
    /// certified block) or a whole proposal from everyone (`olderCertificateAfterTimeout`, by the proposed block).
    var withheld: [[UInt8]: Set<Int>] = [:]
    var decided: Set<[UInt8]> = []
    /// Timeouts the Byzantine replica received, by (epoch, round): the material for TCs of its choosing.
    var timeouts: [SafetyObserver.Key: [ReplicaID: (highQCRound: UInt64, signature: [UInt8])]] = [:]
    /// Crashed replicas to restart, and the Byzantine's proposals by round.
    var restarts: [(at: UInt64, node: Int)] = []
    var proposals: [SafetyObserver.Key: ConsensusBlock] = [:]
    var aimed = 0

    init(strategy: AdversaryStrategy, seed: UInt64) {
        self.strategy = strategy
        random = SeededGenerator(simulationSeed: seed &+ 0xAD5E_25A1)
    }

    /// How the network treats one message while the adversary acts: as usual, delayed by a number of ticks, or held
    /// until its recipient moves on.
    enum Timing {
        case usual
        case delay(UInt64)
        case hold(round: UInt64, untilTimedOut: Bool)
    }

    mutating func timing(
        of message: ConsensusMessage, from: Int, to: Int, nodes: Int, timeoutTicks: UInt64, byzantineLeadsAfter: (ConsensusBlock) -> Bool
    ) -> Timing {
        switch strategy {
        case .withheldCertificate:
            let qc: QuorumCertificate
            switch message {
            case .proposal(let block) where block.justify.round > 0:
                qc = block.justify
                if block.justify.round + 1 == block.round, decided.insert(qc.blockID).inserted, random.chance(0.5) {
                    // A proper subset that includes the proposer: 1 … nodes − 2 others see it now.
                    var others = (0..<nodes).filter { $0 != from }
                    random.shuffle(&others)
                    let seeing = 1 + random.below(max(1, nodes - 2))
                    withheld[qc.blockID] = Set(others.prefix(seeing) + [from])
                    aimed += 1
                }
            case .timeout(let timeout): qc = timeout.highQC
            case .certified(_, let certificate): qc = certificate
            default: return .usual
            }
            guard let seeing = withheld[qc.blockID], !seeing.contains(to) else { return .usual }
            return .delay(timeoutTicks * UInt64(2 + random.below(3)))
        case .acrossRoundChange:
            switch message {
            case .vote(let vote) where random.chance(0.35):
                aimed += 1
                return .hold(round: vote.round, untilTimedOut: false)
            case .timeout(let timeout) where random.chance(0.25):
                aimed += 1
                return .hold(round: timeout.round, untilTimedOut: false)
            case .proposal(let block) where random.chance(0.3):
                aimed += 1
                return .hold(round: block.round, untilTimedOut: true)
            default: return .usual
            }
        case .olderCertificateAfterTimeout:
            // The round before the Byzantine's turn fails: its proposal arrives after the timeouts.
            // Decided once per block, so that no replica votes in that round.
            guard case .proposal(let block) = message, byzantineLeadsAfter(block) else { return .usual }
            if decided.insert(block.id).inserted, random.chance(0.8) {
                withheld[block.id] = []
                aimed += 1
            }
            return withheld[block.id] == nil ? .usual : .delay(timeoutTicks * 3)
        case .equivocation, .crashAfterVote:
            return .usual
        }
    }

    /// A TC for `round` from the timeouts the Byzantine received, with its own entry reporting `lowRound` (it may sign
    /// any high-QC round it likes), preferring the lowest-reporting honest entries; nil without enough of them.
    func timeoutCertificate(
        round: UInt64, epoch: UInt64, quorum: Int, byzantine: ReplicaID, lowRound: UInt64, rootID: [UInt8], signer: any ConsensusSigner
    ) -> TimeoutCertificate? {
        let received = (timeouts[SafetyObserver.Key(epoch: epoch, round: round)] ?? [:]).filter { $0.key != byzantine }
        guard received.count >= quorum - 1 else { return nil }
        let lowest = received.keys.sorted { (received[$0]!.highQCRound, $0) < (received[$1]!.highQCRound, $1) }.prefix(quorum - 1)
        var entries = lowest.map { TimeoutCertificate.Entry(replica: $0, highQCRound: received[$0]!.highQCRound, signature: received[$0]!.signature) }
        entries.append(
            .init(
                replica: byzantine, highQCRound: lowRound,
                signature: signer.sign(TimeoutCertificate.timeoutMessage(root: rootID, round: round, highQCRound: lowRound))))
        return TimeoutCertificate(round: round, entries: entries.sorted { $0.replica < $1.replica })
    }
}

extension ConsensusBlock {
    /// A conflicting block for the same round (same parent and certificates, other payload).
    func twin(_ marker: String, hash: @escaping @Sendable ([UInt8]) -> [UInt8]) -> ConsensusBlock {
        ConsensusBlock(
            chainID: chainID, round: round, justify: justify, timeout: timeout, proposer: proposer, timestampMs: timestampMs,
            payload: payload + [Array(marker.utf8)], hash: hash)
    }
}

extension SplitMix64 {
    /// Fisher–Yates with this generator (the standard library's shuffle may change between toolchains; a seed must not).
    mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for index in stride(from: items.count - 1, to: 0, by: -1) { items.swapAt(index, below(index + 1)) }
    }
}
