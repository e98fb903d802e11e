import Foundation
import GatewayTLS
import GatewayChain
import GatewayCrypto
import GatewayStore
import Logging

// Consensus: epochs, the driver and transport, forward sync, and deciding and storing committed blocks.
extension ChainService {
    // MARK: Consensus

    func replicaConfiguration(validators: Int, epoch: UInt64) -> Replica.Configuration {
        var configuration = Replica.Configuration(replicas: validators)
        configuration.epoch = epoch
        configuration.chainID = ledger.genesis.chainID
        configuration.roundTimeoutTicks = settings.roundTimeoutMs
        // At most 4 s between attempts while rounds keep failing, so a quorum that comes back resumes quickly.
        configuration.timeoutBackoffMax = 4
        // An idle chain stores nothing: idle rounds end by timeout certificates, not by empty blocks.
        configuration.emptyBlocksWhenIdle = false
        configuration.blockPayloadMax = 1_024
        configuration.mempoolMax = 2 * settings.backlogMax
        configuration.pendingBlocksMax = 16_384
        configuration.validatePayloadItem = { [verified, ledger] item in
            // Stateless checks before voting: decodes, belongs to this chain, signed by a member. Each item once.
            guard let transaction = try? Transaction(decoding: item) else { return false }
            let hash = ledger.suite.hash(item)
            if verified.contains(hash) { return true }
            guard (try? ledger.validate(transaction)) != nil else { return false }
            verified.insert(hash)
            return true
        }
        return configuration
    }

    var hashFunction: @Sendable ([UInt8]) -> [UInt8] { { [suite] in suite.hash($0) } }

    /// Whether the key the ledger holds for this node verifies what this node signs. The ledger keeps the first key a
    /// member was admitted with, so once true it stays true; false for a node not admitted yet (checked at start).
    func ownKeyIsMemberKey() -> Bool {
        let probe = Array("datagateway own-key probe \(nodeID)".utf8)
        guard let key = try? ledger.memberKey(nodeID), let signature = try? signer.sign(probe) else { return false }
        return key.isValidSignature(signature, for: probe)
    }

    /// The replica for the epoch the decided ledger is in: its validators (from governance), its root (the block whose
    /// governance change started the epoch, or the genesis), and what this node persisted in that epoch.
    func epochSetup(committed tail: [ConsensusBlock]) async throws -> EpochSetup {
        let next = ledger.height + 1
        let epoch = ledger.governance.epoch(atHeight: next)
        let members = ledger.governance.validators(atHeight: next)
        let start = ledger.governance.validatorHistory.last { $0.height <= next }!.height
        var rootID = ledger.genesis.hash(suite: suite)
        if start > 1 {
            if let root = tail.last(where: { $0.height == start - 1 }) {
                rootID = root.id
            } else if let root = try await store.blocks(from: start - 1, limit: 1).first {
                rootID = root.header.hash(suite: suite)
            } else {
                throw NodeError("the block that started epoch \(epoch) (height \(start - 1)) is not stored")
            }
        }
        updateDirectory()
        let others = directory.filter { !members.contains($0) && $0 != nodeID }
        let index = members.firstIndex(of: nodeID) ?? members.count + others.count
        let keys = try members.map { try ledger.memberKey($0) }
        let safety = try await consensusStore.loadSafety(epoch: epoch)
        let pending = try await consensusStore.blocks(above: ledger.height, epoch: epoch, hash: hashFunction)
        if let missing = Self.missingHeights(storedHeight: ledger.height, safety: safety, pending: pending) {
            // The persisted safety state certified blocks the stored chain no longer holds (it was cut short, or restored
            // from an older backup). Peers can supply them; a solo validator has nobody to ask, and proposing on top of
            // blocks it does not have would only pile up blocks that can never commit.
            let range = "\(missing.lowerBound)…\(missing.upperBound)"
            if members == [nodeID] {
                throw NodeError(
                    """
                    the stored chain ends at height \(ledger.height), but this validator's persisted consensus state certified \
                    height \(missing.upperBound): blocks \(range) are missing from the database (cut short, or restored from an \
                    older backup). A solo validator has no peer to fetch them from: restore the database from a backup that \
                    holds them, and do not start this node on the shortened chain
                    """)
            }
            logger.warning(
                "stored chain is shorter than the persisted consensus state; fetching the missing blocks from peers",
                metadata: [
                    "stored_height": "\(ledger.height)", "missing": "\(range)",
                ])
        }
        let replica = Replica(
            id: index, configuration: replicaConfiguration(validators: members.count, epoch: epoch),
            signer: SuiteConsensusSigner(replica: index, key: signer, validators: keys), hash: hashFunction, rootID: rootID, rootHeight: start - 1,
            restoring: safety, committed: tail, pendingBlocks: pending
        )
        // A follower's own id comes last among the others, so that its replica id maps back to itself.
        return EpochSetup(epoch: epoch, members: members, others: others + (members.contains(nodeID) ? [] : [nodeID]), replica: replica)
    }

