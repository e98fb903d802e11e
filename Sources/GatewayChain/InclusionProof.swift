import Foundation
import GatewayCrypto

/// Everything needed to show that a transaction is in the chain: leaf → Merkle root → header → certificate, and that
/// the block is committed, not only certified: the headers from the block up to a child whose round follows its
/// parent's, and the certificate on that child (the 2-chain commit rule). Encoded as JSON with hex strings so that a
/// regulator can store and re-check it with only the genesis file.
public struct InclusionProof: Sendable, Codable, Equatable {
    public let transaction: String
    public let leafIndex: UInt64
    public let auditPath: [String]
    public let header: String
    public let certificate: [Signature]
    /// Why the block is committed (absent in proofs made before nodes kept it).
    public let commitment: Commitment?
    /// Every governance transaction the chain executed up to this block, each with its own proof, in chain order:
    /// from them a verifier derives, from the genesis alone, the validator set (and epoch) that must have certified
    /// this block. Absent while the chain has none.
    public let governance: [InclusionProof]?

    /// The headers above the proof's block (hex, in height order), the last one a child whose round is its parent's
    /// plus one, and the certificate on that child.
    public struct Commitment: Sendable, Codable, Equatable {
        public let headers: [String]
        public let certificate: [Signature]

        public init(headers: [BlockHeader], certificate: [CommitSignature]) {
            self.headers = headers.map { Hex.encode($0.encoded) }
            self.certificate = certificate.map { Signature(validator: $0.validator, signature: Hex.encode($0.signature)) }
        }
    }

    public struct Signature: Sendable, Codable, Equatable {
        public let validator: String
        public let signature: String

        public init(validator: String, signature: String) {
            self.validator = validator
            self.signature = signature
        }
    }

    /// The same proof with a governance history.
    public init(transaction proof: InclusionProof, governance: [InclusionProof]?) {
        self.transaction = proof.transaction
        self.leafIndex = proof.leafIndex
        self.auditPath = proof.auditPath
        self.header = proof.header
        self.certificate = proof.certificate
        self.commitment = proof.commitment
        self.governance = governance
    }

    public init(
        transaction: Transaction, leafIndex: Int, auditPath: [[UInt8]], header: BlockHeader, certificate: [CommitSignature],
        commitment: Commitment? = nil,
        governance: [InclusionProof]? = nil
    ) {
        self.commitment = commitment
        self.governance = governance
        self.transaction = Hex.encode(transaction.encoded)
        self.leafIndex = UInt64(leafIndex)
        self.auditPath = auditPath.map { Hex.encode($0) }
        self.header = Hex.encode(header.encoded)
        self.certificate = certificate.map { Signature(validator: $0.validator, signature: Hex.encode($0.signature)) }
    }
}

/// Verifies inclusion proofs against a genesis, sharing no code with the block builder beyond hashes and the
/// governance rules. Certificates are checked against the validator set in force at the block's height and with its
/// epoch, both derived by replaying the proof's governance transactions (each itself proven committed) from the
/// genesis. Votes are bound to their epoch, so a history with a change left out yields the wrong epoch and the
/// certificate does not verify: a prover cannot make the verifier trust a superseded validator set.
public struct ProofVerifier: Sendable {
    public let genesis: Genesis
    let suite: any CryptoSuite
    let genesisKeys: [String: any VerifyingKey]

    public init(genesis: Genesis) throws {
        self.genesis = genesis
        self.suite = try genesis.suite.makeSuite()
        self.genesisKeys = try genesis.validatorKeys(suite: suite)
    }

    /// The verified facts a proof establishes.
    public struct Verified: Sendable {
        public let transaction: Transaction
        public let height: UInt64
        public let headerHash: [UInt8]
        /// Whether the proof also showed the block committed (2-chain evidence), not only certified.
        public let committed: Bool
        /// The block's epoch (0 until the first validator-set change) and the validators that certified it.
        public let epoch: UInt64
        public let validators: [String]
    }

    /// What the verifier knows of the chain so far: governance replayed from the genesis, and members' keys.
    struct Knowledge {
        var governance: GovernanceState
        var keys: [String: any VerifyingKey]
    }

    /// Verifies the proof; unless `requireCommitment` is false, it must also show the block committed.
    public func verify(_ proof: InclusionProof, requireCommitment: Bool = true) throws -> Verified {
        var knowledge = Knowledge(governance: GovernanceState(genesis: genesis), keys: genesisKeys)
        var last: (height: UInt64, index: UInt64) = (0, 0)
        for (position, step) in (proof.governance ?? []).enumerated() {
            guard step.governance == nil else { throw ChainError(.invalidProof, "governance step \(position) nests further steps") }
            let verified: Verified
            do {
                verified = try verifyOne(step, knowledge: knowledge, requireCommitment: true)
            } catch let error as ChainError {
                throw ChainError(.invalidProof, "governance step \(position): \(error.message)")
            }
            guard verified.transaction.kind == .proposal || verified.transaction.kind == .approval else {
                throw ChainError(.invalidProof, "governance step \(position) is not a governance transaction")
            }
            guard (verified.height, step.leafIndex) > last || position == 0 else {
                throw ChainError(.invalidProof, "governance steps are not in chain order")
            }
            last = (verified.height, step.leafIndex)
            // Applied as the ledger applied it: a step the state refuses was skipped there, whole (a throwing
            // mutation may have changed its copy part-way, so the copy is kept only when it succeeded).
            var next = knowledge.governance
            if (try? next.apply(verified.transaction, height: verified.height)) != nil { knowledge.governance = next }
            for member in knowledge.governance.members where knowledge.keys[member.nodeID] == nil {
                knowledge.keys[member.nodeID] = try? suite.verifyingKey(pem: member.publicKey)
            }
        }
        let verified = try verifyOne(proof, knowledge: knowledge, requireCommitment: requireCommitment)
        guard verified.height >= last.height else { throw ChainError(.invalidProof, "governance steps lie above the proven block") }
        return verified
    }

