import GatewayCrypto

/// Block header (DESIGN.md §4). It is also the consensus block's identity: a consensus block's id is the hash of
/// its header, so the quorum certificate validators sign for consensus is, unchanged, the block's commit
/// certificate, and an inclusion proof goes leaf → transactions root → header → certificate with nothing else.
public struct BlockHeader: Sendable, Equatable {
    public let chainID: String
    public let height: UInt64
    /// The consensus round (view) in which the block was proposed.
    public let round: UInt64
    /// Id (header hash) of the parent block; for height 1, the genesis hash.
    public let parentHash: [UInt8]
    /// RFC 6962 root over the block's transaction encodings.
    public let transactionsRoot: [UInt8]
    public let transactionCount: UInt64
    /// Hash of the quorum certificate on the parent that the proposer extended (consensus evidence).
    public let justifyDigest: [UInt8]
    /// 0, or r + 1 when the previous round r ended with a timeout certificate.
    public let timeoutTag: UInt64
    /// Index of the proposing validator in the validator list.
    public let proposer: UInt64
    /// The proposer's clock when it proposed (a claim, not a consensus fact).
    public let timestampMs: Int64

    public init(
        chainID: String, height: UInt64, round: UInt64, parentHash: [UInt8], transactionsRoot: [UInt8], transactionCount: UInt64,
        justifyDigest: [UInt8], timeoutTag: UInt64, proposer: UInt64, timestampMs: Int64
    ) {
        self.chainID = chainID
        self.height = height
        self.round = round
        self.parentHash = parentHash
        self.transactionsRoot = transactionsRoot
        self.transactionCount = transactionCount
        self.justifyDigest = justifyDigest
        self.timeoutTag = timeoutTag
        self.proposer = proposer
        self.timestampMs = timestampMs
    }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write("datagateway/header/v2")
        writer.write(chainID)
        writer.write(height)
        writer.write(round)
        writer.write(parentHash)
        writer.write(transactionsRoot)
        writer.write(transactionCount)
        writer.write(justifyDigest)
        writer.write(timeoutTag)
        writer.write(proposer)
        writer.write(timestampMs)
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        guard try reader.readString() == "datagateway/header/v2" else { throw ChainError(.malformed, "unknown header version") }
        chainID = try reader.readString()
        height = try reader.readUInt64(within: .height)
        round = try reader.readUInt64(within: .round)
        parentHash = try reader.readBytes()
        transactionsRoot = try reader.readBytes()
        transactionCount = try reader.readUInt64()
        justifyDigest = try reader.readBytes()
        timeoutTag = try reader.readUInt64()
        proposer = try reader.readUInt64()
        timestampMs = try reader.readInt64()
        try reader.expectEnd()
    }

    public func hash(suite: any CryptoSuite) -> [UInt8] { suite.hash(encoded) }

    /// RFC 6962 Merkle tree hash over raw leaves with any hash function (the replica has no suite, only a hash).
    public static func merkleRoot(_ leaves: ArraySlice<[UInt8]>, hash: ([UInt8]) -> [UInt8]) -> [UInt8] {
        switch leaves.count {
        case 0: return hash([])
        case 1: return hash([0x00] + leaves[leaves.startIndex])
        default:
            var split = 1
            while split << 1 < leaves.count { split <<= 1 }
            let middle = leaves.startIndex + split
            return hash([0x01] + merkleRoot(leaves[leaves.startIndex..<middle], hash: hash) + merkleRoot(leaves[middle...], hash: hash))
        }
    }
}

/// One validator's vote on a block: its signature over the consensus vote message for the header hash.
public struct CommitSignature: Sendable, Equatable {
    public let validator: String
    public let signature: [UInt8]

    public init(validator: String, signature: [UInt8]) {
        self.validator = validator
        self.signature = signature
    }

    /// The signed message: the consensus vote for the block (domain, epoch, header hash, round, height). The epoch
    /// of a height is derivable from the chain (`GovernanceState.epoch(atHeight:)`); 0 until the first validator change.
    public static func message(header: BlockHeader, headerHash: [UInt8], epoch: UInt64) -> [UInt8] {
        QuorumCertificate.voteMessage(epoch: epoch, blockID: headerHash, round: header.round, height: header.height)
    }
}

/// A committed block: header, transactions and its commit certificate (≥ quorum validator votes).
public struct Block: Sendable, Equatable {
    public let header: BlockHeader
    public let transactions: [Transaction]
    public let certificate: [CommitSignature]

    public init(header: BlockHeader, transactions: [Transaction], certificate: [CommitSignature]) {
        self.header = header
        self.transactions = transactions
        self.certificate = certificate
    }

    public var encodedCertificate: [UInt8] { Self.encode(certificate) }

    public static func encode(_ certificate: [CommitSignature]) -> [UInt8] {
        var writer = CanonicalWriter()
        writer.write(UInt64(certificate.count))
        for entry in certificate {
            writer.write(entry.validator)
            writer.write(entry.signature)
        }
        return writer.bytes
    }

    public static func decodeCertificate(_ bytes: [UInt8]) throws -> [CommitSignature] {
        var reader = CanonicalReader(bytes)
        let count = try reader.readUInt64()
        guard count <= 1024 else { throw ChainError(.malformed, "certificate too large") }
        var out: [CommitSignature] = []
        for _ in 0..<count {
            out.append(CommitSignature(validator: try reader.readString(), signature: try reader.readBytes()))
        }
        try reader.expectEnd()
        return out
    }

    /// Leaf hashes of the transactions, in block order.
    public static func transactionLeafHashes(_ transactions: [Transaction], tree: MerkleTree) -> [[UInt8]] {
        transactions.map { tree.leafHash($0.encoded) }
    }
}

/// What committed a block, as a node stores it beside the block: the certified child (2-chain rule: its round follows
/// its parent's, and its parent is the block or a descendant of it) and the certificate on that child.
public struct StoredCommitment: Sendable, Equatable {
    public let child: BlockHeader
    public let certificate: [CommitSignature]

    public init(child: BlockHeader, certificate: [CommitSignature]) {
        self.child = child
        self.certificate = certificate
    }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(child.encoded)
        writer.write(Block.encode(certificate))
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        child = try BlockHeader(decoding: try reader.readBytes())
        certificate = try Block.decodeCertificate(try reader.readBytes())
        try reader.expectEnd()
    }
}
