import Foundation
import GatewayChain
import GatewayCrypto
import GatewayStore
import Logging

// Inclusion proofs and commit evidence, read from the stored chain.
extension ChainService {
    // MARK: Proofs

    /// An inclusion proof for a committed transaction, with the governance history a verifier needs to know the
    /// validator set that certified it.
    package func proof(for hash: [UInt8]) async throws -> InclusionProof? {
        guard let found = try await store.location(of: hash),
            let proof = try await proof(at: TransactionLocation(height: found.height, index: found.index))
        else { return nil }
        let location = TransactionLocation(height: found.height, index: found.index)
        var steps: [InclusionProof] = []
        for step in try await store.governanceLocations(atOrBelow: location.height) {
            guard let stepProof = try await self.proof(at: TransactionLocation(height: step.height, index: step.index)) else {
                throw NodeError("governance transaction at \(step.height):\(step.index) has no proof")
            }
            steps.append(stepProof)
        }
        return steps.isEmpty ? proof : InclusionProof(transaction: proof, governance: steps)
    }

    /// Why the stored block at `height` is committed: the headers from it up to its certified child, and the child's
    /// certificate (nil for blocks stored before nodes kept it).
    package func commitment(atHeight height: UInt64) async throws -> InclusionProof.Commitment? {
        guard let stored = try await store.commitment(atHeight: height), stored.child.height > height, stored.child.height - height <= 4_096 else {
            return nil
        }
        // The blocks between were committed together with this one and are stored right after it.
        await waitUntilStored(stored.child.height - 1, timeoutMs: 5_000)
        return try await store.commitmentEvidence(atHeight: height)
    }

    func proof(at location: TransactionLocation) async throws -> InclusionProof? {
        try await store.inclusionProof(
            height: location.height, index: location.index, suite: suite, commitment: try await commitment(atHeight: location.height))
    }
}

// The access log as one tree: this node's signed head and consistency proofs between its sizes.
extension ChainService {
    /// This node's head of the access log, signed now: the stored height, the log's size and root there.
    package func accessLogHead() throws -> AccessLogHead {
        try AccessLogHead(
            chainID: ledger.genesis.chainID, nodeID: nodeID, size: UInt64(accessLog.count), height: storedHeight,
            root: accessLog.root(size: accessLog.count), timestampMs: now(), signer: signer)
    }

    /// The RFC 9162 consistency proof from the log's first `from` events to its first `to` (1 ≤ from ≤ to ≤ size;
    /// nil outside that).
    package func accessLogConsistency(from: UInt64, to: UInt64) -> [[UInt8]]? {
        guard from >= 1, from <= to, to <= UInt64(accessLog.count) else { return nil }
        return accessLog.consistencyProof(oldSize: Int(from), newSize: Int(to))
    }

    /// The inclusion proof of event `index` (0-based, log order) in the log's first `size` events, with the leaf hash.
    package func accessLogInclusion(index: UInt64, size: UInt64) -> (leafHash: [UInt8], proof: [[UInt8]])? {
        guard index < size, size <= UInt64(accessLog.count) else { return nil }
        return (accessLog.leafHash(at: Int(index)), accessLog.inclusionProof(index: Int(index), size: Int(size)))
    }
}
