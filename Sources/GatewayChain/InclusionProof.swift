import Foundation
import GatewayCrypto

/// Everything needed to show that a transaction is in the chain: leaf → Merkle root → header → certificate.
/// Encoded as JSON with hex strings so that a regulator can store and re-check it with only the genesis file.
public struct InclusionProof: Sendable, Codable, Equatable {
    public let transaction: String
    public let leafIndex: UInt64
    public let auditPath: [String]
    public let header: String
    public let certificate: [Signature]

    public struct Signature: Sendable, Codable, Equatable {
        public let validator: String
        public let signature: String

        public init(validator: String, signature: String) {
            self.validator = validator
            self.signature = signature
        }
    }

    public init(transaction: Transaction, leafIndex: Int, auditPath: [[UInt8]], header: BlockHeader, certificate: [CommitSignature]) {
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
    }

    public func verify(_ proof: InclusionProof) throws -> Verified {
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
        let message = CommitSignature.message(header: header, headerHash: headerHash, epoch: 0)
        var signers = Set<String>()
        for entry in proof.certificate {
            guard genesis.validators.contains(where: { $0.nodeID == entry.validator }), let key = keys[entry.validator],
                  let signature = Hex.decode(entry.signature), key.isValidSignature(signature, for: message)
            else { throw ChainError(.invalidProof, "certificate signature from \(entry.validator) does not verify") }
            signers.insert(entry.validator)
        }
        guard signers.count >= genesis.quorum else {
            throw ChainError(.invalidProof, "certificate has \(signers.count) signatures, quorum is \(genesis.quorum)")
        }
        return Verified(transaction: transaction, height: header.height, headerHash: headerHash)
    }
}
