// Validation of certificates and blocks, and the rounds: proposals, votes, timeouts.
extension Replica {
    // MARK: Validation

    func validQC(_ qc: QuorumCertificate) -> Bool {
        if qc.round == 0 { return qc.height == rootHeight && qc.signatures.isEmpty && qc.blockID == rootID }
        let message = QuorumCertificate.voteMessage(epoch: configuration.epoch, blockID: qc.blockID, round: qc.round, height: qc.height)
        return distinctValid(qc.signatures.map { ($0.replica, $0.signature, message) }, quorum: configuration.quorum)
    }

    func validTC(_ tc: TimeoutCertificate) -> Bool {
        distinctValid(
            tc.entries.map {
                ($0.replica, $0.signature, TimeoutCertificate.timeoutMessage(root: rootID, round: tc.round, highQCRound: $0.highQCRound))
            }, quorum: configuration.timeoutQuorum)
    }

    func distinctValid(_ signatures: [(ReplicaID, [UInt8], [UInt8])], quorum: Int) -> Bool {
        var seen = Set<ReplicaID>()
        for (replica, signature, message) in signatures {
            guard (0..<configuration.replicas).contains(replica),
                seen.insert(replica).inserted || configuration.plantedBug == .duplicateSignersCounted,
                signer.verify(signature, by: replica, for: message)
            else { return false }
        }
        return (configuration.plantedBug == .duplicateSignersCounted ? signatures.count : seen.count) >= quorum
    }

    /// Structure and certificates of a block, and that its id is the hash of its contents.
    func validBlock(_ block: ConsensusBlock) -> Bool {
        // The proposer must lead the round as computed from the block's own parent; a replica that lacks the parent's
        // window cannot tell, and checks the rest (it fetches the parent and can vote at most once per round anyway).
        guard block.chainID == configuration.chainID, block.round > block.justify.round,
            leader(block.round, after: block.justify.blockID).map({ $0 == block.proposer }) ?? (block.proposer < configuration.replicas),
            block.payload.count <= configuration.blockPayloadMax,
            block.id
                == ConsensusBlock(
                    chainID: block.chainID, round: block.round, justify: block.justify, timeout: block.timeout,
                    proposer: block.proposer, timestampMs: block.timestampMs, payload: block.payload, hash: hash
                ).id,
            validQC(block.justify)
        else { return false }
        if let validate = configuration.validatePayloadItem, !block.payload.allSatisfy(validate) { return false }
        if let tc = block.timeout { return tc.round + 1 == block.round && validTC(tc) }
        return true
    }

    // MARK: Rounds

    mutating func enter(round newRound: UInt64, effects: inout [ConsensusEffect]) {
        round = newRound
        votes = votes.filter { $0.value.round + 1 >= newRound }
        timeouts = timeouts.filter { $0.key >= newRound }
        let backoff = min(UInt64(1) << min(failedRounds, 20), configuration.timeoutBackoffMax)
        deadline = now + configuration.roundTimeoutTicks * backoff
        enteredAt = now
        if leadsCurrentRound() { agenda.append(.propose) }
    }

    /// Proposes now if there is payload to order or an uncommitted block with payload that needs its 2-chain;
    /// otherwise only when `heartbeat` says the round has waited long enough. An idle chain does not spin.
    mutating func propose(heartbeat: Bool, effects: inout [ConsensusEffect]) {
        guard proposedRound < round else { return }
        let tc = safety.highQC.round + 1 == round ? nil : highTC.flatMap { $0.round + 1 == round ? $0 : nil }
        // Without a QC or TC for the previous round there is nothing safe to propose yet.
        guard safety.highQC.round + 1 == round || tc != nil else { return }
        var inFlight = Set<PayloadKey>()
        var cursor = blocks[safety.highQC.blockID]
        while let block = cursor, block.height > committedHeight {
            for item in block.payload { inFlight.insert(PayloadKey(item)) }
            cursor = blocks[block.parentID]
        }
        let payload = Array(mempool.lazy.filter { !inFlight.contains(PayloadKey($0)) }.prefix(configuration.blockPayloadMax))
        guard heartbeat || !payload.isEmpty || !inFlight.isEmpty || publishCommit else { return }
        proposedRound = round
        publishCommit = false
        let block = ConsensusBlock(
            chainID: configuration.chainID, round: round, justify: safety.highQC, timeout: tc, proposer: id,
            timestampMs: Int64(clamping: now), payload: payload, hash: hash
        )
        effects.append(.broadcast(.proposal(block)))
        // Our own block is valid by construction (its payload came through our own admission checks).
        insert(block, effects: &effects)
        agenda.append(.ownProposal(block))
    }

