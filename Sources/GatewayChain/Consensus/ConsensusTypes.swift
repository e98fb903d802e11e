/// Replicas are numbered 0..<n in genesis order.
public typealias ReplicaID = Int

/// Signs as one replica and verifies any replica's signature. The node backs it with the suite's keys; the simulator
/// with a deterministic keyed hash. A Byzantine replica only ever holds its own signer, so it cannot forge others.
public protocol ConsensusSigner: Sendable {
    var replica: ReplicaID { get }
    func sign(_ message: [UInt8]) -> [UInt8]
    func verify(_ signature: [UInt8], by replica: ReplicaID, for message: [UInt8]) -> Bool
}

/// 2f + 1 signatures on a block: the block is certified.
public struct QuorumCertificate: Sendable, Equatable {
    public let blockID: [UInt8]
    public let round: UInt64
    public let height: UInt64
    /// (voter, signature), sorted by voter.
    public let signatures: [Signed]

    public struct Signed: Sendable, Equatable {
        public let replica: ReplicaID
        public let signature: [UInt8]

        public init(replica: ReplicaID, signature: [UInt8]) {
            self.replica = replica
            self.signature = signature
        }
    }

    public init(blockID: [UInt8], round: UInt64, height: UInt64, signatures: [Signed]) {
        self.blockID = blockID
        self.round = round
        self.height = height
        self.signatures = signatures
    }

    /// Bound to the epoch (the validator set's generation): a certificate from one epoch never counts in another,
    /// even where the two sets give the same replica index to the same key.
    public static func voteMessage(epoch: UInt64, blockID: [UInt8], round: UInt64, height: UInt64) -> [UInt8] {
        var writer = CanonicalWriter()
        writer.write("datagateway/consensus/vote/v2")
        writer.write(epoch)
        writer.write(blockID)
        writer.write(round)
        writer.write(height)
        return writer.bytes
    }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(blockID)
        writer.write(round)
        writer.write(height)
        writer.write(UInt64(signatures.count))
        for signed in signatures {
            writer.write(UInt64(signed.replica))
            writer.write(signed.signature)
        }
        return writer.bytes
    }
}

/// 2f + 1 replicas gave up on a round; each reported the round of its highest QC.
public struct TimeoutCertificate: Sendable, Equatable {
    public let round: UInt64
    public let entries: [Entry]

    public struct Entry: Sendable, Equatable {
        public let replica: ReplicaID
        public let highQCRound: UInt64
        public let signature: [UInt8]

        public init(replica: ReplicaID, highQCRound: UInt64, signature: [UInt8]) {
            self.replica = replica
            self.highQCRound = highQCRound
            self.signature = signature
        }
    }

    public init(round: UInt64, entries: [Entry]) {
        self.round = round
        self.entries = entries
    }

    public var maxHighQCRound: UInt64 { entries.map(\.highQCRound).max() ?? 0 }

    /// Bound to the chain's genesis (`root`): a timeout carries no block id, so without it a validator's timeout
    /// signature from one chain could be replayed into a certificate on another chain that shares its key.
    public static func timeoutMessage(root: [UInt8], round: UInt64, highQCRound: UInt64) -> [UInt8] {
        var writer = CanonicalWriter()
        writer.write("datagateway/consensus/timeout/v2")
        writer.write(root)
        writer.write(round)
        writer.write(highQCRound)
        return writer.bytes
    }
}

/// A proposed block: it extends the block its `justify` QC certifies. Its id is the hash of its `BlockHeader`, so a
/// QC on the block is the ledger block's commit certificate.
public struct ConsensusBlock: Sendable, Equatable {
    public let chainID: String
    public let round: UInt64
    public let height: UInt64
    public let justify: QuorumCertificate
    /// Present when the previous round ended by timeout rather than by a QC.
    public let timeout: TimeoutCertificate?
    public let proposer: ReplicaID
    /// The proposer's clock (the `now` its driver gave it).
    public let timestampMs: Int64
    public let payload: [[UInt8]]
    public let transactionsRoot: [UInt8]
    public let justifyDigest: [UInt8]
    public let id: [UInt8]

    public var parentID: [UInt8] { justify.blockID }

    public init(
        chainID: String, round: UInt64, justify: QuorumCertificate, timeout: TimeoutCertificate?, proposer: ReplicaID, timestampMs: Int64,
        payload: [[UInt8]], hash: ([UInt8]) -> [UInt8]
    ) {
        self.chainID = chainID
        self.round = round
        self.height = justify.height + 1
        self.justify = justify
        self.timeout = timeout
        self.proposer = proposer
        self.timestampMs = timestampMs
        self.payload = payload
        self.transactionsRoot = BlockHeader.merkleRoot(payload[...], hash: hash)
        self.justifyDigest = hash(justify.encoded)
        self.id = hash(
            Self.header(
                chainID: chainID, round: round, height: height, parentID: justify.blockID, transactionsRoot: transactionsRoot,
                count: payload.count, justifyDigest: justifyDigest, timeout: timeout, proposer: proposer,
                timestampMs: timestampMs
            ).encoded)
    }

