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

    public func verifyInclusion(leafIndex: UInt64, treeSize: UInt64, leafHash: [UInt8], proof: [[UInt8]], root: [UInt8]) -> Bool {
        guard let computed = rootFromInclusionProof(leafIndex: leafIndex, treeSize: treeSize, leafHash: leafHash, proof: proof)
        else { return false }
        return constantTimeEquals(computed, root)
    }
}
