import GatewayCrypto

/// The ledger rules, as a pure value: it knows the chain's tip and checks that a block may follow it.
/// No I/O: storage hands it blocks, and it answers with the new tip or a precise error.
public struct Ledger: Sendable {
    public let genesis: Genesis
    public let suite: any CryptoSuite
    let memberKeys: [String: any VerifyingKey]
    let tree: MerkleTree
    /// Upper bound on transactions per block.
    public static let blockTransactionsMax = 4096

    public private(set) var height: UInt64 = 0
    public private(set) var tipHash: [UInt8]
    public private(set) var stateDigest: [UInt8]

    public init(genesis: Genesis, suite: any CryptoSuite) throws {
        guard genesis.suite == suite.name else {
            throw ChainError(.invalidGenesis, "genesis uses suite \(genesis.suite.rawValue), node runs \(suite.name.rawValue)")
        }
        self.genesis = genesis
        self.suite = suite
        self.memberKeys = try genesis.validatorKeys(suite: suite)
        self.tree = MerkleTree(suite: suite)
        self.tipHash = genesis.hash(suite: suite)
        self.stateDigest = suite.hash(Array("datagateway/state/v1".utf8) + tipHash)
    }

    /// Builds and signs the next block as a solo proposer (n = 1); the certificate is the proposer's signature.
    public func proposeSolo(transactions: [Transaction], proposer: String, signer: any SigningKey, timestampMs: Int64) throws -> Block {
        precondition(transactions.count <= Self.blockTransactionsMax, "block exceeds blockTransactionsMax")
        let leaves = Block.transactionLeafHashes(transactions, tree: tree)
        let root = tree.root(leafHashes: leaves)
        let header = BlockHeader(
            chainID: genesis.chainID, height: height + 1, parentHash: tipHash, transactionsRoot: root,
            stateDigest: suite.hash(stateDigest + root), timestampMs: timestampMs, proposer: proposer, view: 0,
            transactionCount: UInt64(transactions.count)
        )
        let signature = try signer.sign(CommitSignature.message(headerHash: header.hash(suite: suite)))
        return Block(header: header, transactions: transactions, certificate: [CommitSignature(validator: proposer, signature: signature)])
    }

    /// Checks every rule for `block` following the current tip and, if all hold, advances the tip.
    public mutating func apply(_ block: Block) throws {
        try validate(block)
        height = block.header.height
        tipHash = block.header.hash(suite: suite)
        stateDigest = block.header.stateDigest
    }

    public func validate(_ block: Block) throws {
        let header = block.header
        guard header.chainID == genesis.chainID else { throw ChainError(.invalidBlock, "block of another chain") }
        guard header.height == height + 1 else {
            throw ChainError(.invalidBlock, "block height \(header.height) does not follow \(height)")
        }
        guard header.parentHash == tipHash else { throw ChainError(.invalidBlock, "block \(header.height): parent hash mismatch") }
        guard block.transactions.count <= Self.blockTransactionsMax, header.transactionCount == UInt64(block.transactions.count) else {
            throw ChainError(.invalidBlock, "block \(header.height): transaction count mismatch")
        }
        let root = tree.root(leafHashes: Block.transactionLeafHashes(block.transactions, tree: tree))
        guard root == header.transactionsRoot else {
            throw ChainError(.invalidBlock, "block \(header.height): transactions root mismatch")
        }
        guard header.stateDigest == suite.hash(stateDigest + root) else {
            throw ChainError(.invalidBlock, "block \(header.height): state digest mismatch")
        }
        for transaction in block.transactions { try validate(transaction) }
        try verifyCertificate(block.certificate, headerHash: header.hash(suite: suite), height: header.height)
    }

    public func validate(_ transaction: Transaction) throws {
        guard transaction.chainID == genesis.chainID else { throw ChainError(.invalidTransaction, "transaction of another chain") }
        guard let key = memberKeys[transaction.submitter] else {
            throw ChainError(.invalidTransaction, "unknown submitter \(transaction.submitter)")
        }
        guard key.isValidSignature(transaction.signature, for: transaction.signingBytes) else {
            throw ChainError(.invalidSignature, "transaction signature invalid")
        }
        switch transaction.kind {
        case .recordAnchor: _ = try RecordAnchor(decoding: transaction.payload)
        case .accessLog: _ = try AccessEvent(decoding: transaction.payload)
        }
    }

    func verifyCertificate(_ certificate: [CommitSignature], headerHash: [UInt8], height: UInt64) throws {
        let message = CommitSignature.message(headerHash: headerHash)
        var signers = Set<String>()
        for entry in certificate {
            guard genesis.validators.contains(where: { $0.nodeID == entry.validator }), let key = memberKeys[entry.validator],
                  key.isValidSignature(entry.signature, for: message)
            else { throw ChainError(.invalidSignature, "block \(height): bad certificate signature from \(entry.validator)") }
            signers.insert(entry.validator)
        }
        guard signers.count >= genesis.quorum else {
            throw ChainError(.invalidBlock, "block \(height): certificate has \(signers.count) of \(genesis.quorum) signatures")
        }
    }
}

extension Ledger {
    /// Advances the tip over a block this node built and committed itself (already valid by construction).
    public mutating func advance(overOwn block: Block) {
        precondition(block.header.height == height + 1 && block.header.parentHash == tipHash, "own block does not extend the tip")
        height = block.header.height
        tipHash = block.header.hash(suite: suite)
        stateDigest = block.header.stateDigest
    }
}