    mutating func onProposal(_ block: ConsensusBlock, from sender: ReplicaID, effects: inout [ConsensusEffect]) {
        // A committed block teaches nothing; and it may belong to an earlier epoch, whose certificates must not count
        // here (a replayed old proposal would otherwise slip its justify past validation as a "known" block).
        guard sender == block.proposer, block.height > committedHeight else { return }
        if blocks[block.id] == nil {
            guard validBlock(block) else { return }
            insert(block, effects: &effects)
        }
        process(qc: block.justify, effects: &effects)
        if let tc = block.timeout { process(tc: tc, effects: &effects) }
        vote(for: block, effects: &effects)
    }

    /// Votes for a block of the current round if the safety rules allow it. A block whose parent is not held waits
    /// (the parent was requested when the block was inserted) and is voted for when the parent arrives in time.
    mutating func vote(for block: ConsensusBlock, effects: inout [ConsensusEffect]) {
        guard isMember, block.round == round, firstVote(in: block.round) else { return }
        let extendsPrevious = block.round == block.justify.round + 1
        let extendsAfterTimeout = block.timeout.map { block.round == $0.round + 1 && block.justify.round >= lock(of: $0) } ?? false
        guard extendsPrevious || extendsAfterTimeout else { return }
        // The chain the vote extends must be one this replica holds: only then could it check the proposer leads the
        // round (the leader rule reads the parent's chain) and that the block links to what it will commit.
        guard blocks[block.parentID] != nil || block.height - 1 <= committedHeight || configuration.plantedBug == .voteWithUnknownParent else {
            awaitingParent = block
            return
        }
        awaitingParent = nil
        safety.lastVotedRound = block.round
        effects.append(.persistBlock(block))
        effects.append(.persist(safety))
        let signature = signer.sign(
            QuorumCertificate.voteMessage(epoch: configuration.epoch, blockID: block.id, round: block.round, height: block.height))
        let vote = Vote(blockID: block.id, round: block.round, height: block.height, voter: id, signature: signature)
        let next = leader(block.round + 1, after: block.id) ?? baseLeader(block.round + 1)
        if next == id { agenda.append(.ownVote(vote)) } else { effects.append(.send(to: next, .vote(vote))) }
    }

    /// The proposal waiting for its parent, once the parent has arrived (still in its round).
    mutating func voteOnceParentArrived(effects: inout [ConsensusEffect]) {
        guard let block = awaitingParent else { return }
        guard block.round == round else {
            awaitingParent = nil
            return
        }
        if blocks[block.parentID] != nil { vote(for: block, effects: &effects) }
    }

    /// Whether `round` is above the last round this replica voted or timed out in: at most one vote per round, and none
    /// in a round it gave up on.
    func firstVote(in round: UInt64) -> Bool {
        switch configuration.plantedBug {
        case .revoteInSameRound?: round >= safety.lastVotedRound
        case .noLastVotedRoundCheck?: true
        default: round > safety.lastVotedRound
        }
    }

    /// The round of QC a block proposed after the timeout certificate `tc` must extend: the highest QC any of its
    /// 2f + 1 signers reported (at least one honest replica that knows of a commit is among them).
    func lock(of tc: TimeoutCertificate) -> UInt64 {
        switch configuration.plantedBug {
        case .voteIgnoresTimeoutHighQC?: 0
        case .lockOnLowestTimeoutQC?: tc.entries.map(\.highQCRound).min() ?? 0
        default: tc.maxHighQCRound
        }
    }

    mutating func onVote(_ vote: Vote, from sender: ReplicaID, effects: inout [ConsensusEffect]) {
        // Votes go to the next leader; whoever receives a quorum of valid votes forms a valid QC, so the leader is not
        // re-checked here (a vote may arrive before the block it names, when the leader cannot be computed yet).
        // Our own vote (from the agenda) was signed here a moment ago: it is not verified again.
        guard sender == vote.voter, vote.round + 1 >= round,
            sender == id
                || signer.verify(
                    vote.signature, by: vote.voter,
                    for: QuorumCertificate.voteMessage(epoch: configuration.epoch, blockID: vote.blockID, round: vote.round, height: vote.height))
        else { return }
        var collected = votes[vote.blockID]?.signatures ?? [:]
        guard collected[vote.voter] == nil else { return }
        collected[vote.voter] = vote.signature
        votes[vote.blockID] = (vote.round, collected)
        guard collected.count == configuration.quorum else { return }
        let qc = QuorumCertificate(
            blockID: vote.blockID, round: vote.round, height: vote.height,
            signatures: collected.keys.sorted().map { QuorumCertificate.Signed(replica: $0, signature: collected[$0]!) }
        )
        votes[vote.blockID] = nil
        process(qc: qc, effects: &effects)
    }