    /// The genesis block: height 0, round 0, with the given id (the genesis file's hash for a node; a fixed label
    /// hash in the simulator). Nothing is derived from its other fields.
    public static func genesis(id: [UInt8], chainID: String = "") -> ConsensusBlock {
        ConsensusBlock(genesisID: id, chainID: chainID)
    }

    public static func genesis(hash: ([UInt8]) -> [UInt8]) -> ConsensusBlock {
        genesis(id: hash(Array("datagateway/consensus/genesis".utf8)))
    }

    private init(genesisID: [UInt8], chainID: String) {
        self.chainID = chainID
        self.round = 0
        self.height = 0
        self.justify = QuorumCertificate(blockID: genesisID, round: 0, height: 0, signatures: [])
        self.timeout = nil
        self.proposer = 0
        self.timestampMs = 0
        self.payload = []
        self.transactionsRoot = []
        self.justifyDigest = []
        self.id = genesisID
    }

    /// The ledger header this block is, whose hash is `id`.
    public var header: BlockHeader {
        Self.header(
            chainID: chainID, round: round, height: height, parentID: justify.blockID, transactionsRoot: transactionsRoot,
            count: payload.count, justifyDigest: justifyDigest, timeout: timeout, proposer: proposer, timestampMs: timestampMs)
    }

    static func header(
        chainID: String, round: UInt64, height: UInt64, parentID: [UInt8], transactionsRoot: [UInt8], count: Int, justifyDigest: [UInt8],
        timeout: TimeoutCertificate?, proposer: ReplicaID, timestampMs: Int64
    ) -> BlockHeader {
        BlockHeader(
            chainID: chainID, height: height, round: round, parentHash: parentID, transactionsRoot: transactionsRoot,
            transactionCount: UInt64(count), justifyDigest: justifyDigest, timeoutTag: timeout.map { $0.round + 1 } ?? 0,
            proposer: UInt64(proposer), timestampMs: timestampMs
        )
    }
}

public struct Vote: Sendable, Equatable {
    public let blockID: [UInt8]
    public let round: UInt64
    public let height: UInt64
    public let voter: ReplicaID
    public let signature: [UInt8]

    public init(blockID: [UInt8], round: UInt64, height: UInt64, voter: ReplicaID, signature: [UInt8]) {
        self.blockID = blockID
        self.round = round
        self.height = height
        self.voter = voter
        self.signature = signature
    }
}

public struct TimeoutVote: Sendable, Equatable {
    public let round: UInt64
    public let highQC: QuorumCertificate
    /// The sender's highest TC (self-authenticating, not covered by the signature): lets a replica that missed it
    /// catch up to the round everyone else is in.
    public let highTC: TimeoutCertificate?
    public let voter: ReplicaID
    public let signature: [UInt8]

    public init(round: UInt64, highQC: QuorumCertificate, highTC: TimeoutCertificate?, voter: ReplicaID, signature: [UInt8]) {
        self.round = round
        self.highQC = highQC
        self.highTC = highTC
        self.voter = voter
        self.signature = signature
    }
}

public enum ConsensusMessage: Sendable, Equatable {
    case proposal(ConsensusBlock)
    case vote(Vote)
    case timeout(TimeoutVote)
    /// Ask for a block by id (a replica that missed it).
    case fetch([UInt8])
    case blocks([ConsensusBlock])
    /// Payload items (transactions) for the shared mempool: whoever leads next can order them.
    case transactions([[UInt8]])
    /// A certified block and the QC on it, from anyone: commit evidence a replica left behind in an older epoch
    /// needs to commit the block that ended that epoch.
    case certified(ConsensusBlock, QuorumCertificate)
    /// "I am still in the epoch this message is tagged with": asks a host that has moved on for the evidence that ended it.
    case catchUp
    /// Forward sync, for a replica far behind: "send me committed blocks from this height on". Answered by the host,
    /// from storage.
    case syncRequest(UInt64)
    /// Up to 16 consecutive committed blocks (not crossing an epoch boundary), the QC on the last one, and why the
    /// last one is committed: its certified child's header (round = last round + 1) and the child's QC.
    case syncBlocks(SyncBatch)
}

/// A forward-sync answer: committed blocks and the proof that the last of them is committed.
public struct SyncBatch: Sendable, Equatable {
    public let blocks: [ConsensusBlock]
    public let lastQC: QuorumCertificate
    public let child: BlockHeader
    public let childQC: QuorumCertificate

