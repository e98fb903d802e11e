import GatewayCrypto

/// The ledger rules, as a pure value: it knows the chain's tip and checks that a block may follow it.
/// No I/O: storage hands it blocks, and it answers with the new tip or a precise error.
public struct Ledger: Sendable {
    public let genesis: Genesis
    public let suite: any CryptoSuite
    var memberKeys: [String: any VerifyingKey]
    /// Members, validator set history and approved policy bundles, derived from the chain.
    public private(set) var governance: GovernanceState
    /// Grants and revocations, derived from the chain.
    public private(set) var grants = GrantRegistry()
    public private(set) var consents = ConsentRegistry()
    /// ε spent by differentially private statistics, per requester, category and month.
    public private(set) var privacy = PrivacySpending()
    /// Decryption requests of statistics and the shares and refusals answering them.
    public private(set) var decryptions = DecryptionBook()
    /// Nonces seen per submitter (chain id + nonce prevents replay).
    public private(set) var replayGuard = ReplayGuard()
    let tree: MerkleTree
    /// Upper bound on transactions per block.
    public static let blockTransactionsMax = 4096

    public private(set) var height: UInt64 = 0
    /// Hash of the tip's header (the genesis hash before block 1): the parent of the next block.
    public private(set) var tipHash: [UInt8]

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
    }

    /// Why a first block belongs to another chain (another genesis), or nil. Storage that holds such a block was not
    /// altered: it was given to the wrong genesis, and saying so tells an operator what to fix.
    public func foreignChainReason(_ first: BlockHeader) -> String? {
        guard first.height == 1 else { return nil }
        if first.chainID != genesis.chainID {
            return "it holds the blocks of chain \(first.chainID), and this genesis founds \(genesis.chainID)"
        }
        if first.parentHash != genesis.hash(suite: suite) {
            return "its first block follows another genesis of chain \(genesis.chainID) (a genesis re-made or edited)"
        }
        return nil
    }

    /// What applying a block did: transactions that broke a rule depending on chain state (a replayed nonce, a
    /// governance step the state no longer allows) are skipped, deterministically on every node; the others executed.
    public struct Applied: Sendable, Equatable {
        public let skipped: [Int: String]
        public func executed(_ index: Int) -> Bool { skipped[index] == nil }
    }

    /// Checks that `header` (a block this ledger holds, or is about to) is committed, not only certified: the 2-chain
    /// evidence against the validators and epoch of its height.
    public func verifyCommitment(_ commitment: InclusionProof.Commitment, of header: BlockHeader) throws {
        try ProofVerifier.verifyCommitment(
            commitment, of: header, headerHash: header.hash(suite: suite), validators: governance.validators(atHeight: header.height),
            epoch: governance.epoch(atHeight: header.height), keys: memberKeys, suite: suite
        )
    }

    /// The signing key of a member (current or former) from the genesis or a committed admission.
    public func memberKey(_ nodeID: String) throws -> any VerifyingKey {
        guard let key = memberKeys[nodeID] else { throw ChainError(.invalidTransaction, "\(nodeID) is not a member of this chain") }
        return key
    }

    /// Builds and signs the next block as a solo validator would (one round per block); for tools and tests that
    /// need a valid chain without running consensus.
    public func proposeSolo(transactions: [Transaction], proposer: String, signer: any SigningKey, timestampMs: Int64) throws -> Block {
        precondition(transactions.count <= Self.blockTransactionsMax, "block exceeds blockTransactionsMax")
        let root = tree.root(leafHashes: Block.transactionLeafHashes(transactions, tree: tree))
        let index = governance.validators(atHeight: height + 1).firstIndex(of: proposer) ?? 0
        let header = BlockHeader(
            chainID: genesis.chainID, height: height + 1, round: height + 1, parentHash: tipHash, transactionsRoot: root,
            transactionCount: UInt64(transactions.count), justifyDigest: suite.hash(tipHash), timeoutTag: 0, proposer: UInt64(index),
            timestampMs: timestampMs
        )
        let signature = try signer.sign(
            CommitSignature.message(header: header, headerHash: header.hash(suite: suite), epoch: governance.epoch(atHeight: header.height)))
        return Block(header: header, transactions: transactions, certificate: [CommitSignature(validator: proposer, signature: signature)])
    }

    /// Checks every rule for `block` following the current tip and, if all hold, advances the tip and returns which
    /// transactions executed. `verified` holds hashes of transactions whose signatures were already checked (by the
    /// replica before it voted), so each signature is verified once per node. `certificateVerified`: the caller
    /// checked the certificate's signatures already (the replica verifies every vote of a QC it forms or receives);
    /// its signers and quorum are still checked here, its signatures not again.
    @discardableResult
    public mutating func apply(_ block: Block, verified: (([UInt8]) -> Bool)? = nil, certificateVerified: Bool = false) throws -> Applied {
        try validate(block, verified: verified, certificateVerified: certificateVerified)
        var skipped: [Int: String] = [:]
        decryptions.expire(beforeMs: block.header.timestampMs)
        for (index, transaction) in block.transactions.enumerated() {
            var nonces = replayGuard
            var state = governance
            var book = decryptions
            var spending = privacy
            do {
                try nonces.admit(submitter: transaction.submitter, nonce: transaction.nonce)
                try applyDecryption(transaction, block: block.header, book: &book, spending: &spending)
                if transaction.kind == .grant || transaction.kind == .revoke {
                    var registry = grants
                    try registry.apply(transaction, department: governance.members.first { $0.nodeID == transaction.submitter }?.department)
                    grants = registry
                }
                if transaction.kind == .consent {
                    var registry = consents
                    try registry.apply(transaction, department: governance.members.first { $0.nodeID == transaction.submitter }?.department)
                    consents = registry
                }
                if transaction.kind == .accessRelease {
                    try AccessRelease.check(transaction, department: governance.members.first { $0.nodeID == transaction.submitter }?.department)
                }
                try state.apply(transaction, height: block.header.height)
                replayGuard = nonces
                governance = state
                decryptions = book
                privacy = spending
            } catch {
                skipped[index] = "\(error)"
            }
        }
        for member in governance.members where memberKeys[member.nodeID] == nil {
            memberKeys[member.nodeID] = try suite.verifyingKey(pem: member.publicKey)
        }
        height = block.header.height
        tipHash = block.header.hash(suite: suite)
        return Applied(skipped: skipped)
    }

    /// Header, Merkle root, certificate and every transaction's signature; stateful rules are `apply`'s.
    public func validate(_ block: Block, verified: (([UInt8]) -> Bool)? = nil, certificateVerified: Bool = false) throws {
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
        try verifyCertificate(block.certificate, header: header, signatures: !certificateVerified)
        for transaction in block.transactions where !(verified?(transaction.hash(suite: suite)) ?? false) { try validate(transaction) }
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
        case .accessLogBatch: _ = try AccessLogBatch(decoding: transaction.payload)
        case .proposal: _ = try GovernanceProposal(decoding: transaction.payload)
        case .approval: _ = try GovernanceApproval(decoding: transaction.payload)
        case .grant: _ = try Grant(decoding: transaction.payload)
        case .revoke: _ = try Revocation(decoding: transaction.payload)
        case .consent: _ = try ConsentChange(decoding: transaction.payload)
        case .decryptionShare: _ = try DecryptionShare(decoding: transaction.payload)
        case .decryptionRequest: _ = try DecryptionRequest(decoding: transaction.payload)
        case .decryptionRefusal: _ = try DecryptionRefusal(decoding: transaction.payload)
        case .recordErasure: _ = try RecordErasure(decoding: transaction.payload)
        case .accessRelease: _ = try AccessRelease(decoding: transaction.payload)
        }
    }

    /// Records a decryption request (charging its ε when it fits the budget it states), share or refusal. A share or
    /// refusal counts only from the validator holding that share index, once, while the request is open. Throws (and
    /// the transaction is skipped, on every node alike) otherwise. The request's id is its transaction's hash.
    func applyDecryption(_ transaction: Transaction, block: BlockHeader, book: inout DecryptionBook, spending: inout PrivacySpending) throws {
        switch transaction.kind {
        case .decryptionRequest:
            guard genesis.aggregation != nil else { throw ChainError(.invalidTransaction, "this chain has no aggregation key") }
            let request = try DecryptionRequest(decoding: transaction.payload)
            let query = request.query
            let key = PrivacySpending.Key(
                requester: query.requester, category: query.category, month: PrivacySpending.month(ofUnixMs: block.timestampMs))
            let before = spending.spent(key)
            let (after, overflow) = before.addingReportingOverflow(query.epsilonMicros)
            let fits = query.epsilonMicros == 0 || (!overflow && after <= query.budgetMicros)
            try book.add(
                Hex.encode(transaction.hash(suite: suite)),
                .init(
                    request: request, submitter: transaction.submitter, height: block.height, timestampMs: block.timestampMs,
                    spentBeforeMicros: before, withinBudget: fits))
            if fits && query.epsilonMicros > 0 { spending.charge(key, micros: query.epsilonMicros) }
        case .decryptionShare:
            let share = try DecryptionShare(decoding: transaction.payload)
            try book.answer(
                share.requestID, party: Int(clamping: share.party), submitter: transaction.submitter, aggregation: genesis.aggregation,
                share: share.share, refusal: nil)
        case .decryptionRefusal:
            let refusal = try DecryptionRefusal(decoding: transaction.payload)
            try book.answer(
                refusal.requestID, party: Int(clamping: refusal.party), submitter: transaction.submitter, aggregation: genesis.aggregation,
                share: nil, refusal: refusal.reason)
        default:
            return
        }
    }

    func verifyCertificate(_ certificate: [CommitSignature], header: BlockHeader, signatures: Bool = true) throws {
        let height = header.height
        let message =
            signatures
            ? CommitSignature.message(header: header, headerHash: header.hash(suite: suite), epoch: governance.epoch(atHeight: header.height)) : []
        // The validators in force at this height (governance may have changed them since genesis) sign it.
        let validators = governance.validators(atHeight: height)
        let quorum = validators.count - (validators.count - 1) / 3
        var signers = Set<String>()
        for entry in certificate {
            guard validators.contains(entry.validator), let key = memberKeys[entry.validator],
                !signatures || key.isValidSignature(entry.signature, for: message)
            else { throw ChainError(.invalidSignature, "block \(height): bad certificate signature from \(entry.validator)") }
            signers.insert(entry.validator)
        }
        guard signers.count >= quorum else {
            throw ChainError(.invalidBlock, "block \(height): certificate has \(signers.count) of \(quorum) signatures")
        }
    }
}

