import GatewayChain
import GatewayCrypto

// Inclusion proofs built from the stored chain alone: what a running node serves and what `gateway audit export`
// writes into an evidence bundle are made by the same code.
extension ChainStore {
    /// Why the stored block at `height` is committed: the headers from it up to its certified child, and the child's
    /// certificate (nil for blocks stored before nodes kept it, or while the blocks between are not all stored).
    package func commitmentEvidence(atHeight height: UInt64) async throws -> InclusionProof.Commitment? {
        guard let stored = try await commitment(atHeight: height), stored.child.height > height, stored.child.height - height <= 4_096 else {
            return nil
        }
        let between = try await headers(from: height + 1, limit: Int(stored.child.height - height - 1))
        guard between.count == Int(stored.child.height - height - 1) else { return nil }
        return InclusionProof.Commitment(headers: between + [stored.child], certificate: stored.certificate)
    }

    /// The proof of the transaction at `index` of the stored block at `height` (nil: no such transaction), with the
    /// commitment given.
    package func inclusionProof(
        height: UInt64, index: Int, suite: any CryptoSuite, commitment: InclusionProof.Commitment?
    ) async throws -> InclusionProof? {
        guard let block = try await blocks(from: height, limit: 1).first, block.header.height == height, index >= 0,
            index < block.transactions.count
        else { return nil }
        let tree = MerkleTree(suite: suite)
        let leaves = Block.transactionLeafHashes(block.transactions, tree: tree)
        return InclusionProof(
            transaction: block.transactions[index], leafIndex: index, auditPath: tree.inclusionProof(index: index, leafHashes: leaves),
            header: block.header, certificate: block.certificate, commitment: commitment)
    }
}
