// Blocks and commits: inserting and fetching blocks, the 2-chain commit rule, forward sync.
extension Replica {
    // MARK: Blocks and commits

    mutating func insert(_ block: ConsensusBlock, effects: inout [ConsensusEffect]) {
        guard block.height > committedHeight else { return }
        blocks[block.id] = block
        requested[block.id] = nil
        if blocks[block.parentID] == nil, block.height - 1 > committedHeight { request(block.parentID, effects: &effects) }
        if blocks.count > configuration.pendingBlocksMax + committed.count {
            // Bounded memory: drop the lowest uncommitted blocks; they can be fetched again.
            let committedIDs = Set(committed.suffix(1).map(\.id))
            let oldest = blocks.values.filter { !committedIDs.contains($0.id) && $0.height > 0 }.sorted {
                ($0.height, $0.round) != ($1.height, $1.round)
                    ? ($0.height, $0.round) < ($1.height, $1.round) : $0.id.lexicographicallyPrecedes($1.id)
            }
            for stale in oldest.prefix(blocks.count - configuration.pendingBlocksMax - committed.count) { blocks[stale.id] = nil }
            leaderMemo = nil
        }
    }

    mutating func request(_ blockID: [UInt8], effects: inout [ConsensusEffect]) {
        guard requested[blockID] == nil else { return }
        requested[blockID] = now
        effects.append(.broadcast(.fetch(blockID)))
    }

    /// 2-chain rule: a QC on B whose parent P is exactly one round earlier commits P.
    mutating func tryCommit(_ qc: QuorumCertificate, effects: inout [ConsensusEffect]) {
        guard let certified = blocks[qc.blockID] else {
            if qc.height > committedHeight + 1 {
                pendingCommit = pendingCommit.map { $0.round > qc.round ? $0 : qc } ?? qc; request(qc.blockID, effects: &effects)
            }
            return
        }
        if configuration.plantedBug == .oneChainCommit, certified.height > committedHeight, blocks[certified.parentID] != nil {
            var chain: [ConsensusBlock] = []
            var cursor: ConsensusBlock? = certified
            while let block = cursor, block.height > committedHeight {
                chain.append(block)
                cursor = blocks[block.parentID]
            }
            guard cursor?.id == committed.last!.id else { return }
            commit(chain.reversed(), lastCertificate: qc, evidence: CommitEvidence(child: certified, childQC: qc), effects: &effects)
            return
        }
        guard let parent = blocks[certified.parentID] else {
            // Keep the QC until the parent arrives (it may be the only one that commits it, e.g. an epoch's last).
            if certified.height - 1 > committedHeight {
                pendingCommit = pendingCommit.map { $0.round > qc.round ? $0 : qc } ?? qc
                request(certified.parentID, effects: &effects)
            }
            return
        }
        guard parent.round + 1 == certified.round || configuration.plantedBug == .commitWithoutConsecutiveRounds, parent.height > committedHeight
        else { return }
        // Collect P and its uncommitted ancestors; all must be present.
        var chain: [ConsensusBlock] = []
        var cursor: ConsensusBlock? = parent
        while let block = cursor, block.height > committedHeight {
            chain.append(block)
            cursor = blocks[block.parentID]
            if cursor == nil {
                pendingCommit = qc
                request(block.parentID, effects: &effects)
                return
            }
        }
        guard cursor?.id == committed.last!.id else {
            safetyViolation = "replica \(id): the chain certified at round \(qc.round) does not extend its committed height \(committedHeight)"
            return
        }
        // Certificates for the committed blocks: each block's child in the chain carries its QC; the top one is `qc`'s justify.
        let ordered = Array(chain.reversed())
        let evidence = CommitEvidence(child: certified, childQC: qc)
        lastCommitEvidence = evidence
        commit(ordered, lastCertificate: certified.justify, evidence: evidence, effects: &effects)
        pendingCommit = nil
        if publishesCommits, (leader(qc.round + 1, after: qc.blockID) ?? baseLeader(qc.round + 1)) == id,
            ordered.contains(where: { !$0.payload.isEmpty })
        {
            publishCommit = true
        }
    }

    /// Appends `chain` (consecutive blocks extending the committed tip) to what is committed and emits their commits:
    /// each block's certificate is its successor's justify, the last one's `lastCertificate`. Then drops what can never
    /// matter again: blocks at or below the committed height that are not on the chain.
    mutating func commit(_ chain: [ConsensusBlock], lastCertificate: QuorumCertificate, evidence: CommitEvidence, effects: inout [ConsensusEffect]) {
        for (index, block) in chain.enumerated() {
            let certificate = index + 1 < chain.count ? chain[index + 1].justify : lastCertificate
            committed.append(block)
            blocks[block.id] = block
            if committed.count > configuration.committedKeep + 64 { committed.removeFirst(committed.count - configuration.committedKeep) }
            for item in block.payload {
                let key = PayloadKey(item)
                mempoolSet.remove(key)
                if recentlyCommitted.insert(key).inserted { recentlyCommittedOrder.append(key) }
            }
            effects.append(.commit(block, certificate: certificate, evidence: evidence))
        }
        mempool.removeAll { !mempoolSet.contains(PayloadKey($0)) }
        if recentlyCommittedOrder.count > configuration.mempoolMax + 1_024 {
            let forgotten = recentlyCommittedOrder.count - configuration.mempoolMax
            for key in recentlyCommittedOrder.prefix(forgotten) { recentlyCommitted.remove(key) }
            recentlyCommittedOrder.removeFirst(forgotten)
        }
        let height = committedHeight
        let committed = committed
        blocks.removeAll { $0.height <= height && !Self.holds($0, committed: committed) }
        leaderMemo = nil
    }