    mutating func onTimeout(_ timeout: TimeoutVote, from sender: ReplicaID, effects: inout [ConsensusEffect]) {
        guard sender == timeout.voter else { return }
        if let tc = timeout.highTC, tc.round >= round, validTC(tc) { process(tc: tc, effects: &effects) }
        if timeout.round < round {
            // The sender is behind: send it our latest timeout, whose TC and high QC let it catch up. Once per round.
            if let mine = lastTimeout, mine.round > timeout.round, (answeredRound[sender] ?? 0) < timeout.round {
                answeredRound[sender] = timeout.round
                effects.append(.send(to: sender, .timeout(mine)))
            }
            if timeout.highQC.round >= round, validQC(timeout.highQC) { process(qc: timeout.highQC, effects: &effects) }
            return
        }
        guard
            signer.verify(
                timeout.signature, by: timeout.voter,
                for: TimeoutCertificate.timeoutMessage(root: rootID, round: timeout.round, highQCRound: timeout.highQC.round)),
            validQC(timeout.highQC)
        else { return }
        process(qc: timeout.highQC, effects: &effects)
        peerTimeoutRound[timeout.voter] = max(peerTimeoutRound[timeout.voter] ?? 0, timeout.round)
        // f + 1 peers timed out in rounds ≥ r (r the (f+1)-th highest): an honest one is at r or beyond, so join r.
        let reported = peerTimeoutRound.values.sorted(by: >)
        if isMember, reported.count > configuration.faults, reported[configuration.faults] > round {
            enter(round: reported[configuration.faults], effects: &effects)
            localTimeout(effects: &effects)
        }
        guard timeout.round >= round else { return }
        var collected = timeouts[timeout.round] ?? [:]
        guard collected[timeout.voter] == nil else { return }
        collected[timeout.voter] = (timeout.highQC.round, timeout.signature)
        timeouts[timeout.round] = collected
        // f + 1 replicas gave up on round r ≥ ours: at least one honest did, so move to r and give up on it too.
        // This re-synchronises replicas left in different rounds by partitions and restarts.
        if isMember, collected.count > configuration.faults, timedOutRound < timeout.round {
            if timeout.round > round { enter(round: timeout.round, effects: &effects) }
            localTimeout(effects: &effects)
            collected = timeouts[timeout.round] ?? collected
        }
        if collected.count >= configuration.timeoutQuorum {
            let tc = TimeoutCertificate(
                round: timeout.round,
                entries: collected.keys.sorted().map {
                    .init(replica: $0, highQCRound: collected[$0]!.highQCRound, signature: collected[$0]!.signature)
                }
            )
            process(tc: tc, effects: &effects)
        }
    }

    mutating func localTimeout(effects: inout [ConsensusEffect]) {
        failedRounds += 1
        timedOutRound = round
        safety.lastVotedRound = max(safety.lastVotedRound, round)
        effects.append(.persist(safety))
        let signature = signer.sign(TimeoutCertificate.timeoutMessage(root: rootID, round: round, highQCRound: safety.highQC.round))
        let timeout = TimeoutVote(round: round, highQC: safety.highQC, highTC: highTC, voter: id, signature: signature)
        lastTimeout = timeout
        effects.append(.broadcast(.timeout(timeout)))
        let backoff = min(UInt64(1) << min(failedRounds, 20), configuration.timeoutBackoffMax)
        deadline = now + configuration.roundTimeoutTicks * backoff
        var own = timeouts[round] ?? [:]
        if own[id] == nil {
            own[id] = (safety.highQC.round, signature)
            timeouts[round] = own
            if own.count >= configuration.timeoutQuorum {
                let tc = TimeoutCertificate(
                    round: round,
                    entries: own.keys.sorted().map { .init(replica: $0, highQCRound: own[$0]!.highQCRound, signature: own[$0]!.signature) }
                )
                process(tc: tc, effects: &effects)
            }
        }
    }

    mutating func process(qc: QuorumCertificate, effects: inout [ConsensusEffect]) {
        if qc.round > safety.highQC.round || (configuration.plantedBug == .highQCRegresses && qc.round != safety.highQC.round) {
            safety.highQC = qc
            effects.append(.persist(safety))
        }
        tryCommit(qc, effects: &effects)
        if qc.round >= round {
            failedRounds = 0
            enter(round: qc.round + 1, effects: &effects)
        }
    }

    mutating func process(tc: TimeoutCertificate, effects: inout [ConsensusEffect]) {
        if tc.round > (highTC?.round ?? 0) { highTC = tc }
        if tc.round >= round { enter(round: tc.round + 1, effects: &effects) }
    }
}