    public init(blocks: [ConsensusBlock], lastQC: QuorumCertificate, child: BlockHeader, childQC: QuorumCertificate) {
        self.blocks = blocks
        self.lastQC = lastQC
        self.child = child
        self.childQC = childQC
    }
}

/// Why a block is committed under the 2-chain rule: `child` extends it (directly or through the committed chain
/// above it) in the round right after its parent's, and `childQC` certifies `child`.
/// How an epoch ended, kept by a host that has moved on so it can bring laggards over: the evidence that committed
/// the boundary block, and the blocks the same commit covered above the boundary (they belong to no epoch's chain,
/// but a laggard needs them to connect the evidence to the boundary).
public struct EpochEnd: Sendable, Equatable {
    public let evidence: CommitEvidence
    public let beyond: [ConsensusBlock]

    public init(evidence: CommitEvidence, beyond: [ConsensusBlock]) {
        self.evidence = evidence
        self.beyond = beyond
    }

    /// What to send a replica still in the ended epoch: the blocks above the boundary, then the certified child.
    /// (An epoch a node crossed by forward sync left it no child block: the laggard then syncs forward too.)
    public var messages: [ConsensusMessage] {
        guard let child = evidence.child else { return [] }
        return stride(from: 0, to: beyond.count, by: 16).map { .blocks(Array(beyond[$0..<min($0 + 16, beyond.count)])) }
            + [.certified(child, evidence.childQC)]
    }
}

public struct CommitEvidence: Sendable, Equatable {
    /// The child as a block, when the replica has it (not after a forward sync, which carries its header only).
    public let child: ConsensusBlock?
    public let childHeader: BlockHeader
    public let childQC: QuorumCertificate

    public init(child: ConsensusBlock, childQC: QuorumCertificate) {
        self.child = child
        self.childHeader = child.header
        self.childQC = childQC
    }

    public init(childHeader: BlockHeader, childQC: QuorumCertificate) {
        self.child = nil
        self.childHeader = childHeader
        self.childQC = childQC
    }
}

/// What a replica must keep across a crash so that it never votes twice in a round or against its lock.
public struct SafetyState: Sendable, Equatable {
    public var lastVotedRound: UInt64
    public var highQC: QuorumCertificate

    public init(lastVotedRound: UInt64, highQC: QuorumCertificate) {
        self.lastVotedRound = lastVotedRound
        self.highQC = highQC
    }
}

public enum ConsensusEffect: Sendable, Equatable {
    case send(to: ReplicaID, ConsensusMessage)
    case broadcast(ConsensusMessage)
    /// Must be durable before any later effect of the same batch is performed (votes and timeouts come after it).
    case persist(SafetyState)
    /// A block this replica is about to vote for: durable before the vote, so a certified block always survives on
    /// at least f + 1 honest replicas and can be fetched after any crashes.
    case persistBlock(ConsensusBlock)
    /// Blocks are committed in height order; `certificate` is the QC on the block (carried by its child), `evidence`
    /// the direct 2-chain commit that committed it (its own child's, or a descendant's).
    case commit(ConsensusBlock, certificate: QuorumCertificate, evidence: CommitEvidence)
}

extension SyncBatch {
    /// The answer to a forward-sync request from stored committed blocks `stored` (consecutive, starting at the requested
    /// height, at most 17), each with the QC on it and the commit evidence stored with it. The last block of the batch
    /// must be provably committed on its own: either its stored evidence's child is its direct child, or the next
    /// stored block follows it in the next round and that block's QC is known. The batch never passes `boundary` (the
    /// last block of the requester's epoch, if the store knows it). Nil when nothing can be proven.
    public static func serve(
        _ stored: [(block: ConsensusBlock, certificate: QuorumCertificate, evidence: CommitEvidence?)], boundary: UInt64?
    ) -> SyncBatch? {
        guard let first = stored.first else { return nil }
        let end = min(stored.count - 1, 15, boundary.map { $0 >= first.block.height ? Int($0 - first.block.height) : -1 } ?? Int.max)
        guard end >= 0 else { return nil }
        for last in stride(from: end, through: 0, by: -1) {
            let entry = stored[last]
            let blocks = stored[...last].map(\.block)
            if let evidence = entry.evidence, evidence.childHeader.parentHash == entry.block.id, evidence.childHeader.round == entry.block.round + 1 {
                return SyncBatch(blocks: blocks, lastQC: entry.certificate, child: evidence.childHeader, childQC: evidence.childQC)
            }
            if last + 1 < stored.count, boundary.map({ entry.block.height < $0 }) ?? true {
                let next = stored[last + 1]
                if next.block.parentID == entry.block.id, next.block.round == entry.block.round + 1 {
                    return SyncBatch(blocks: blocks, lastQC: entry.certificate, child: next.block.header, childQC: next.certificate)
                }
            }
        }
        return nil
    }
}