    /// Whether `block` is one of `committed` (the replica's). Those are consecutive heights, so the block at
    /// `block.height` is looked up by position — no set of the up to `committedKeep` ids built per commit (with the
    /// table rebuilt, that was the replica's largest cost under load after its signatures).
    package static func holds(_ block: ConsensusBlock, committed: [ConsensusBlock]) -> Bool {
        let first = committed[0].height
        guard committed[committed.count - 1].height - first + 1 == UInt64(committed.count) else {
            return committed.contains { $0.id == block.id }
        }
        guard block.height >= first, block.height - first < UInt64(committed.count) else { return false }
        return committed[Int(block.height - first)].id == block.id
    }

    mutating func requestSync(from peer: ReplicaID, effects: inout [ConsensusEffect]) {
        if let last = syncRequestedAt, now < last + configuration.roundTimeoutTicks { return }
        syncRequestedAt = now
        effects.append(.send(to: peer, .syncRequest(committedHeight + 1)))
    }

    /// Forward sync: commits consecutive blocks from our tip if every block is valid and links to the previous, the
    /// QC on the last one is valid, and its certified child (header only) follows it in the next round (2-chain rule).
    /// Blocks of another epoch do not validate here, so a batch never carries a replica past its epoch's end.
    mutating func adopt(_ batch: SyncBatch, from sender: ReplicaID, effects: inout [ConsensusEffect]) {
        guard let first = batch.blocks.first, let last = batch.blocks.last, batch.blocks.count <= 16 else { return }
        guard first.height <= committedHeight + 1 else {
            // Not contiguous with what we have: ask this peer for what comes next.
            syncRequestedAt = nil
            requestSync(from: sender, effects: &effects)
            return
        }
        let fresh = batch.blocks.filter { $0.height > committedHeight }
        guard let start = fresh.first, start.parentID == committed.last!.id else { return }
        var parent = committed.last!
        for block in fresh {
            guard block.parentID == parent.id, block.height == parent.height + 1, validBlock(block) else { return }
            parent = block
        }
        let childID = hash(batch.child.encoded)
        guard batch.lastQC.blockID == last.id, batch.lastQC.round == last.round, batch.lastQC.height == last.height, validQC(batch.lastQC),
            batch.child.parentHash == last.id, batch.child.round == last.round + 1, batch.child.height == last.height + 1,
            batch.childQC.blockID == childID, batch.childQC.round == batch.child.round, batch.childQC.height == batch.child.height,
            validQC(batch.childQC)
        else { return }
        commit(fresh, lastCertificate: batch.lastQC, evidence: CommitEvidence(childHeader: batch.child, childQC: batch.childQC), effects: &effects)
        if let pending = pendingCommit, pending.height <= committedHeight + 1 { pendingCommit = nil }
        if batch.lastQC.round > safety.highQC.round {
            safety.highQC = batch.lastQC
            effects.append(.persist(safety))
        }
        retryCommit(effects: &effects)
        // More to come: ask again at once.
        syncRequestedAt = nil
        if safety.highQC.height > committedHeight + configuration.syncGap || (pendingCommit?.height ?? 0) > committedHeight + configuration.syncGap {
            requestSync(from: sender, effects: &effects)
        }
    }

    mutating func retryCommit(effects: inout [ConsensusEffect]) {
        if let qc = pendingCommit { tryCommit(qc, effects: &effects) }
    }
}

/// A payload item as a set member, hashed in bulk (the standard `Hasher` walks an `[UInt8]` byte by byte, which
/// dominated the replica's profile under load).
struct PayloadKey: Hashable {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}

/// The blocks a replica holds, by id. Ids are digests: hashed in bulk (`PayloadKey`), not byte by byte — the leader
/// rule walks this table on every tick, and per-byte hashing of ids dominated the replica's profile.
struct BlockTable: Sendable {
    private var storage: [PayloadKey: ConsensusBlock] = [:]

    subscript(id: [UInt8]) -> ConsensusBlock? {
        get { storage[PayloadKey(id)] }
        set { storage[PayloadKey(id)] = newValue }
    }

    var count: Int { storage.count }
    var values: Dictionary<PayloadKey, ConsensusBlock>.Values { storage.values }

    /// Removes the blocks `predicate` accepts, in place (the others are neither copied nor rehashed).
    mutating func removeAll(where predicate: (ConsensusBlock) -> Bool) {
        let doomed = storage.compactMap { predicate($0.value) ? $0.key : nil }
        for key in doomed { storage.removeValue(forKey: key) }
    }
}
