import GatewayCrypto

/// Block header (DESIGN.md §4). Its hash is what validators sign.
public struct BlockHeader: Sendable, Equatable {
    public let chainID: String
    public let height: UInt64
    public let parentHash: [UInt8]
    /// RFC 6962 root over the block's transaction encodings.
    public let transactionsRoot: [UInt8]
    /// Running digest of all state up to this block: H(previous state digest ‖ transactions root).
    public let stateDigest: [UInt8]
    public let timestampMs: Int64
    public let proposer: String
    public let view: UInt64
    public let transactionCount: UInt64

    public init(
        chainID: String, height: UInt64, parentHash: [UInt8], transactionsRoot: [UInt8], stateDigest: [UInt8],
        timestampMs: Int64, proposer: String, view: UInt64, transactionCount: UInt64
    ) {
        self.chainID = chainID
        self.height = height
        self.parentHash = parentHash
        self.transactionsRoot = transactionsRoot
        self.stateDigest = stateDigest
        self.timestampMs = timestampMs
        self.proposer = proposer
        self.view = view
        self.transactionCount = transactionCount
    }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write("datagateway/header/v1")
        writer.write(chainID)
        writer.write(height)
        writer.write(parentHash)
        writer.write(transactionsRoot)
        writer.write(stateDigest)
        writer.write(timestampMs)
        writer.write(proposer)
        writer.write(view)
        writer.write(transactionCount)
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = CanonicalReader(bytes)
        guard try reader.readString() == "datagateway/header/v1" else { throw ChainError(.malformed, "unknown header version") }
        chainID = try reader.readString()
        height = try reader.readUInt64()
        parentHash = try reader.readBytes()
        transactionsRoot = try reader.readBytes()
        stateDigest = try reader.readBytes()
        timestampMs = try reader.readInt64()
        proposer = try reader.readString()
        view = try reader.readUInt64()
        transactionCount = try reader.readUInt64()
        try reader.expectEnd()
    }

    public func hash(suite: any CryptoSuite) -> [UInt8] { suite.hash(encoded) }
}

/// One validator's signature over a header hash.
public struct CommitSignature: Sendable, Equatable {
    public let validator: String
    public let signature: [UInt8]

    public init(validator: String, signature: [UInt8]) {
        self.validator = validator
        self.signature = signature
    }

    /// The signed message: domain-separated header hash.
    public static func message(headerHash: [UInt8]) -> [UInt8] {
        var writer = CanonicalWriter()
        writer.write("datagateway/commit/v1")
        writer.write(headerHash)
        return writer.bytes
    }
}

/// A committed block: header, transactions and its commit certificate (≥ quorum validator signatures).
public struct Block: Sendable, Equatable {
    public let header: BlockHeader
    public let transactions: [Transaction]
    public let certificate: [CommitSignature]

    public init(header: BlockHeader, transactions: [Transaction], certificate: [CommitSignature]) {
        self.header = header
        self.transactions = transactions
        self.certificate = certificate
    }

    public var encodedCertificate: [UInt8] {
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