    /// Heights the persisted safety state certified but neither the stored chain nor the persisted pending blocks hold
    /// (nil when nothing is missing). Blocks above the stored tip are normal — they were persisted before voting — but
    /// a gap between the tip and the highest certified block means the stored chain lost its tail.
    static func missingHeights(storedHeight: UInt64, safety: SafetyState?, pending: [ConsensusBlock]) -> ClosedRange<UInt64>? {
        guard let certified = safety?.highQC.height, certified > storedHeight else { return nil }
        // Walk in from both ends over what is held (at most the pending blocks), not over the whole range.
        let held = Set(pending.map(\.height))
        var first = storedHeight + 1
        while first <= certified, held.contains(first) { first += 1 }
        guard first <= certified else { return nil }
        var last = certified
        while held.contains(last) { last -= 1 }
        return first...last
    }

    /// Learns members governance admitted (keys and addresses) for the transport and the followers' replica ids.
    func updateDirectory() {
        var additions: [String: ConsensusTransport.Peer] = [:]
        for member in ledger.genesis.members + ledger.governance.members where !directory.contains(member.nodeID) {
            directory.append(member.nodeID)
            if let key = try? ledger.memberKey(member.nodeID) {
                additions[member.nodeID] = ConsensusTransport.Peer(
                    key: key, address: Self.parseAddress(member.address), tlsCertificate: member.tlsCertificate)
            }
        }
        if !additions.isEmpty { transport?.update(directory: additions) }
        // Only current members' certificates open a TLS connection: a member removed by governance is refused from here.
        transport?.admitTLS(members: ledger.governance.members.map(\.nodeID))
        transport?.keepConnected(to: ledger.governance.validators.map(\.nodeID))
    }

