/// An append-only RFC 6962 / RFC 9162 log that answers for any of its past sizes: the root of the first `size` leaves,
/// an inclusion proof in that tree, and a consistency proof between two sizes — each in O(log² n) hashes, without
/// rehashing the leaves. It keeps every complete aligned subtree's hash (level k holds the subtrees of 2^k leaves),
/// flat: about twice the leaf hashes' bytes in all.
///
/// The answers are those of `MerkleTree` over the same leaves (its tests compare the two); `MerkleVerifier` checks
/// them.
public struct MerkleLog: Sendable {
    public let tree: MerkleTree
    /// Length of one hash (the suite's digest), fixed by the first leaf.
    private var width = 0
    /// `levels[k]` holds the hashes of the complete subtrees of 2^k leaves, left to right, each `width` bytes.
    private var levels: [[UInt8]] = [[]]

    public init(tree: MerkleTree) {
        self.tree = tree
    }

    /// Number of leaves.
    public var count: Int { width == 0 ? 0 : levels[0].count / width }

    /// Appends a leaf by its leaf hash (`tree.leafHash(data)`).
    public mutating func append(leafHash: [UInt8]) {
        precondition(!leafHash.isEmpty && (width == 0 || leafHash.count == width), "leaf hashes of one log have one length")
        width = leafHash.count
        levels[0] += leafHash
        // Each completed pair makes a node one level up.
        var level = 0
        while levels[level].count / width % 2 == 0 {
            // The last two hashes lie side by side: left ‖ right, hashed with the node prefix in one buffer.
            let end = levels[level].count
            var input = [UInt8](repeating: 0x01, count: 1)
            input.reserveCapacity(1 + 2 * width)
            input += levels[level][(end - 2 * width)..<end]
            let node = tree.hashFunction(input)
            if levels.count == level + 1 { levels.append([]) }
            levels[level + 1] += node
            level += 1
        }
    }

    /// The leaf hash at `index`.
    public func leafHash(at index: Int) -> [UInt8] {
        precondition(index >= 0 && index < count, "leaf index outside the log")
        return node(level: 0, index: index)
    }

    /// The hash of the complete subtree of 2^level leaves at `index` (in units of that size).
    private func node(level: Int, index: Int) -> [UInt8] {
        Array(levels[level][(index * width)..<((index + 1) * width)])
    }

    /// MTH(D[start:end]) for a range the RFC's recursion produces (`start` a multiple of the largest power of two not
    /// above the range's size, or of a larger one).
    private func rangeHash(_ start: Int, _ end: Int) -> [UInt8] {
        let size = end - start
        if size & (size - 1) == 0 {
            let level = size.trailingZeroBitCount
            if start % size == 0 { return node(level: level, index: start / size) }
        }
        let split = MerkleTree.largestPowerOfTwo(below: size)
        return tree.nodeHash(rangeHash(start, start + split), rangeHash(start + split, end))
    }

    /// The root of the first `size` leaves (the empty tree's hash for 0).
    public func root(size: Int) -> [UInt8] {
        precondition(size >= 0 && size <= count, "size outside the log")
        return size == 0 ? tree.emptyRoot : rangeHash(0, size)
    }

    /// Inclusion proof of leaf `index` in the tree of the first `size` leaves, from the leaf upwards.
    public func inclusionProof(index: Int, size: Int) -> [[UInt8]] {
        precondition(index >= 0 && index < size && size <= count, "leaf index outside the tree")
        var path: [[UInt8]] = []
        func collect(_ index: Int, _ start: Int, _ end: Int) {
            guard end - start > 1 else { return }
            let split = MerkleTree.largestPowerOfTwo(below: end - start)
            if index < start + split {
                collect(index, start, start + split)
                path.append(rangeHash(start + split, end))
            } else {
                collect(index, start + split, end)
                path.append(rangeHash(start, start + split))
            }
        }
        collect(index, 0, size)
        return path
    }

    /// Consistency proof from the tree of the first `oldSize` leaves to that of the first `newSize` (RFC 9162
    /// §2.1.4.1): empty when the sizes are equal.
    public func consistencyProof(oldSize: Int, newSize: Int) -> [[UInt8]] {
        precondition(oldSize >= 1 && oldSize <= newSize && newSize <= count, "sizes outside the log")
        guard oldSize < newSize else { return [] }
        var proof: [[UInt8]] = []
        func subproof(_ m: Int, _ start: Int, _ end: Int, complete: Bool) {
            if m == end - start {
                if !complete { proof.append(rangeHash(start, end)) }
                return
            }
            let split = MerkleTree.largestPowerOfTwo(below: end - start)
            if m <= split {
                subproof(m, start, start + split, complete: complete)
                proof.append(rangeHash(start + split, end))
            } else {
                subproof(m - split, start + split, end, complete: false)
                proof.append(rangeHash(start, start + split))
            }
        }
        subproof(oldSize, 0, newSize, complete: true)
        return proof
    }
}