    func verifyOne(_ proof: InclusionProof, knowledge: Knowledge, requireCommitment: Bool) throws -> Verified {
        guard let transactionBytes = Hex.decode(proof.transaction), let headerBytes = Hex.decode(proof.header) else {
            throw ChainError(.invalidProof, "proof fields are not hex")
        }
        let transaction = try Transaction(decoding: transactionBytes)
        let header = try BlockHeader(decoding: headerBytes)
        guard header.chainID == genesis.chainID, transaction.chainID == genesis.chainID else {
            throw ChainError(.invalidProof, "proof is for another chain")
        }
        var path: [[UInt8]] = []
        for node in proof.auditPath {
            guard let bytes = Hex.decode(node), bytes.count == suite.digestLength else {
                throw ChainError(.invalidProof, "audit path node is not a digest")
            }
            path.append(bytes)
        }
        let verifier = MerkleVerifier(suite: suite)
        let leaf = suite.hash([0x00] + transactionBytes)
        guard
            verifier.verifyInclusion(
                leafIndex: proof.leafIndex, treeSize: header.transactionCount, leafHash: leaf, proof: path, root: header.transactionsRoot
            )
        else {
            throw ChainError(.invalidProof, "transaction is not under the header's transactions root")
        }
        guard let submitterKey = knowledge.keys[transaction.submitter],
            submitterKey.isValidSignature(transaction.signature, for: transaction.signingBytes)
        else { throw ChainError(.invalidProof, "transaction signature does not verify") }
        let headerHash = suite.hash(headerBytes)
        // The set and epoch of the block's height; the child of the commit evidence was certified in the same epoch.
        let validators = knowledge.governance.validators(atHeight: header.height)
        let epoch = knowledge.governance.epoch(atHeight: header.height)
        try Self.verifyCertificate(
            proof.certificate, header: header, headerHash: headerHash, validators: validators, epoch: epoch, keys: knowledge.keys)
        guard let commitment = proof.commitment else {
            if requireCommitment {
                throw ChainError(.invalidProof, "the proof shows the block certified but carries no commit evidence (made by an older node?)")
            }
            return Verified(
                transaction: transaction, height: header.height, headerHash: headerHash, committed: false, epoch: epoch, validators: validators)
        }
        try Self.verifyCommitment(
            commitment, of: header, headerHash: headerHash, validators: validators, epoch: epoch, keys: knowledge.keys, suite: suite)
        return Verified(
            transaction: transaction, height: header.height, headerHash: headerHash, committed: true, epoch: epoch, validators: validators)
    }

    /// The block is committed: hash links from it up to the child, whose round follows its parent's, and a quorum of
    /// the block's validators (same epoch) certified that child.
    public static func verifyCommitment(
        _ commitment: InclusionProof.Commitment, of header: BlockHeader, headerHash: [UInt8], validators: [String], epoch: UInt64,
        keys: [String: any VerifyingKey], suite: any CryptoSuite
    ) throws {
        guard !commitment.headers.isEmpty, commitment.headers.count <= 4_096 else {
            throw ChainError(.invalidProof, "commit evidence has no child header")
        }
        var parent = header
        var parentHash = headerHash
        for (position, hex) in commitment.headers.enumerated() {
            guard let bytes = Hex.decode(hex) else { throw ChainError(.invalidProof, "commit evidence header is not hex") }
            let next = try BlockHeader(decoding: bytes)
            guard next.chainID == header.chainID, next.parentHash == parentHash, next.height == parent.height + 1 else {
                throw ChainError(.invalidProof, "commit evidence header \(next.height) does not extend block \(parent.height)")
            }
            if position == commitment.headers.count - 1 {
                guard next.round == parent.round + 1 else {
                    throw ChainError(
                        .invalidProof, "the certified child's round \(next.round) does not follow its parent's \(parent.round): no 2-chain commit")
                }
                try verifyCertificate(
                    commitment.certificate, header: next, headerHash: suite.hash(bytes), validators: validators, epoch: epoch, keys: keys)
            }
            parent = next
            parentHash = suite.hash(bytes)
        }
    }

    /// A quorum of `validators` signed the consensus vote for this header in `epoch`.
    static func verifyCertificate(
        _ certificate: [InclusionProof.Signature], header: BlockHeader, headerHash: [UInt8], validators: [String], epoch: UInt64,
        keys: [String: any VerifyingKey]
    ) throws {
        let message = CommitSignature.message(header: header, headerHash: headerHash, epoch: epoch)
        let quorum = validators.count - (validators.count - 1) / 3
        var signers = Set<String>()
        for entry in certificate {
            guard validators.contains(entry.validator), let key = keys[entry.validator],
                let signature = Hex.decode(entry.signature), key.isValidSignature(signature, for: message)
            else {
                throw ChainError(
                    .invalidProof, "certificate signature from \(entry.validator) on block \(header.height) does not verify (epoch \(epoch))")
            }
            signers.insert(entry.validator)
        }
        guard signers.count >= quorum else {
            throw ChainError(.invalidProof, "certificate on block \(header.height) has \(signers.count) signatures, quorum is \(quorum)")
        }
    }
}
