/// RFC 6962 / RFC 9162 Merkle tree hashing with a suite's hash: leaf = H(0x00‖data), node = H(0x01‖left‖right).
/// This is the building side; `MerkleVerifier` is the checking side and shares only the two hash rules.
public struct MerkleTree: Sendable {
    public let hashFunction: @Sendable ([UInt8]) -> [UInt8]

    public init(suite: any CryptoSuite) {
        self.hashFunction = { suite.hash($0) }
    }

    public init(hashFunction: @escaping @Sendable ([UInt8]) -> [UInt8]) {
        self.hashFunction = hashFunction
    }

    public func leafHash(_ data: [UInt8]) -> [UInt8] { hashFunction([0x00] + data) }
    public func nodeHash(_ left: [UInt8], _ right: [UInt8]) -> [UInt8] { hashFunction([0x01] + left + right) }
    public var emptyRoot: [UInt8] { hashFunction([]) }

    /// Root over already-hashed leaves (MTH of RFC 6962 §2.1).
    public func root(leafHashes: [[UInt8]]) -> [UInt8] {
        guard !leafHashes.isEmpty else { return emptyRoot }
        return subtreeRoot(leafHashes[...])
    }

    /// Audit path for leaf `index` (PATH of RFC 6962 §2.1.1), from the leaf upwards.
    public func inclusionProof(index: Int, leafHashes: [[UInt8]]) -> [[UInt8]] {
        precondition(index >= 0 && index < leafHashes.count, "leaf index outside the tree")
        var path: [[UInt8]] = []
        collectPath(index: index, leaves: leafHashes[...], into: &path)
        return path
    }

    /// Consistency proof between the tree of the first `oldSize` leaves and the whole tree (PROOF(m, D[n]) of RFC 6962
    /// §2.1.2; RFC 9162 §2.1.4.1): empty when the sizes are equal.
    public func consistencyProof(oldSize: Int, leafHashes: [[UInt8]]) -> [[UInt8]] {
        precondition(oldSize >= 1 && oldSize <= leafHashes.count, "the old size is 1 to the tree size")
        guard oldSize < leafHashes.count else { return [] }
        var proof: [[UInt8]] = []
        subproof(oldSize, leafHashes[...], complete: true, into: &proof)
        return proof
    }

    /// SUBPROOF(m, D[n], b): `complete` is b, whether the old tree is this whole subtree's left part seen so far.
    private func subproof(_ m: Int, _ leaves: ArraySlice<[UInt8]>, complete: Bool, into proof: inout [[UInt8]]) {
        if m == leaves.count {
            if !complete { proof.append(subtreeRoot(leaves)) }
            return
        }
        let split = Self.largestPowerOfTwo(below: leaves.count)
        let mid = leaves.startIndex + split
        if m <= split {
            subproof(m, leaves[..<mid], complete: complete, into: &proof)
            proof.append(subtreeRoot(leaves[mid...]))
        } else {
            subproof(m - split, leaves[mid...], complete: false, into: &proof)
            proof.append(subtreeRoot(leaves[..<mid]))
        }
    }

    private func subtreeRoot(_ leaves: ArraySlice<[UInt8]>) -> [UInt8] {
        if leaves.count == 1 { return leaves[leaves.startIndex] }
        let split = Self.largestPowerOfTwo(below: leaves.count)
        let mid = leaves.startIndex + split
        return nodeHash(subtreeRoot(leaves[..<mid]), subtreeRoot(leaves[mid...]))
    }

    private func collectPath(index: Int, leaves: ArraySlice<[UInt8]>, into path: inout [[UInt8]]) {
        if leaves.count == 1 { return }
        let split = Self.largestPowerOfTwo(below: leaves.count)
        let mid = leaves.startIndex + split
        if index < split {
            collectPath(index: index, leaves: leaves[..<mid], into: &path)
            path.append(subtreeRoot(leaves[mid...]))
        } else {
            collectPath(index: index - split, leaves: leaves[mid...], into: &path)
            path.append(subtreeRoot(leaves[..<mid]))
        }
    }

    /// Largest power of two strictly less than `n` (n ≥ 2).
    static func largestPowerOfTwo(below n: Int) -> Int {
        precondition(n >= 2)
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }
}
