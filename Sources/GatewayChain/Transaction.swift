import GatewayCrypto

/// A signed chain transaction. The payload's meaning depends on `kind`; every kind carries only identifiers of
/// departments and policies and salted hashes — never personal data (DESIGN.md §5).
public struct Transaction: Sendable, Equatable {
    public enum Kind: UInt8, Sendable, CaseIterable {
        case recordAnchor = 1
        case accessLog = 2
        /// A governance proposal (membership change or policy-bundle approval); counts as its proposer's approval.
        case proposal = 3
        /// A validator's approval of a pending proposal.
        case approval = 4
        /// Several access decisions in one transaction (`AccessLogBatch`): the node's group commit for the access log.
        case accessLogBatch = 5
        /// A department grants another one the use of a record category for a purpose (`Grant`), or revokes it.
        case grant = 6
        case revoke = 7
        /// A citizen's consent for a purpose, given or withdrawn, under a salted hash (`ConsentChange`).
        case consent = 8
        /// One party's partial decryption of an aggregate (threshold Paillier, `DecryptionShare`).
        case decryptionShare = 9
        /// A statistic's encrypted groups put before the consortium for decryption (`DecryptionRequest`).
        case decryptionRequest = 10
        /// A share holder declines a decryption request, with its reason (`DecryptionRefusal`).
        case decryptionRefusal = 11
        /// The holder erased records (crypto-shredding): their salted keys, never their ids (`RecordErasure`).
        case recordErasure = 12
        /// A department ends the deferred visibility of accesses it made (`AccessRelease`): event ids only.
        case accessRelease = 13
    }

    public let chainID: String
    public let kind: Kind
    /// Node id of the submitter; its key is in the genesis.
    public let submitter: String
    /// Unique per submitter; together with `chainID` it prevents replay.
    public let nonce: UInt64
    public let timestampMs: Int64
    public let payload: [UInt8]
    public let signature: [UInt8]

    /// Bytes covered by the signature: everything but the signature, domain-separated.
    public static func signingBytes(chainID: String, kind: Kind, submitter: String, nonce: UInt64, timestampMs: Int64, payload: [UInt8]) -> [UInt8] {
        var writer = CanonicalWriter()
        writer.write("datagateway/tx/v1")
        writer.write(chainID)
        writer.write(kind.rawValue)
        writer.write(submitter)
        writer.write(nonce)
        writer.write(timestampMs)
        writer.write(payload)
        return writer.bytes
    }

    public var signingBytes: [UInt8] {
        Self.signingBytes(chainID: chainID, kind: kind, submitter: submitter, nonce: nonce, timestampMs: timestampMs, payload: payload)
    }

    /// Creates and signs a transaction.
    public init(chainID: String, kind: Kind, submitter: String, nonce: UInt64, timestampMs: Int64, payload: [UInt8], signer: any SigningKey) throws {
        self.chainID = chainID
        self.kind = kind
        self.submitter = submitter
        self.nonce = nonce
        self.timestampMs = timestampMs
        self.payload = payload
        self.signature = try signer.sign(
            Self.signingBytes(chainID: chainID, kind: kind, submitter: submitter, nonce: nonce, timestampMs: timestampMs, payload: payload)
        )
    }

    /// A transaction with a given signature (as decoded; the simulator's governance steps, which nobody verifies).
    public init(chainID: String, kind: Kind, submitter: String, nonce: UInt64, timestampMs: Int64, payload: [UInt8], signature: [UInt8]) {
        self.chainID = chainID
        self.kind = kind
        self.submitter = submitter
        self.nonce = nonce
        self.timestampMs = timestampMs
        self.payload = payload
        self.signature = signature
    }

    public var encoded: [UInt8] {
        var writer = CanonicalWriter()
        writer.write(signingBytes)
        writer.write(signature)
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var outer = CanonicalReader(bytes)
        let signed = try outer.readBytes()
        let signature = try outer.readBytes()
        try outer.expectEnd()
        var reader = CanonicalReader(signed)
        guard try reader.readString() == "datagateway/tx/v1" else { throw ChainError(.malformed, "unknown transaction version") }
        let chainID = try reader.readString()
        guard let kind = Kind(rawValue: try reader.readUInt8()) else { throw ChainError(.malformed, "unknown transaction kind") }
        let submitter = try reader.readString()
        let nonce = try reader.readUInt64()
        let timestampMs = try reader.readInt64()
        let payload = try reader.readBytes()
        try reader.expectEnd()
        self.init(chainID: chainID, kind: kind, submitter: submitter, nonce: nonce, timestampMs: timestampMs, payload: payload, signature: signature)
    }

    /// Transaction id: the suite hash of the full encoding.
    public func hash(suite: any CryptoSuite) -> [UInt8] { suite.hash(encoded) }
}