    func startConsensus() async throws {
        let hash = hashFunction
        // The replica's committed tail comes back from the chain tables, its uncommitted blocks and safety state
        // from what it persisted (in its epoch) before voting.
        var tail: [ConsensusBlock] = []
        if ledger.height > 0 {
            // As many as the replica keeps in memory, so that leader reputation's window is whole after a restart.
            let keep = UInt64(Replica.Configuration(replicas: 1).committedKeep)
            let from = ledger.height > keep ? ledger.height - keep + 1 : 1
            for stored in try await store.storedBlocks(from: from, limit: Int(keep)) {
                tail.append(
                    try ConsensusCodec.block(
                        header: stored.block.header, payload: stored.block.transactions.map(\.encoded), evidence: stored.evidence, hash: hash
                    ))
            }
        }
        let setup = try await epochSetup(committed: tail)
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self)
        commitContinuation = continuation
        let store = self.store
        // A database restored from a backup holds this validator's votes until the network has passed them (see
        // ConsensusDriver.restoredHold). A solo chain has no network to wait for: its restore is its history.
        let consensusStore = self.consensusStore
        var restored = try await consensusStore.isRestored()
        if restored, ledger.governance.validators.count <= 1 {
            try await consensusStore.clearRestored()
            restored = false
        }
        if restored { logger.notice("this database was restored from a backup: votes are held until the network shows its round") }
        // The driver's callbacks reach this actor through `handle`: a closure that mentions `self` (even weakly, even
        // in its capture list) is not run on its caller's executor — it hops to the shared task pool and back — whatever
        // its declared type (see `ConsensusPersistence`).
        let handle = ChainHandle(service: self)
        let driver = ConsensusDriver(
            me: nodeID, setup: setup, persistence: StoringPersistence(service: self, consensusStore: consensusStore),
            epochEnds: try await consensusStore.epochEnds(hash: hash),
            serveFetch: { id in (try? await Self.committedBlocks(endingAt: id, store: store, hash: hash)) ?? [] },
            serveSync: { [weak self] height, epoch in try? await self?.syncBatch(from: height, epoch: epoch) },
            logger: logger,
            nextEpoch: { [weak self] committed in
                guard let self else { throw NodeError("node is shutting down") }
                return try await self.epochSetup(committed: committed)
            },
            restored: restored,
            onRestoredSettled: { [logger] in
                do { try await consensusStore.clearRestored() } catch {
                    logger.error("could not clear the restore mark; votes will be held again after a restart", metadata: ["error": "\(error)"])
                }
            },
            payload: OwnPayload(tap: payloadTap, verified: verified, suite: suite, ownKeyCurrent: ownKeyIsMemberKey()),
            executor: executorLoop,
            onCommitsDone: {
                guard let service = handle.service, service.published.withLockedValue({ $0.decidedWaiting }) else { return }
                await service.commitsDone()
            },
            onCommit: { block, certificate, evidence, _ in
                await handle.service?.decide(block, certificate: certificate, evidence: evidence) ?? false
            }
        )
        self.driver = driver
        payloadTap.onWaiting { [weak driver] in driver?.poke() }
        // Peers: a solo chain has none (until governance admits one); any other node listens on its address.
        if directory.count > 1 { try await startTransport(driver: driver) }
        commitTask = Task { await self.storeWhenDecided(stream) }
        await driver.start()
    }

    func startTransport(driver: ConsensusDriver) async throws {
        let member = (ledger.genesis.members + ledger.governance.members).first { $0.nodeID == nodeID }
        guard let listen = settings.listenAddress ?? member.flatMap({ Self.parseAddress($0.address) }) else {
            throw NodeError("the address of \(nodeID) in the genesis or its admission must be host:port; or give --peer-listen host:port")
        }
        var peers: [String: ConsensusTransport.Peer] = [:]
        for member in ledger.genesis.members + ledger.governance.members {
            if let key = try? ledger.memberKey(member.nodeID) {
                peers[member.nodeID] = ConsensusTransport.Peer(
                    key: key, address: Self.parseAddress(member.address), tlsCertificate: member.tlsCertificate)
            }
        }
        // Mutual TLS when this node's member entry pins a certificate (the consortium was founded, or this node admitted,
        // with TLS); the identity it runs with must be that one.
        // A chain founded with TLS (its genesis members pin certificates) runs every link over TLS; a joining node that is
        // not admitted yet dials with its identity, and is accepted once its admission (with its certificate) commits.
        var tls: TLSIdentity? = nil
        if ledger.genesis.members.contains(where: { $0.tlsCertificate != nil }) {
            guard let identity = settings.tls else {
                throw NodeError("this chain's members speak TLS to each other: start the node with its TLS identity (tls-cert.pem, tls-key.pem)")
            }
            if let member, identity.pin != member.tlsCertificate.flatMap({ try? TLSIdentity.pin(ofCertificatePEM: $0) }) {
                throw NodeError(
                    "\(nodeID)'s member entry pins \(member.tlsCertificate == nil ? "no TLS certificate" : "another TLS certificate") than the one this node runs with: start it with the tls-cert.pem and tls-key.pem its member entry pins"
                )
            }
            tls = identity
        }
        // Frames arrive on the transport's event loops; one task hands them to the driver in arrival order. The stream
        // holds at most `inboxMessagesMax` (newer ones are dropped, as the driver's own inbox does): no task per message,
        // no unbounded queue.
        let (inbound, delivery) = AsyncStream.makeStream(
            of: (sender: String, epoch: UInt64, message: ConsensusMessage).self, bufferingPolicy: .bufferingOldest(ConsensusDriver.inboxMessagesMax)
        )
        inboundTask = Task {
            for await frame in inbound { await driver.deliver(frame.message, from: frame.sender, epoch: frame.epoch) }
        }
        inboundDelivery = delivery
        let transport = try ConsensusTransport(
            me: nodeID, directory: peers, key: signer, hash: hashFunction, tls: tls, logger: logger,
            onMessage: { sender, epoch, message in _ = delivery.yield((sender, epoch, message)) }
        )
        transport.admitTLS(members: ledger.governance.members.map(\.nodeID))
        transport.keepConnected(to: ledger.governance.validators.map(\.nodeID))
        do {
            _ = try await transport.listen(host: listen.host, port: listen.port)
        } catch {
            throw NodeError("cannot listen for peers on \(listen.host):\(listen.port): \(error)")
        }
        self.transport = transport
        await driver.attach(transport)
    }

    package static func parseAddress(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Bounded.port.parse(text[text.index(after: colon)...]) else { return nil }
        return (String(text[..<colon]), Int(port))
    }

    /// Forward sync from storage: committed blocks from `height` (at most 16, never past the end of `epoch`), with the
    /// QC on the last one and the proof it is committed (its certified child).
    package func syncBatch(from height: UInt64, epoch: UInt64) async throws -> SyncBatch? {
        guard height >= 1, height <= storedHeight else { return nil }
        let stored = try await store.storedBlocks(from: height, limit: 17)
        let commitments = try await store.commitments(from: height, limit: 17)
        let history = ledger.governance.validatorHistory
        let boundary = Int(epoch) + 1 < history.count ? history[Int(epoch) + 1].height - 1 : nil
        /// A stored certificate as the replica's QC: validator ids back to replica ids of the block's epoch.
        func quorumCertificate(_ signatures: [CommitSignature], on header: BlockHeader, setAt height: UInt64) -> QuorumCertificate {
            let validators = ledger.governance.validators(atHeight: height)
            let signed = signatures.compactMap { entry in
                validators.firstIndex(of: entry.validator).map { QuorumCertificate.Signed(replica: $0, signature: entry.signature) }
            }
            return QuorumCertificate(
                blockID: header.hash(suite: suite), round: header.round, height: header.height,
                signatures: signed.sorted { $0.replica < $1.replica })
        }
        let entries = try stored.map { entry -> (block: ConsensusBlock, certificate: QuorumCertificate, evidence: CommitEvidence?) in
            let header = entry.block.header
            let block = try ConsensusCodec.block(
                header: header, payload: entry.block.transactions.map(\.encoded), evidence: entry.evidence, hash: hashFunction)
            let evidence = commitments[header.height].map {
                CommitEvidence(childHeader: $0.child, childQC: quorumCertificate($0.certificate, on: $0.child, setAt: header.height))
            }
            return (block, quorumCertificate(entry.block.certificate, on: header, setAt: header.height), evidence)
        }
        return SyncBatch.serve(entries, boundary: boundary)
    }

    /// Up to 16 committed blocks ending at `id`, newest first, rebuilt as consensus blocks (for a peer that syncs).
    package static func committedBlocks(endingAt id: [UInt8], store: ChainStore, hash: ([UInt8]) -> [UInt8]) async throws -> [ConsensusBlock] {
        guard let height = try await store.height(ofBlock: id), height > 0 else { return [] }
        let from = height > 15 ? height - 15 : 1
        return try await store.storedBlocks(from: from, limit: Int(height - from + 1)).reversed().map {
            try ConsensusCodec.block(header: $0.block.header, payload: $0.block.transactions.map(\.encoded), evidence: $0.evidence, hash: hash)
        }
    }

    /// Verifies a block the replica committed against the ledger rules, in memory and in order, and queues it for
    /// storage. Returns whether its governance changed the validator set (the replica's epoch ends with it).
    func decide(_ block: ConsensusBlock, certificate: QuorumCertificate, evidence: CommitEvidence) async -> Bool {
        guard block.height == ledger.height + 1 else { return false }
        do {
            let transactions = try block.payload.map { try Transaction(decoding: $0) }
            let validators = ledger.governance.validators(atHeight: block.height)
            func signatures(_ qc: QuorumCertificate) throws -> [CommitSignature] {
                try qc.signatures.map { signed in
                    guard validators.indices.contains(signed.replica) else {
                        throw ChainError(.invalidBlock, "certificate signer outside the validator set")
                    }
                    return CommitSignature(validator: validators[signed.replica], signature: signed.signature)
                }
            }
            let committed = Block(header: block.header, transactions: transactions, certificate: try signatures(certificate))
            // The child's certificate was formed in the same epoch as the block's (the replica that committed it).
            let commitment = StoredCommitment(child: evidence.childHeader, certificate: try signatures(evidence.childQC))
            var next = ledger
            // The replica verified every signature of the certificates it commits with (each vote of a QC it formed,
            // each QC it received): the ledger checks their signers and quorum, not the signatures again.
            let applied = try next.apply(committed, verified: { [verified] in verified.contains($0) }, certificateVerified: true)
            ledger = next
            decidedQueue.append(Decided(block: committed, consensusBlock: block, applied: applied, commitment: commitment))
            // Only governance admits members: other blocks (nearly all) leave the directory as it is.
            let admitting = transactions.indices.contains { transactions[$0].kind == .proposal || transactions[$0].kind == .approval }
            let known = directory.count
            if admitting { updateDirectory() }
            let joined = Array(directory.dropFirst(known))
            if !joined.isEmpty, let driver {
                await driver.addFollowers(joined)
                if transport == nil { try? await startTransport(driver: driver) }
            }
            return ledger.governance.validatorHistory.last!.height == block.height + 1
        } catch {
            // Only possible if more than f validators certified an invalid block: refuse to follow it.
            logger.critical(
                "a committed block fails the ledger rules; this node stops following the chain",
                metadata: [
                    "height": "\(block.height)", "error": "\(error)",
                ])
            commitContinuation?.finish()
            await driver?.stop()
            return false
        }
    }

    /// The driver handed over the commits of one batch: those its durable write did not store (see
    /// `persistConsensus`) are stored together (one statement), not block by block.
    func commitsDone() {
        if !decidedQueue.isEmpty { commitContinuation?.yield() }
    }

    /// Decisions wait on the actor; a wake-up stores everything decided since, together. Isolated to this actor, so
    /// a wake-up runs on the chain's executor at once instead of queueing behind requests in the shared task pool.
    /// Ends when the stream does (at shutdown).
    func storeWhenDecided(_ wakeUps: AsyncStream<Void>) async {
        for await _ in wakeUps { await storeDecided() }
    }

    /// The replica's durable state of one batch (see `ConsensusDriver.perform`). A solo validator's is written with the
    /// blocks it decided in that batch — one statement, one flush to disk for both, instead of the replica's write and
    /// then the block's — when no other storing is under way (otherwise the storing task keeps them, in order); the
    /// requests waiting for those blocks are resumed once written. If the write fails, the blocks go back to the front
    /// of the queue for the storing task (which retries until the database is back) and the error is the replica's.
    /// With other validators the replica's write stays apart: its votes wait for it, and must not wait for storage
    /// (four validators on two cores committed 7,500–7,900 events/s with the writes apart, 5,800–6,500 combined).
    func persistConsensus(_ writes: ConsensusStore.Writes) async throws {
        guard !storing, !decidedQueue.isEmpty, ledger.governance.validators(atHeight: ledger.height + 1) == [nodeID] else {
            try await consensusStore.save(blocks: writes.blocks, safety: writes.safety, epoch: writes.epoch)
            return
        }
        let batch = Array(decidedQueue.prefix(Self.storeBatchMax))
        decidedQueue.removeFirst(batch.count)
        storing = true
        defer {
            storing = false
            // What is left (more than one batch, or this one after a failure) is the storing task's.
            if !decidedQueue.isEmpty { commitContinuation?.yield() }
        }
        // A block stored by this statement need not be persisted for the replica too (a solo validator's batch
        // proposes and commits a block at once): the chain tables hold it, and a restart reads it from them.
        let storedIDs = Set(batch.map(\.consensusBlock.id))
        let replicaWrites = ConsensusStore.Writes(
            blocks: writes.blocks.filter { !storedIDs.contains($0.id) }, safety: writes.safety, epoch: writes.epoch)
        do {
            try await store.commit(Self.committing(batch), suite: suite, consensus: replicaWrites)
        } catch {
            decidedQueue.insert(contentsOf: batch, at: 0)
            throw error
        }
        for decided in batch { stored(decided) }
    }

    static func committing(_ batch: [Decided]) -> [ChainStore.Committing] {
        batch.map {
            ChainStore.Committing(
                block: $0.block, evidence: ConsensusCodec.encodeEvidence(of: $0.consensusBlock), skipped: $0.applied.skipped,
                commitment: $0.commitment)
        }
    }

    /// Stores the decided blocks waiting (up to `storeBatchMax`, in height order) with their derived state in one
    /// database transaction — under load the replica decides blocks faster than one durable write each — then
    /// resumes the requests waiting for their transactions, block by block. One storing at a time (this task's or
    /// the replica's, `persistConsensus`), so that blocks are stored in height order.
    func storeDecided() async {
        guard !storing, !decidedQueue.isEmpty else { return }
        let batch = Array(decidedQueue.prefix(Self.storeBatchMax))
        decidedQueue.removeFirst(batch.count)
        let committing = Self.committing(batch)
        storing = true
        defer { storing = false }
        var backoffMs = 50
        while true {
            do {
                try await store.commit(committing, suite: suite)
                break
            } catch {
                // The blocks are decided; only storing them failed (database down). Keep trying: nothing after them can
                // be stored first, and nothing is acknowledged before it is stored.
                logger.error(
                    "storing committed blocks failed; retrying",
                    metadata: ["heights": "\(batch[0].block.header.height)…\(batch[batch.count - 1].block.header.height)", "error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(backoffMs))
                backoffMs = min(backoffMs * 2, 2_000)
            }
        }
        for decided in batch { stored(decided) }
        // More waited than one batch holds: the next wake-up stores them.
        if !decidedQueue.isEmpty { commitContinuation?.yield() }
    }

    /// After a decided block is durable: the stored height, the metrics, and the requests waiting for it.
    func stored(_ decided: Decided) {
        let block = decided.block
        storedHeight = block.header.height
        let skipped = decided.applied.skipped
        // The ledger skipped any transaction whose events do not decode, so this does not throw.
        for leaf in (try? AccessLogHead.leaves(of: block, skipped: { skipped[$0] != nil }, tree: accessLog.tree)) ?? [] {
            accessLog.append(leafHash: leaf)
        }
        resumeHeightWaiters()
        lastCommitMs = now()
        metrics?.committed(height: block.header.height, latencyMs: lastCommitMs - block.header.timestampMs)
        for (index, transaction) in block.transactions.enumerated() {
            let hash = transaction.hash(suite: suite)
            if let reason = decided.applied.skipped[index] {
                resume(
                    waiters.failed(hash), with: .failure(ChainServiceError(.skipped, "the transaction was skipped by the ledger rules: \(reason)")))
                continue
            }
            let location = TransactionLocation(height: block.header.height, index: index)
            resume(waiters.committed(hash, at: location), with: .success(location))
        }
    }
}

/// The chain service, weakly, for the driver's callbacks (see `ConsensusPersistence` on why they run on the driver's
/// executor).
struct ChainHandle: Sendable {
    weak var service: ChainService?
}

/// The driver's persistence in a node: the replica's state of a batch, with the blocks decided in that batch when
/// nothing else is storing (`ChainService.persistConsensus`: one flush to disk for both).
struct StoringPersistence: ConsensusPersistence {
    weak var service: ChainService?
    let consensusStore: ConsensusStore

    nonisolated(nonsending) func save(blocks: [ConsensusBlock], safety: SafetyState?, epoch: UInt64) async throws {
        let writes = ConsensusStore.Writes(blocks: blocks, safety: safety, epoch: epoch)
        guard let service else { return try await consensusStore.save(blocks: blocks, safety: safety, epoch: epoch) }
        try await service.persistConsensus(writes)
    }

    nonisolated(nonsending) func save(_ end: EpochEnd, epoch: UInt64) async throws { try await consensusStore.save(end, epoch: epoch) }
}
