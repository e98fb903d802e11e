import GatewayChain
import GatewayCrypto

/// Runs N real replicas in one process under a seeded scheduler: message drop, delay, reorder, duplication,
/// partitions, crash and restart (losing everything not persisted), clock skew, and optionally one Byzantine replica
/// (equivocation, forged and replayed messages, invalid blocks). Then heals the network and requires progress.
///
/// Governance runs too (unless `reconfigure` is off): the seed may schedule a spare node's admission as a validator
/// and then an honest validator's removal, submitted as real `proposal`/`approval` transactions and applied by the
/// real `GovernanceState` on every node. A node ends its epoch at the block that changes the set and starts a replica
/// for the new one; a node left behind in an old epoch is sent the evidence that ended it.
package struct Simulation {
    package let seed: UInt64
    /// Validators in the genesis.
    package let replicas: Int
    /// Ticks of the chaotic phase; then `aimedTicks` in which only the aimed strategy disturbs the network (a chain that
    /// makes progress is what its attacks need); the healed phase that follows lasts `healTicks`.
    package let ticks: UInt64
    package var aimedTicks: UInt64
    package let healTicks: UInt64
    package let byzantine: Bool
    /// Nodes that never run (to show that more than f faults stop progress without forking).
    package let offline: Set<Int>
    /// A validator that dies for good at a tick of the run (after taking part: proposing, voting), or nil.
    package var death: (node: Int, tick: UInt64)? = nil
    /// The tick at which the report's `heightAtMark` is taken (the highest committed height then), or nil.
    package var markTick: UInt64? = nil
    /// Whether the seed may schedule validator-set changes (with one spare node that can join).
    package let reconfigure: Bool
    /// Liveness: after healing, every honest replica commits this many blocks beyond the highest height at heal.
    package static let progressAfterHeal: UInt64 = 3

    package let mutation: Mutation?
    /// A bug planted in every simulated replica (mutation testing of the replica), or nil.
    package var plantedBug: PlantedBug? = nil
    /// The aimed Byzantine strategy of the run (by default drawn from the seed: `AdversaryStrategy.forSeed`).
    package var strategy: AdversaryStrategy
    /// Whether the observer checks the voting rules too, or only what a broken rule leads to (see `SafetyObserver`).
    package var ruleChecks = true

    package func run() -> SimulationReport {
        var random = SeededGenerator(simulationSeed: seed)
        let faults = FaultProfile(&random, byzantine: byzantine)
        let suite = InternationalSuite()
        let hash: @Sendable ([UInt8]) -> [UInt8] = { suite.hash($0) }
        let nodes = replicas + (reconfigure ? 1 : 0)
        let secrets = (0..<nodes).map { i in suite.hash(Array("sim-secret-\(seed)-\(i)".utf8)) }
        let byzantineID: Int? = byzantine ? replicas - 1 : nil
        func name(_ node: Int) -> String { "node-\(node)" }
        func member(_ node: Int) -> Genesis.Member {
            Genesis.Member(nodeID: name(node), department: "department-\(node)", role: .validator, publicKey: "simulated", address: "simulated")
        }
        let genesis = Genesis(chainID: "simulation", suite: .intl, members: (0..<replicas).map(member), createdAtMs: 0)
        let nodeNamed = Dictionary(uniqueKeysWithValues: (0..<nodes).map { (name($0), $0) })
        var configuration = Replica.Configuration(replicas: replicas)
        configuration.roundTimeoutTicks = 30
        // Forward sync early, so that the runs exercise it (nodes use 32).
        configuration.syncGap = 8
        configuration.plantedBug = plantedBug
        var observer = SafetyObserver()
        observer.ruleChecks = ruleChecks
        var adversary = Adversary(strategy: strategy, seed: seed)

        // The governance plan, from its own stream of the seed: nothing, the spare joins, or it joins and node 1 leaves.
        var planner = SeededGenerator(simulationSeed: seed &+ 0x9E37_79B9_7F4A_7C15)
        let plan = mutation == .approvalsIgnored ? 1 + planner.below(2) : planner.below(3)
        var changes: [GovernanceProposal.Change] = []
        if reconfigure, plan >= 1 { changes.append(.addMember(member(replicas))) }
        if reconfigure, plan == 2, replicas >= 4 { changes.append(.removeMember(nodeID: name(1))) }
        // The end of the phases the adversary acts in (chaos and aimed); healing starts the tick after.
        let calm = ticks + aimedTicks
        let governanceStart = UInt64(100 + planner.below(Int(max(1, ticks / 3))))
        var step = 0
        // A long outage, from the same stream: an honest validator goes down early in the healed phase (while the others
        // make progress) for a third of it, so it comes back far behind and must sync forward from their storage.
        // Only where the others keep a quorum of honest validators without it (no Byzantine one, or n ≥ 7, and no
        // validator kept offline by the run: that one already uses the fault the quorum tolerates).
        let outage: (node: Int, from: UInt64, until: UInt64)? =
            (replicas >= 7 || (!byzantine && replicas >= 4)) && offline.isEmpty && death == nil && planner.chance(0.5)
            ? (2, calm + 200, calm + 200 + healTicks / 2) : nil

        func governanceTransaction(_ kind: Transaction.Kind, _ payload: [UInt8], by submitter: String, nonce: UInt64) -> Transaction {
            Transaction(chainID: genesis.chainID, kind: kind, submitter: submitter, nonce: nonce, timestampMs: 0, payload: payload, signature: [])
        }

        /// Applies a committed block's governance transactions (invalid ones are skipped, as the ledger does); true when
        /// they change the validator set, which ends the epoch at this block.
        func applyGovernance(_ block: ConsensusBlock, to governance: inout GovernanceState, mutated: Bool) -> Bool {
            for item in block.payload {
                guard let transaction = try? Transaction(decoding: item), transaction.kind == .proposal || transaction.kind == .approval,
                    (try? governance.apply(transaction, height: block.height)) != nil
                else { continue }
                if mutated, transaction.kind == .proposal, let proposal = try? GovernanceProposal(decoding: transaction.payload) {
                    for validator in governance.validators where validator.nodeID != transaction.submitter {
                        let approval = governanceTransaction(
                            .approval, GovernanceApproval(proposalID: proposal.proposalID).encoded, by: validator.nodeID, nonce: 0)
                        try? governance.apply(approval, height: block.height)
                    }
                }
            }
            return governance.validatorHistory.last!.height == block.height + 1
        }

        var disks = Array(repeating: Disk(), count: nodes)

        /// A node's epoch as it (re)starts or changes epoch: its epoch, validator set and replica derived from what it
        /// persisted, and the governance state that put them in force.
        func makeSetup(_ node: Int) -> (setup: EpochHost<Int>.Setup, governance: GovernanceState) {
            let disk = disks[node]
            var governance = GovernanceState(genesis: genesis)
            var epoch: UInt64 = 0
            var root: ConsensusBlock?
            for block in disk.committed where applyGovernance(block, to: &governance, mutated: mutation == .approvalsIgnored) {
                epoch += 1
                root = block
            }
            let members = governance.validators.compactMap { nodeNamed[$0.nodeID] }
            let others = (0..<nodes).filter { !members.contains($0) }
            var epochConfiguration = configuration
            epochConfiguration.replicas = members.count
            epochConfiguration.epoch = epoch
            let index = members.firstIndex(of: node) ?? members.count + (others.firstIndex(of: node) ?? 0)
            let tip = disk.committed.last?.height ?? 0
            let replica = Replica(
                id: index, configuration: epochConfiguration, signer: SimulatedSigner(replica: index, secrets: members.map { secrets[$0] }),
                hash: hash, rootID: root?.id, rootHeight: root?.height ?? 0, restoring: disk.safety.flatMap { $0.epoch == epoch ? $0.state : nil },
                committed: Array(disk.committed.suffix(configuration.committedKeep)),
                pendingBlocks: disk.pending.filter { $0.epoch == epoch && $0.block.height > tip }.map(\.block)
            )
            observer.enter(epoch: epoch, secrets: members.map { secrets[$0] }, rootID: replica.rootID)
            return (EpochHost<Int>.Setup(epoch: epoch, members: members, others: others, replica: replica), governance)
        }

        /// A node as it (re)starts, with how the epochs it saw ended (from its disk).
        func makeHost(_ node: Int) -> Host {
            let (setup, governance) = makeSetup(node)
            let ends = Dictionary(uniqueKeysWithValues: disks[node].epochEnds.enumerated().map { (UInt64($0.offset), $0.element) })
            return Host(core: EpochHost(me: node, setup: setup, epochEnds: ends), governance: governance)
        }

        var hosts: [Host?] = Array(repeating: nil, count: nodes)
        let skews = (0..<nodes).map { _ in UInt64(random.below(faults.clockSkewMaxTicks + 1)) }
        var queue = MessageQueue()
        var sequence = 0
        var delivered = 0
        var dropped = 0
        var crashes = 0
        var partitions = 0
        var syncBatches = 0
        var side = Array(repeating: 0, count: nodes)
        var partitionUntil: UInt64 = 0
        var violation: String?
        var replayable: [Envelope] = []
        var heightAtHeal: UInt64 = 0
        var nextItem = 0
        // The checkers' own view: the first block committed at each height, and governance replayed over it.
        var canonical: [ConsensusBlock] = []
        var truth = GovernanceState(genesis: genesis)
        var truthHeight = 0
        var reconfigurations: [String] = []

        func honest(_ node: Int) -> Bool { node != byzantineID }

        func advanceTruth(to height: Int) {
            while truthHeight < min(height, canonical.count) {
                let block = canonical[truthHeight]
                truthHeight += 1
                if applyGovernance(block, to: &truth, mutated: false) {
                    reconfigurations.append("from height \(block.height + 1): " + truth.validators.map(\.nodeID).joined(separator: ", "))
                }
            }
        }

        /// Safety checkers for one honest commit: no fork; the validator set the node used is the one governance put in
        /// force at that height; the certificate carries a quorum of that set's valid signatures for the right epoch.
        func check(_ block: ConsensusBlock, certificate: QuorumCertificate, by node: Int, members: [Int]) {
            let height = Int(block.height)
            if height <= canonical.count {
                if canonical[height - 1].id != block.id { violation = "safety: replica \(node) committed a different block at height \(height)" }
            } else if height == canonical.count + 1 {
                canonical.append(block)
            } else {
                violation = "safety: replica \(node) committed height \(height) above the highest known height \(canonical.count)"
            }
            guard violation == nil else { return }
            advanceTruth(to: height - 1)
            let inForce = truth.validators(atHeight: block.height)
            let used = members.map(name)
            if used != inForce {
                violation =
                    "safety: replica \(node) committed height \(height) under validators [\(used.joined(separator: ", "))] but governance puts [\(inForce.joined(separator: ", "))] in force"
                return
            }
            let message = QuorumCertificate.voteMessage(
                epoch: truth.epoch(atHeight: block.height), blockID: certificate.blockID, round: certificate.round, height: certificate.height)
            let verifier = SimulatedSigner(replica: 0, secrets: inForce.map { secrets[nodeNamed[$0]!] })
            var signers = Set<ReplicaID>()
            for signed in certificate.signatures where verifier.verify(signed.signature, by: signed.replica, for: message) {
                signers.insert(signed.replica)
            }
            if certificate.blockID != block.id || signers.count < inForce.count - (inForce.count - 1) / 3 {
                violation = "safety: block at height \(height) committed by replica \(node) without a valid certificate"
            }
        }

        func send(_ message: ConsensusMessage, epoch: UInt64, from: Int, to: Int, at now: UInt64, chaos: Bool) {
            if chaos && random.chance(faults.dropRate) {
                dropped += 1
                return
            }
            if now <= calm, byzantineID != nil, from != to {
                switch adversary.timing(
                    of: message, from: from, to: to, nodes: nodes, timeoutTicks: configuration.roundTimeoutTicks,
                    byzantineLeadsAfter: { block in byzantineLeads(block.round + 1, after: block.justify.blockID, epoch: epoch) })
                {
                case .usual:
                    break
                case .delay(let ticks):
                    sequence += 1
                    queue.push(Envelope(at: now + ticks, sequence: sequence, from: from, to: to, epoch: epoch, message: message))
                    return
                case .hold(let round, let untilTimedOut):
                    sequence += 1
                    adversary.held.append(
                        (
                            Envelope(at: now, sequence: sequence, from: from, to: to, epoch: epoch, message: message), round, untilTimedOut,
                            now + 4 * configuration.roundTimeoutTicks
                        ))
                    return
                }
            }
            let copies = chaos && random.chance(faults.duplicateRate) ? 2 : 1
            for _ in 0..<copies {
                sequence += 1
                let delay = UInt64(1 + (chaos ? random.below(faults.delayMaxTicks) : random.below(3)))
                queue.push(Envelope(at: now + delay, sequence: sequence, from: from, to: to, epoch: epoch, message: message))
            }
        }

        /// Whether the Byzantine replica leads `round` of `epoch` for a proposal extending `anchorID` (as it computes it):
        /// the round after a failed one is led from the failed block's parent.
        func byzantineLeads(_ round: UInt64, after anchorID: [UInt8], epoch: UInt64) -> Bool {
            guard let byzantineID, let host = hosts[byzantineID], host.epoch == epoch, host.replica.isMember else { return false }
            return host.replica.leaderOf(round, after: anchorID) == host.replica.id
        }

        /// The aimed strategies' version of the Byzantine replica's proposal (nil: the strategy leaves it to the random lies).
        func aimedProposal(_ block: ConsensusBlock, of node: Int, at now: UInt64) -> [ConsensusEffect]? {
            guard let host = hosts[node], now <= calm else { return nil }
            let id = host.replica.id
            let honestReplicas = (0..<host.members.count).filter { $0 != id }
            switch strategy {
            case .equivocation:
                // Chosen halves: a random split of the honest replicas, one block each; the Byzantine votes for both; each
                // part is later shown the other part's block.
                var order = honestReplicas
                adversary.random.shuffle(&order)
                let cut = 1 + adversary.random.below(max(1, order.count - 1))
                let twin = block.twin("equivocation-\(now)", hash: hash)
                var out: [ConsensusEffect] = []
                for (position, to) in order.enumerated() { out.append(.send(to: to, .proposal(position < cut ? block : twin))) }
                let signature = host.replica.signing.sign(
                    QuorumCertificate.voteMessage(epoch: host.epoch, blockID: twin.id, round: twin.round, height: twin.height))
                out.append(.broadcast(.vote(Vote(blockID: twin.id, round: twin.round, height: twin.height, voter: id, signature: signature))))
                let delay = UInt64(1 + adversary.random.below(Int(configuration.roundTimeoutTicks)))
                for (position, to) in order.enumerated() where adversary.random.chance(0.7) {
                    adversary.scheduled.append((now + delay, host.core.node(at: to) ?? to, host.epoch, .proposal(position < cut ? twin : block)))
                }
                adversary.aimed += 1
                return out
            case .olderCertificateAfterTimeout:
                // After a TC: a block on an older QC than the Byzantine's highest, with a TC in which its own timeout reports
                // that old QC's round. The QC is the first below its highest whose block it may extend as leader of this round
                // (the leader rule reads the chain the proposal extends). One below is the aim: the round before was
                // delivered only to its leader, which committed the block the Byzantine's highest QC certifies; the others,
                // not yet, accept a conflicting block at that height.
                guard let tc = block.timeout else { return nil }
                var qc = host.replica.safety.highQC
                var depth = 0
                while let certified = host.replica.block(qc.blockID), certified.justify.round > 0 {
                    qc = certified.justify
                    depth += 1
                    if host.replica.leaderOf(block.round, after: qc.blockID) == id { break }
                }
                guard depth >= 1, qc.round < host.replica.safety.highQC.round, host.replica.leaderOf(block.round, after: qc.blockID) == id,
                    let lowTC = adversary.timeoutCertificate(
                        round: tc.round, epoch: host.epoch, quorum: host.replica.configuration.quorum, byzantine: id, lowRound: qc.round,
                        rootID: host.replica.rootID, signer: host.replica.signing)
                else { return nil }
                let older = ConsensusBlock(
                    chainID: block.chainID, round: block.round, justify: qc, timeout: lowTC, proposer: id, timestampMs: block.timestampMs,
                    payload: [Array("older-certificate-\(now)".utf8)], hash: hash)
                adversary.aimed += 1
                // Its own vote goes to every replica: whichever leads next counts it.
                let signature = host.replica.signing.sign(
                    QuorumCertificate.voteMessage(epoch: host.epoch, blockID: older.id, round: older.round, height: older.height))
                let vote = Vote(blockID: older.id, round: older.round, height: older.height, voter: id, signature: signature)
                return honestReplicas.map { .send(to: $0, .proposal(older)) } + [.broadcast(.vote(vote))]
            case .withheldCertificate, .acrossRoundChange, .crashAfterVote:
                return nil
            }
        }

        /// The Byzantine replica's behaviour: it runs the honest code, then lies about it.
        func misbehave(_ effects: [ConsensusEffect], of node: Int, at now: UInt64) -> [ConsensusEffect] {
            let host = hosts[node]!
            let id = host.replica.id
            let n = host.members.count
            let signer = SimulatedSigner(replica: id, secrets: host.members.map { secrets[$0] })
            // In the aimed phase only the aimed strategy lies (random lies would cost the Byzantine its turns as leader).
            let lying = now <= ticks || now > calm
            var out: [ConsensusEffect] = []
            for effect in effects {
                if case .broadcast(.proposal(let block)) = effect {
                    adversary.proposals[SafetyObserver.Key(epoch: host.epoch, round: block.round)] = block
                    if let aimed = aimedProposal(block, of: node, at: now) {
                        out += aimed
                        continue
                    }
                }
                switch effect {
                case .broadcast(.proposal(let block)) where lying && random.chance(0.7):
                    // Equivocation: a conflicting block for the same round to half of the replicas.
                    let twin = ConsensusBlock(
                        chainID: block.chainID, round: block.round, justify: block.justify, timeout: block.timeout, proposer: id,
                        timestampMs: block.timestampMs, payload: block.payload + [Array("equivocation-\(now)".utf8)], hash: hash)
                    for to in 0..<n where to != id { out.append(.send(to: to, .proposal(to % 2 == 0 ? block : twin))) }
                case .send(let to, .vote(let vote)) where lying && random.chance(0.5):
                    // Votes for a block that does not exist, and a vote forged in another replica's name.
                    let bogus = hash(Array("bogus-\(now)".utf8))
                    out.append(
                        .send(
                            to: to,
                            .vote(
                                Vote(
                                    blockID: bogus, round: vote.round, height: vote.height, voter: id,
                                    signature: signer.sign(
                                        QuorumCertificate.voteMessage(epoch: host.epoch, blockID: bogus, round: vote.round, height: vote.height))))))
                    out.append(
                        .send(
                            to: to,
                            .vote(
                                Vote(
                                    blockID: vote.blockID, round: vote.round, height: vote.height, voter: (id + 1) % n,
                                    signature: Array(repeating: 0xAB, count: 16)))))
                    out.append(effect)
                default:
                    out.append(effect)
                }
            }
            if lying, random.chance(0.05), !replayable.isEmpty {
                // Replay an old message to someone else, and an invalid block with a forged certificate.
                let old = replayable[random.below(replayable.count)]
                out.append(.send(to: random.below(n), old.message))
                let fake = QuorumCertificate(
                    blockID: hash(Array("fake-\(now)".utf8)), round: UInt64(now), height: 99,
                    signatures: (0..<host.replica.configuration.quorum).map { .init(replica: $0, signature: [1, 2, 3]) })
                out.append(
                    .broadcast(
                        .proposal(
                            ConsensusBlock(
                                chainID: configuration.chainID, round: UInt64(now) + 1, justify: fake, timeout: nil,
                                proposer: id, timestampMs: Int64(now), payload: [], hash: hash))))
            }
            if lying, adversary.random.chance(0.03) {
                // A certificate that counts one signer many times: its own block certified by its own signature, repeated
                // to a quorum, and a block on it.
                let high = host.replica.safety.highQC
                let own = ConsensusBlock(
                    chainID: configuration.chainID, round: high.round + 1, justify: high, timeout: nil, proposer: id, timestampMs: Int64(now),
                    payload: [Array("self-certified-\(now)".utf8)], hash: hash)
                let signature = signer.sign(QuorumCertificate.voteMessage(epoch: host.epoch, blockID: own.id, round: own.round, height: own.height))
                let repeated = QuorumCertificate(
                    blockID: own.id, round: own.round, height: own.height,
                    signatures: Array(repeating: .init(replica: id, signature: signature), count: host.replica.configuration.quorum))
                out.append(.broadcast(.blocks([own])))
                out.append(
                    .broadcast(
                        .proposal(
                            ConsensusBlock(
                                chainID: configuration.chainID, round: own.round + 1, justify: repeated, timeout: nil, proposer: id,
                                timestampMs: Int64(now), payload: [], hash: hash))))
            }
            return out
        }

        /// Performs a replica's effects as a node does (EpochHost): the batch's writes first, then its commits and
        /// messages in order. A commit that changes the validator set ends the epoch: the rest of the old replica's
        /// steps (commits above the boundary included) are dropped and the next epoch's replica starts.
        func perform(_ produced: [ConsensusEffect], of node: Int, at now: UInt64, chaos: Bool) {
            guard var host = hosts[node] else { return }
            let effects = honest(node) ? produced : misbehave(produced, of: node, at: now)
            let replica = host.replica
            observer.observe(
                effects, of: node, replica: replica.id, epoch: host.epoch, honest: honest(node),
                holds: { id, height in replica.block(id) != nil || height <= replica.committedHeight })
            let (blocks, safety) = EpochHost<Int>.writes(effects)
            if let safety { disks[node].safety = (host.epoch, safety) }
            for block in blocks { disks[node].pending.append((host.epoch, block)) }
            if disks[node].pending.count > 4_096 { disks[node].pending.removeFirst(disks[node].pending.count - 4_096) }
            let steps = host.core.steps(effects)
            // The direct commit of each batch is its last block (the parent of the evidence's certified child); the
            // blocks before it are its ancestors, committed with it.
            func evidenceOf(_ step: EpochHost<Int>.Step?) -> CommitEvidence? {
                if case .commit(_, _, let evidence, _)? = step { evidence } else { nil }
            }
            for (position, step) in steps.enumerated() {
                switch step {
                case .commit(let block, var certificate, let evidence, let beyond):
                    disks[node].committed.append(block)
                    disks[node].certificates.append(certificate)
                    disks[node].evidences.append(evidence)
                    var reported = block
                    if node == 0, block.height >= 2 {
                        switch mutation {
                        case .conflictingCommit? where block.height <= canonical.count:
                            // After another replica committed this height, so the fork check is the one that fires.
                            reported = ConsensusBlock(
                                chainID: block.chainID, round: block.round, justify: block.justify, timeout: block.timeout,
                                proposer: block.proposer, timestampMs: block.timestampMs, payload: [Array("mutant".utf8)], hash: hash)
                        case .uncertifiedCommit?:
                            certificate = QuorumCertificate(
                                blockID: certificate.blockID, round: certificate.round, height: certificate.height,
                                signatures: Array(certificate.signatures.prefix(host.replica.configuration.quorum - 1)))
                        case .conflictingCommit?, .deafAfterHeal?, .approvalsIgnored?, nil:
                            break
                        }
                    }
                    // Report the first violated property only (mutation testing caught a check overwriting the fork report).
                    if honest(node), violation == nil { check(reported, certificate: certificate, by: node, members: host.members) }
                    if honest(node) {
                        let direct = evidenceOf(position + 1 < steps.count ? steps[position + 1] : nil) != evidence
                        observer.committed(block, epoch: host.epoch, direct: direct)
                    }
                    if violation == nil, let found = observer.violation { violation = found }
                    if applyGovernance(block, to: &host.governance, mutated: mutation == .approvalsIgnored) {
                        let end = EpochEnd(evidence: evidence, beyond: beyond)
                        disks[node].epochEnds.append(end)
                        disks[node].boundaries.append(block.height)
                        let (setup, governance) = makeSetup(node)
                        host.governance = governance
                        let started = host.core.endEpoch(end, next: setup, now: now + skews[node])
                        hosts[node] = host
                        perform(started, of: node, at: now, chaos: chaos)
                        return
                    }
                case .send(let message, let targets):
                    for target in targets { send(message, epoch: host.epoch, from: node, to: target, at: now, chaos: chaos) }
                }
            }
            hosts[node] = host
            if violation == nil, let found = observer.violation { violation = found }
            // Crash right after voting for the Byzantine's block; restart at once and be asked to vote for its twin.
            if strategy == .crashAfterVote, now <= calm, honest(node), byzantineID != nil,
                let voted = effects.lazy.compactMap({ effect -> ConsensusBlock? in
                    if case .persistBlock(let block) = effect { block } else { nil }
                }).last,
                let proposal = adversary.proposals[SafetyObserver.Key(epoch: host.epoch, round: voted.round)], proposal.id == voted.id,
                adversary.random.chance(0.9)
            {
                hosts[node] = nil
                crashes += 1
                adversary.aimed += 1
                adversary.restarts.append((now + 1, node))
                // One twin per round (every restarted voter is asked about the same block), and the Byzantine votes for it.
                let twin = voted.twin("after-crash-\(voted.round)", hash: hash)
                adversary.scheduled.append((now + 2, node, host.epoch, .proposal(twin)))
                if let byzantine = byzantineID.flatMap({ hosts[$0] }), byzantine.epoch == host.epoch {
                    let signature = byzantine.replica.signing.sign(
                        QuorumCertificate.voteMessage(epoch: host.epoch, blockID: twin.id, round: twin.round, height: twin.height))
                    let vote = Vote(blockID: twin.id, round: twin.round, height: twin.height, voter: byzantine.replica.id, signature: signature)
                    for target in 0..<nodes where target != byzantineID { adversary.scheduled.append((now + 3, target, host.epoch, .vote(vote))) }
                }
            }
        }

        /// Delivers one message through the node's EpochHost: what crosses epochs, what the replica sees, what is
        /// served from "storage" (forward sync, fetches of blocks no longer in memory), as a node does from PostgreSQL.
        func deliver(_ envelope: Envelope, at now: UInt64, chaos: Bool) {
            guard var host = hosts[envelope.to] else { return }
            if envelope.to == byzantineID, case .timeout(let timeout) = envelope.message, timeout.voter != host.replica.id {
                adversary.timeouts[SafetyObserver.Key(epoch: envelope.epoch, round: timeout.round), default: [:]][timeout.voter] =
                    (timeout.highQC.round, timeout.signature)
            }
            let routed = host.core.receive(envelope.message, from: envelope.from, epoch: envelope.epoch, now: now + skews[envelope.to])
            hosts[envelope.to] = host
            for reply in routed.replies {
                send(reply.message, epoch: reply.epoch, from: envelope.to, to: envelope.from, at: now, chaos: chaos)
            }
            if let height = routed.syncFrom {
                // Committed blocks from that height, never past the end of the requester's epoch.
                let disk = disks[envelope.to]
                guard height >= 1, Int(height) <= disk.committed.count else { return }
                let range = Int(height - 1)..<min(disk.committed.count, Int(height - 1) + 17)
                let stored = range.map { (block: disk.committed[$0], certificate: disk.certificates[$0], evidence: Optional(disk.evidences[$0])) }
                let boundary = Int(envelope.epoch) < disk.boundaries.count ? disk.boundaries[Int(envelope.epoch)] : nil
                if let batch = SyncBatch.serve(stored, boundary: boundary) {
                    syncBatches += 1
                    send(.syncBlocks(batch), epoch: envelope.epoch, from: envelope.to, to: envelope.from, at: now, chaos: chaos)
                }
            }
            perform(routed.effects, of: envelope.to, at: now, chaos: chaos)
            if let id = routed.fetchFromStorage, let position = disks[envelope.to].committed.lastIndex(where: { $0.id == id }) {
                let stored = disks[envelope.to].committed[max(0, position - 15)...position].reversed()
                send(.blocks(Array(stored)), epoch: host.epoch, from: envelope.to, to: envelope.from, at: now, chaos: chaos)
            }
        }

        // Cut chain tails, from their own stream of the seed (so the other faults stay as they were): a restarting
        // replica's stored chain loses up to 8 of its newest blocks while its persisted safety state (high QC, last
        // voted round) still certifies them, as when a database is restored from an older backup. With peers, it must
        // fetch what it lacks and the checkers must see no fork. Never below the block that ended its last epoch (the
        // node reads its epoch from that), never for a solo validator (it refuses to start: ChainService).
        var tailCutter = SeededGenerator(simulationSeed: seed &+ 0x7A11_C075)
        var tailCuts = 0
        func start(_ node: Int, at now: UInt64, chaos: Bool) {
            if now > 0, replicas > 1, tailCutter.chance(0.3) {
                let floor = Int(disks[node].boundaries.last ?? 0)
                let cut = min(1 + tailCutter.below(8), disks[node].committed.count - floor)
                if cut > 0 {
                    disks[node].committed.removeLast(cut)
                    disks[node].certificates.removeLast(cut)
                    disks[node].evidences.removeLast(cut)
                    tailCuts += 1
                }
            }
            var host = makeHost(node)
            let effects = host.core.start(now: now + skews[node])
            hosts[node] = host
            perform(effects, of: node, at: now, chaos: chaos)
        }

        /// Submits the next governance step's transactions (again, until the chain shows it in force): the proposal by
        /// the first honest validator; once the chain holds it, approvals by the other honest ones (operators approve
        /// what they can see on chain, so approvals come in later blocks than the proposal).
        func driveGovernance() {
            advanceTruth(to: canonical.count)
            while step < changes.count {
                let inForce: Bool
                switch changes[step] {
                case .addMember(let member): inForce = truth.members.contains { $0.nodeID == member.nodeID }
                case .removeMember(let nodeID): inForce = !truth.members.contains { $0.nodeID == nodeID }
                case .approvePolicyBundle, .setDepartmentKey: inForce = true
                }
                guard inForce else { break }
                step += 1
            }
            guard step < changes.count else { return }
            let voters = truth.validators.map(\.nodeID).filter { honest(nodeNamed[$0]!) }
            guard let proposer = voters.first else { return }
            let proposalID = "change-\(step)"
            let items: [Transaction]
            if let pending = truth.pendingProposals.first(where: { $0.proposal.proposalID == proposalID }) {
                items = voters.filter { !pending.approvals.contains($0) }.map {
                    governanceTransaction(.approval, GovernanceApproval(proposalID: proposalID).encoded, by: $0, nonce: UInt64(step))
                }
            } else {
                items = [
                    governanceTransaction(
                        .proposal, GovernanceProposal(proposalID: proposalID, change: changes[step]).encoded, by: proposer, nonce: UInt64(step))
                ]
            }
            for node in 0..<nodes {
                for item in items { _ = hosts[node]?.core.submit([item.encoded]) }
            }
        }

        /// The adversary's held and scheduled messages that are due, and the replicas it crashed that restart now. At
        /// heal everything held is released.
        func releaseAdversary(at now: UInt64, chaos: Bool) {
            var kept: [(envelope: Envelope, round: UInt64, untilTimedOut: Bool, until: UInt64)] = []
            for entry in adversary.held {
                let target = hosts[entry.envelope.to]
                let movedOn =
                    target.map { host in
                        host.epoch != entry.envelope.epoch || host.replica.round > entry.round
                            || (entry.untilTimedOut && observer.timedOut(node: entry.envelope.to, epoch: host.epoch, round: entry.round))
                    } ?? false
                if now > calm || movedOn || now >= entry.until {
                    sequence += 1
                    let e = entry.envelope
                    queue.push(Envelope(at: now, sequence: sequence, from: e.from, to: e.to, epoch: e.epoch, message: e.message))
                } else {
                    kept.append(entry)
                }
            }
            adversary.held = kept
            let due = adversary.scheduled.filter { $0.at <= now }
            adversary.scheduled.removeAll { $0.at <= now }
            for entry in due where byzantineID.map({ hosts[$0] != nil }) ?? false {
                send(entry.message, epoch: entry.epoch, from: byzantineID!, to: entry.to, at: now, chaos: false)
            }
            let restarting = adversary.restarts.filter { $0.at <= now }.map(\.node)
            adversary.restarts.removeAll { $0.at <= now }
            for node in restarting where hosts[node] == nil && !down(node, now) { start(node, at: now, chaos: chaos) }
        }

        /// Kept down by the run: offline from the start, or dead by now.
        func down(_ node: Int, _ now: UInt64) -> Bool { offline.contains(node) || (death.map { $0.node == node && now >= $0.tick } ?? false) }
        var heightAtMark: UInt64 = 0
        for node in 0..<nodes where !offline.contains(node) { start(node, at: 0, chaos: true) }

        let total = calm + healTicks
        var now: UInt64 = 0
        while now < total && violation == nil {
            now += 1
            let chaos = now <= ticks
            if now == ticks + 1 || now == calm + 1 {
                // Calm (the aimed phase), then heal: reconnect everyone and restart crashed replicas from what they persisted.
                partitionUntil = 0
                side = Array(repeating: 0, count: nodes)
                for node in 0..<nodes where hosts[node] == nil && !down(node, now) { start(node, at: now, chaos: false) }
            }
            if now == calm + 1 { heightAtHeal = (0..<nodes).filter(honest).compactMap { hosts[$0]?.replica.committedHeight }.max() ?? 0 }
            if chaos {
                if now >= partitionUntil && side.contains(1) { side = Array(repeating: 0, count: nodes) }
                if random.chance(faults.partitionRate) {
                    partitions += 1
                    side = (0..<nodes).map { _ in random.below(2) }
                    partitionUntil = now + UInt64(50 + random.below(400))
                }
                if random.chance(faults.crashRate) {
                    // Crash a node; it loses everything it had not persisted. Restart a crashed one sometimes.
                    let node = random.below(nodes)
                    if hosts[node] != nil {
                        hosts[node] = nil
                        crashes += 1
                    }
                }
                if random.chance(faults.crashRate * 2), let node = (0..<nodes).first(where: { hosts[$0] == nil && !down($0, now) }) {
                    start(node, at: now, chaos: chaos)
                }
            }
            if let outage, now == outage.from, hosts[outage.node] != nil {
                hosts[outage.node] = nil
                crashes += 1
            }
            if let outage, now == outage.until, hosts[outage.node] == nil, !down(outage.node, now) { start(outage.node, at: now, chaos: false) }
            if let death, now == death.tick, hosts[death.node] != nil {
                hosts[death.node] = nil
                crashes += 1
            }
            if now == markTick { heightAtMark = (0..<nodes).compactMap { hosts[$0]?.replica.committedHeight }.max() ?? 0 }
            // Client load: one new item, offered to every live replica.
            if random.chance(0.3) {
                nextItem += 1
                let item = Array("tx-\(nextItem)".utf8)
                for node in 0..<nodes { _ = hosts[node]?.core.submit([item]) }
            }
            if now >= governanceStart, (now - governanceStart) % 150 == 0 { driveGovernance() }
            releaseAdversary(at: now, chaos: chaos)
            while let envelope = queue.popDue(now) {
                guard hosts[envelope.to] != nil else { dropped += 1; continue }
                if mutation == .deafAfterHeal, envelope.to == 0, !chaos { dropped += 1; continue }
                if side[envelope.from] != side[envelope.to] { dropped += 1; continue }
                delivered += 1
                if replayable.count < 256 { replayable.append(envelope) } else if random.chance(0.01) { replayable[random.below(256)] = envelope }
                deliver(envelope, at: now, chaos: chaos)
            }
            for node in 0..<nodes {
                guard var host = hosts[node] else { continue }
                let effects = host.core.tick(now: now + skews[node])
                hosts[node] = host
                perform(effects, of: node, at: now, chaos: chaos)
                if honest(node), let problem = hosts[node]?.replica.safetyViolation, violation == nil { violation = "safety: \(problem)" }
            }
        }
        let heights = (0..<nodes).map { hosts[$0]?.replica.committedHeight ?? 0 }
        if violation == nil {
            for node in 0..<nodes where honest(node) && !down(node, total) && heights[node] < heightAtHeal + Self.progressAfterHeal {
                violation =
                    "liveness: replica \(node) reached height \(heights[node]) within \(healTicks) ticks of healing; needed \(heightAtHeal + Self.progressAfterHeal)"
                break
            }
        }
        if violation == nil {
            driveGovernance()
            if step < changes.count {
                violation = "liveness: governance change \(step + 1) of \(changes.count) was not in force by the end of the run"
            }
        }
        var report = SimulationReport(
            seed: seed, replicas: nodes, faults: faults, ticks: total, committedHeights: heights, heightAtHeal: heightAtHeal,
            messagesDelivered: delivered, messagesDropped: dropped, crashes: crashes, partitions: partitions, syncBatches: syncBatches,
            reconfigurations: reconfigurations,
            violation: violation,
            replicaStates: (0..<nodes).map { node in
                (hosts[node].map { "node \(node), epoch \($0.epoch): " + $0.replica.stateSummary } ?? "node \(node): crashed")
                    + (honest(node) ? "" : " (byzantine)")
            }
        )
        report.tailCuts = tailCuts
        report.strategy = strategy
        report.aimedActions = adversary.aimed
        report.observerChecks = (observer.votesChecked, observer.certificatesChecked, observer.extensionsChecked)
        report.heightAtMark = heightAtMark
        return report
    }
}
