import GatewayCrypto

/// The ledger rules, as a pure value: it knows the chain's tip and checks that a block may follow it.
/// No I/O: storage hands it blocks, and it answers with the new tip or a precise error.
public struct Ledger: Sendable {
    public let genesis: Genesis
    public let suite: any CryptoSuite
    var memberKeys: [String: any VerifyingKey]
    /// Members, validator set history and approved policy bundles, derived from the chain.
    public private(set) var governance: GovernanceState
    /// Nonces seen per submitter (chain id + nonce prevents replay).
    public private(set) var replayGuard = ReplayGuard()
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
        self.governance = GovernanceState(genesis: genesis)
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
        try applyGovernance(block)
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
        // Governance and replay rules depend on the order of the block's transactions: check them on scratch copies.
        var scratch = governance
        var nonces = replayGuard
        for transaction in block.transactions {
            try nonces.admit(submitter: transaction.submitter, nonce: transaction.nonce)
            try scratch.apply(transaction, height: header.height)
        }
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
        case .proposal: _ = try GovernanceProposal(decoding: transaction.payload)
        case .approval: _ = try GovernanceApproval(decoding: transaction.payload)
        }
    }

    func verifyCertificate(_ certificate: [CommitSignature], headerHash: [UInt8], height: UInt64) throws {
        let message = CommitSignature.message(headerHash: headerHash)
        // The validators in force at this height (governance may have changed them since genesis) sign it.
        let validators = governance.validators(atHeight: height)
        let quorum = validators.count - (validators.count - 1) / 3
        var signers = Set<String>()
        for entry in certificate {
            guard validators.contains(entry.validator), let key = memberKeys[entry.validator],
                  key.isValidSignature(entry.signature, for: message)
            else { throw ChainError(.invalidSignature, "block \(height): bad certificate signature from \(entry.validator)") }
            signers.insert(entry.validator)
        }
        guard signers.count >= quorum else {
            throw ChainError(.invalidBlock, "block \(height): certificate has \(signers.count) of \(quorum) signatures")
        }
    }
}

extension Ledger {
    /// Applies the block's governance transactions and learns the keys of members they add.
    mutating func applyGovernance(_ block: Block) throws {
        for transaction in block.transactions {
            try replayGuard.admit(submitter: transaction.submitter, nonce: transaction.nonce)
            try governance.apply(transaction, height: block.header.height)
        }
        for member in governance.members where memberKeys[member.nodeID] == nil {
            memberKeys[member.nodeID] = try suite.verifyingKey(pem: member.publicKey)
        }
    }

    /// Splits candidate transactions into those that may go, in this order, into the next block and those that may
    /// not (bad signature, wrong chain, or a governance step the state does not allow), with the reason.
    public func selectValid(_ transactions: [Transaction]) -> (accepted: [Transaction], rejected: [(index: Int, error: any Error)]) {
        var scratch = governance
        var nonces = replayGuard
        var accepted: [Transaction] = []
        var rejected: [(index: Int, error: any Error)] = []
        for (index, transaction) in transactions.enumerated() {
            do {
                try validate(transaction)
                var attempt = scratch
                var attemptNonces = nonces
                try attemptNonces.admit(submitter: transaction.submitter, nonce: transaction.nonce)
                try attempt.apply(transaction, height: height + 1)
                scratch = attempt
                nonces = attemptNonces
                accepted.append(transaction)
            } catch {
                rejected.append((index, error))
            }
        }
        return (accepted, rejected)
    }

    /// Advances the tip over a block this node built and committed itself (already valid by construction).
    public mutating func advance(overOwn block: Block) {
        // Own blocks were validated transaction by transaction when proposed, so governance cannot fail here.
        try! applyGovernance(block)
        precondition(block.header.height == height + 1 && block.header.parentHash == tipHash, "own block does not extend the tip")
        height = block.header.height
        tipHash = block.header.hash(suite: suite)
        stateDigest = block.header.stateDigest
    }
}
