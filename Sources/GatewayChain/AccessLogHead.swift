import GatewayCrypto

/// The access log as one append-only RFC 9162 tree, and a node's signed statement of its head.
///
/// The log's leaves are the chain's access events in commit order — block by block, transaction by transaction (a
/// skipped transaction contributes nothing), and within a batch transaction in the batch's order — each leaf's data
/// being the event's bytes as the transaction carries them (`Transaction.accessEventBytes`: an `accessLog`'s payload,
/// each entry of an `accessLogBatch`; `AccessEvent.encoded` of the event). Leaf and node
/// hashes are RFC 6962's with the suite's hash (SM3 or SHA-256). A head says: at stored height `height`, this node's
/// log holds `size` events with root `root`. The node signs it with its member key, so a head it shows to one party
/// and a head it shows to another are both evidence of what it said; two heads no consistency proof joins are a split
/// view.
public struct AccessLogHead: Sendable, Equatable {
    public let chainID: String
    public let nodeID: String
    public let size: UInt64
    public let height: UInt64
    public let root: [UInt8]
    public let timestampMs: Int64
    public let signature: [UInt8]

    public init(chainID: String, nodeID: String, size: UInt64, height: UInt64, root: [UInt8], timestampMs: Int64, signature: [UInt8]) {
        self.chainID = chainID
        self.nodeID = nodeID
        self.size = size
        self.height = height
        self.root = root
        self.timestampMs = timestampMs
        self.signature = signature
    }

    /// Signs a head as `nodeID` with its member key.
    public init(chainID: String, nodeID: String, size: UInt64, height: UInt64, root: [UInt8], timestampMs: Int64, signer: any SigningKey) throws {
        let message = Self.signingMessage(chainID: chainID, nodeID: nodeID, size: size, height: height, root: root, timestampMs: timestampMs)
        self.init(
            chainID: chainID, nodeID: nodeID, size: size, height: height, root: root, timestampMs: timestampMs, signature: try signer.sign(message))
    }

    /// The bytes a head's signature covers: a domain tag, then each field length-prefixed (canonical encoding).
    public static func signingMessage(chainID: String, nodeID: String, size: UInt64, height: UInt64, root: [UInt8], timestampMs: Int64) -> [UInt8] {
        var writer = CanonicalWriter()
        writer.write("datagateway-access-log-head-v1")
        writer.write(chainID)
        writer.write(nodeID)
        writer.write(size)
        writer.write(height)
        writer.write(root)
        writer.write(timestampMs)
        return writer.bytes
    }

    public var signingMessage: [UInt8] {
        Self.signingMessage(chainID: chainID, nodeID: nodeID, size: size, height: height, root: root, timestampMs: timestampMs)
    }

    /// Whether `key` (the node's member key) signed this head.
    public func isSigned(by key: any VerifyingKey) -> Bool { key.isValidSignature(signature, for: signingMessage) }

    /// The leaf hash of an access event in the log.
    public static func leafHash(_ event: AccessEvent, tree: MerkleTree) -> [UInt8] { tree.leafHash(event.encoded) }

    /// The log's leaf hashes a committed block adds, in order: the events of its executed transactions (`skipped`
    /// holds the indices the ledger skipped). Throws only for a transaction whose events do not decode, which the
    /// ledger would have skipped.
    public static func leaves(of block: Block, skipped: (Int) -> Bool, tree: MerkleTree) throws -> [[UInt8]] {
        var leaves: [[UInt8]] = []
        for (index, transaction) in block.transactions.enumerated() where !skipped(index) {
            for bytes in try transaction.accessEventBytes() { leaves.append(tree.leafHash(bytes)) }
        }
        return leaves
    }
}
