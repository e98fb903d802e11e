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

    public init(
        transaction: Transaction, leafIndex: Int, auditPath: [[UInt8]], header: BlockHeader, certificate: [CommitSignature], commitment: Commitment? = nil
    ) {
        self.commitment = commitment
        self.transaction = Hex.encode(transaction.encoded)
        self.leafIndex = UInt64(leafIndex)
        self.auditPath = auditPath.map { Hex.encode($0) }
        self.header = Hex.encode(header.encoded)
        self.certificate = certificate.map { Signature(validator: $0.validator, signature: Hex.encode($0.signature)) }
    }
}

/// Verifies inclusion proofs against a genesis, sharing no code with the block builder beyond hashes.
public struct ProofVerifier: Sendable {
    public let genesis: Genesis
    let suite: any CryptoSuite
    let keys: [String: any VerifyingKey]

    public init(genesis: Genesis) throws {
        self.genesis = genesis
        self.suite = try genesis.suite.makeSuite()
        self.keys = try genesis.validatorKeys(suite: suite)
    }

    /// The verified facts a proof establishes.
    public struct Verified: Sendable {
        public let transaction: Transaction
        public let height: UInt64
        public let headerHash: [UInt8]
        /// Whether the proof also showed the block committed (2-chain evidence), not only certified.
        public let committed: Bool
    }

    /// Verifies the proof; unless `requireCommitment` is false, it must also show the block committed.
    public func verify(_ proof: InclusionProof, requireCommitment: Bool = true) throws -> Verified {
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
        guard verifier.verifyInclusion(
            leafIndex: proof.leafIndex, treeSize: header.transactionCount, leafHash: leaf, proof: path, root: header.transactionsRoot
        ) else {
            throw ChainError(.invalidProof, "transaction is not under the header's transactions root")
        }
        guard let submitterKey = keys[transaction.submitter],
              submitterKey.isValidSignature(transaction.signature, for: transaction.signingBytes)
        else { throw ChainError(.invalidProof, "transaction signature does not verify") }
        let headerHash = suite.hash(headerBytes)
        try verifyCertificate(proof.certificate, header: header, headerHash: headerHash)
        guard let commitment = proof.commitment else {
            if requireCommitment {
                throw ChainError(.invalidProof, "the proof shows the block certified but carries no commit evidence (made by an older node?)")
            }
            return Verified(transaction: transaction, height: header.height, headerHash: headerHash, committed: false)
        }
        // Hash links from the block up to the child, whose round follows its parent's; then the child's certificate.
        guard !commitment.headers.isEmpty, commitment.headers.count <= 4_096 else { throw ChainError(.invalidProof, "commit evidence has no child header") }
        var parent = header
        var parentHash = headerHash
        for hex in commitment.headers {
            guard let bytes = Hex.decode(hex) else { throw ChainError(.invalidProof, "commit evidence header is not hex") }
            let next = try BlockHeader(decoding: bytes)
            guard next.chainID == genesis.chainID, next.parentHash == parentHash, next.height == parent.height + 1 else {
                throw ChainError(.invalidProof, "commit evidence header \(next.height) does not extend block \(parent.height)")
            }
            if hex == commitment.headers.last {
                guard next.round == parent.round + 1 else {
                    throw ChainError(.invalidProof, "the certified child's round \(next.round) does not follow its parent's \(parent.round): no 2-chain commit")
                }
                try verifyCertificate(commitment.certificate, header: next, headerHash: suite.hash(bytes))
            }
            parent = next
            parentHash = suite.hash(bytes)
        }
        return Verified(transaction: transaction, height: header.height, headerHash: headerHash, committed: true)
    }

    /// A quorum of the genesis validators signed the consensus vote for this header (epoch 0).
    func verifyCertificate(_ certificate: [InclusionProof.Signature], header: BlockHeader, headerHash: [UInt8]) throws {
        let message = CommitSignature.message(header: header, headerHash: headerHash, epoch: 0)
        var signers = Set<String>()
        for entry in certificate {
            guard genesis.validators.contains(where: { $0.nodeID == entry.validator }), let key = keys[entry.validator],
                  let signature = Hex.decode(entry.signature), key.isValidSignature(signature, for: message)
            else { throw ChainError(.invalidProof, "certificate signature from \(entry.validator) on block \(header.height) does not verify") }
            signers.insert(entry.validator)
        }
        guard signers.count >= genesis.quorum else {
            throw ChainError(.invalidProof, "certificate on block \(header.height) has \(signers.count) signatures, quorum is \(genesis.quorum)")
        }
    }
}