extension Ledger {
    /// Splits candidate transactions into those that may go, in this order, into the next block and those that may
    /// not (bad signature, wrong chain, or a governance step the state does not allow), with the reason.
    public func selectValid(_ transactions: [Transaction]) -> (accepted: [Transaction], rejected: [(index: Int, error: any Error)]) {
        var scratch = governance
        var nonces = replayGuard
        var registry = grants
        var book = decryptions
        var spending = privacy
        var accepted: [Transaction] = []
        var rejected: [(index: Int, error: any Error)] = []
        for (index, transaction) in transactions.enumerated() {
            do {
                try validate(transaction)
                var attempt = scratch
                var attemptNonces = nonces
                var attemptGrants = registry
                var attemptBook = book
                var attemptSpending = spending
                try attemptNonces.admit(submitter: transaction.submitter, nonce: transaction.nonce)
                if transaction.kind == .grant || transaction.kind == .revoke {
                    try attemptGrants.apply(transaction, department: scratch.members.first { $0.nodeID == transaction.submitter }?.department)
                }
                if transaction.kind == .consent {
                    var consents = ConsentRegistry()
                    try consents.apply(transaction, department: scratch.members.first { $0.nodeID == transaction.submitter }?.department)
                }
                if transaction.kind == .accessRelease {
                    try AccessRelease.check(transaction, department: scratch.members.first { $0.nodeID == transaction.submitter }?.department)
                }
                try attempt.apply(transaction, height: height + 1)
                if [.decryptionRequest, .decryptionShare, .decryptionRefusal].contains(transaction.kind) {
                    let header = BlockHeader(
                        chainID: genesis.chainID, height: height + 1, round: 0, parentHash: tipHash, transactionsRoot: [], transactionCount: 0,
                        justifyDigest: [], timeoutTag: 0, proposer: 0, timestampMs: transaction.timestampMs)
                    try applyDecryption(transaction, block: header, book: &attemptBook, spending: &attemptSpending)
                }
                book = attemptBook
                spending = attemptSpending
                scratch = attempt
                nonces = attemptNonces
                registry = attemptGrants
                accepted.append(transaction)
            } catch {
                rejected.append((index, error))
            }
        }
        return (accepted, rejected)
    }
}
