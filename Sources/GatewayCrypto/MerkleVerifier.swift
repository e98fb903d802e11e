/// Checks RFC 9162 §2.1.3.2 inclusion proofs. Deliberately independent of `MerkleTree`: a regulator's verifier
/// must not share code paths with the node that built the proof, only the hash function.
public struct MerkleVerifier: Sendable {
    let hashFunction: @Sendable ([UInt8]) -> [UInt8]

    public init(suite: any CryptoSuite) {
        self.hashFunction = { suite.hash($0) }
    }

    public init(hashFunction: @escaping @Sendable ([UInt8]) -> [UInt8]) {
        self.hashFunction = hashFunction
    }

    /// Recomputes the root from a leaf hash and its audit path; nil if the proof's shape is wrong.
    public func rootFromInclusionProof(leafIndex: UInt64, treeSize: UInt64, leafHash: [UInt8], proof: [[UInt8]]) -> [UInt8]? {
        let digestLength = hashFunction([]).count
        guard leafIndex < treeSize, leafHash.count == digestLength, proof.allSatisfy({ $0.count == digestLength }) else { return nil }
        var fn = leafIndex
        var sn = treeSize - 1
        var r = leafHash
        for p in proof {
            if sn == 0 { return nil }
            if fn & 1 == 1 || fn == sn {
                r = hashFunction([0x01] + p + r)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = hashFunction([0x01] + r + p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 ? r : nil
    }

    /// Checks an RFC 9162 §2.1.4.2 consistency proof: the tree of `oldSize` leaves with root `oldRoot` is a prefix of
    /// the tree of `newSize` leaves with root `newRoot`. Refused: an old size of 0 (a proof from the empty tree means
    /// nothing), a new size below the old, equal sizes with a non-empty proof or different roots, an empty proof
    /// otherwise, hashes of the wrong length, and a proof of the wrong length for the sizes.
    public func verifyConsistency(oldSize: UInt64, newSize: UInt64, oldRoot: [UInt8], newRoot: [UInt8], proof: [[UInt8]]) -> Bool {
        guard oldSize >= 1, newSize >= oldSize else { return false }
        if oldSize == newSize { return proof.isEmpty && oldRoot.count == newRoot.count && constantTimeEquals(oldRoot, newRoot) }
        let digestLength = hashFunction([]).count
        guard !proof.isEmpty, oldRoot.count == digestLength, newRoot.count == digestLength, proof.allSatisfy({ $0.count == digestLength })
        else { return false }
        // An old tree that is a complete subtree is its own first node.
        let path = oldSize & (oldSize - 1) == 0 ? [oldRoot] + proof : proof
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                fr = hashFunction([0x01] + c + fr)
                sr = hashFunction([0x01] + c + sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0 && fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = hashFunction([0x01] + sr + c)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && constantTimeEquals(fr, oldRoot) && constantTimeEquals(sr, newRoot)
    }

    public func verifyInclusion(leafIndex: UInt64, treeSize: UInt64, leafHash: [UInt8], proof: [[UInt8]], root: [UInt8]) -> Bool {
        guard let computed = rootFromInclusionProof(leafIndex: leafIndex, treeSize: treeSize, leafHash: leafHash, proof: proof)
        else { return false }
        return constantTimeEquals(computed, root)
    }
}
