import Foundation
import GatewayCrypto
import GatewayTestSupport
import Testing

/// RFC 6962 known answers and the transparency-dev proof corpus (../shared/vectors/rfc6962).
@Suite struct MerkleVectorTests {
    let suite = InternationalSuite()
    var tree: MerkleTree { MerkleTree(suite: suite) }
    var verifier: MerkleVerifier { MerkleVerifier(suite: suite) }
    static let directory = TestPaths.vectors.appendingPathComponent("rfc6962")

    static func lines(_ file: String) throws -> [[String: String]] {
        let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.map { line in
            var fields: [String: String] = [:]
            for part in line.split(separator: " ") {
                let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                fields[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
            }
            return fields
        }
    }

    func leaves() throws -> [[UInt8]] {
        try Self.lines("leaves.txt").map { Hex.decode($0["leaf_hex"]!)! }
    }

    @Test func rootsOfTheFirstNLeavesMatchTheVectors() throws {
        let leafHashes = try leaves().map { tree.leafHash($0) }
        let roots = try Self.lines("roots.txt")
        #expect(roots.count == 9)
        for entry in roots {
            let size = Int(entry["tree_size"] ?? entry["size"]!)!
            let expected = entry["root_hex"] ?? entry["hash_hex"]!
            #expect(Hex.encode(tree.root(leafHashes: Array(leafHashes.prefix(size)))) == expected, "size \(size)")
        }
    }

    @Test func hasherKnownAnswers() throws {
        for entry in try Self.lines("hashes.txt") {
            switch entry["kind"]! {
            case "empty_root": #expect(Hex.encode(tree.emptyRoot) == entry["hash_hex"]!)
            case "leaf": #expect(Hex.encode(tree.leafHash(Hex.decode(entry["input_hex"] ?? entry["leaf_hex"]!)!)) == entry["hash_hex"]!)
            case "node":
                let left = Hex.decode(entry["left_hex"]!)!
                let right = Hex.decode(entry["right_hex"]!)!
                #expect(Hex.encode(tree.nodeHash(left, right)) == entry["hash_hex"]!)
            default: Issue.record("unknown kind \(entry["kind"]!)")
            }
        }
    }

    @Test func builtProofsVerifyForEveryLeafOfEveryTreeUpTo40() {
        for size in 1...40 {
            let leafHashes = (0..<size).map { tree.leafHash(Array("leaf \($0)".utf8)) }
            let root = tree.root(leafHashes: leafHashes)
            for index in 0..<size {
                let proof = tree.inclusionProof(index: index, leafHashes: leafHashes)
                #expect(
                    verifier.verifyInclusion(leafIndex: UInt64(index), treeSize: UInt64(size), leafHash: leafHashes[index], proof: proof, root: root))
                // The same proof must not verify another leaf or another index.
                let other = (index + 1) % size
                if other != index {
                    #expect(
                        !verifier.verifyInclusion(
                            leafIndex: UInt64(index), treeSize: UInt64(size), leafHash: leafHashes[other], proof: proof, root: root))
                }
            }
        }
    }

    struct InclusionCase: Decodable {
        let leafIdx: UInt64
        let treeSize: UInt64
        let root: String?
        let leafHash: String?
        let proof: [String]?
        let desc: String
        let wantErr: Bool
    }

    @Test func inclusionProofCorpusAgreesWithWantErr() throws {
        let root = Self.directory.appendingPathComponent("inclusion")
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)!
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "json" }
        #expect(files.count >= 90, "expected the 98 inclusion cases, found \(files.count)")
        var negatives = 0
        for file in files {
            let c = try JSONDecoder().decode(InclusionCase.self, from: Data(contentsOf: file))
            func bytes(_ b64: String?) -> [UInt8] { b64.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } ?? [] }
            let ok = verifier.verifyInclusion(
                leafIndex: c.leafIdx, treeSize: c.treeSize, leafHash: bytes(c.leafHash),
                proof: (c.proof ?? []).map { bytes($0) }, root: bytes(c.root)
            )
            #expect(ok == !c.wantErr, "\(file.deletingLastPathComponent().lastPathComponent)/\(file.lastPathComponent): \(c.desc)")
            if c.wantErr { negatives += 1 }
        }
        #expect(negatives > 80)
    }

    struct ConsistencyCase: Decodable {
        let size1: UInt64
        let size2: UInt64
        let root1: String?
        let root2: String?
        let proof: [String]?
        let desc: String
        let wantErr: Bool
    }

    /// The 98 consistency cases of the corpus (RFC 9162 §2.1.4.2): the verifier accepts exactly the positive ones.
    @Test func consistencyProofCorpusAgreesWithWantErr() throws {
        let root = Self.directory.appendingPathComponent("consistency")
        let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil)!
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "json" }
        #expect(files.count >= 90, "expected the 98 consistency cases, found \(files.count)")
        var negatives = 0
        for file in files {
            let c = try JSONDecoder().decode(ConsistencyCase.self, from: Data(contentsOf: file))
            func bytes(_ b64: String?) -> [UInt8] { b64.flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } ?? [] }
            let ok = verifier.verifyConsistency(
                oldSize: c.size1, newSize: c.size2, oldRoot: bytes(c.root1), newRoot: bytes(c.root2), proof: (c.proof ?? []).map { bytes($0) })
            #expect(ok == !c.wantErr, "\(file.deletingLastPathComponent().lastPathComponent)/\(file.lastPathComponent): \(c.desc)")
            if c.wantErr { negatives += 1 }
        }
        #expect(negatives > 80)
    }

    /// Built proofs verify for every pair of sizes up to 40; a proof does not verify other sizes or another tree.
    @Test func builtConsistencyProofsVerifyForEveryPairOfSizesUpTo40() {
        let leafHashes = (0..<40).map { tree.leafHash(Array("leaf \($0)".utf8)) }
        let roots = (0...40).map { tree.root(leafHashes: Array(leafHashes.prefix($0))) }
        let forked = leafHashes.enumerated().map { $0.offset == 3 ? tree.leafHash(Array("forged".utf8)) : $0.element }
        for newSize in 1...40 {
            for oldSize in 1...newSize {
                let proof = tree.consistencyProof(oldSize: oldSize, leafHashes: Array(leafHashes.prefix(newSize)))
                #expect(
                    verifier.verifyConsistency(
                        oldSize: UInt64(oldSize), newSize: UInt64(newSize), oldRoot: roots[oldSize], newRoot: roots[newSize], proof: proof),
                    "\(oldSize) → \(newSize)")
                guard oldSize < newSize else { continue }
                #expect(
                    !verifier.verifyConsistency(
                        oldSize: UInt64(oldSize), newSize: UInt64(newSize), oldRoot: roots[oldSize], newRoot: roots[newSize - 1], proof: proof))
                // A split view: the new tree rewrote an old leaf; no proof from the honest old root reaches it.
                let forkedRoot = tree.root(leafHashes: Array(forked.prefix(newSize)))
                if oldSize > 3 {
                    let forkedProof = tree.consistencyProof(oldSize: oldSize, leafHashes: Array(forked.prefix(newSize)))
                    #expect(
                        !verifier.verifyConsistency(
                            oldSize: UInt64(oldSize), newSize: UInt64(newSize), oldRoot: roots[oldSize], newRoot: forkedRoot, proof: forkedProof))
                }
            }
        }
    }

    /// The append-only log answers for every past size exactly as a tree built from scratch over that prefix: roots
    /// (also the RFC 6962 vector roots), inclusion and consistency proofs. Sizes and indices are drawn from a seed.
    @Test func theAppendOnlyLogAnswersForEveryPastSizeAsATreeBuiltFromScratch() throws {
        let vectorLeaves = try leaves().map { tree.leafHash($0) }
        var vectorLog = MerkleLog(tree: tree)
        for leaf in vectorLeaves { vectorLog.append(leafHash: leaf) }
        for size in 0...vectorLeaves.count {
            #expect(vectorLog.root(size: size) == tree.root(leafHashes: Array(vectorLeaves.prefix(size))), "vector root of \(size)")
        }

        let seed: UInt64 = 6962
        print("MerkleLog comparison seed \(seed)")
        var random = SplitMix64(seed: seed)
        let leafHashes = (0..<300).map { tree.leafHash(Array("leaf \($0)".utf8)) }
        var log = MerkleLog(tree: tree)
        for (index, leaf) in leafHashes.enumerated() {
            log.append(leafHash: leaf)
            #expect(log.count == index + 1)
        }
        #expect(log.root(size: 0) == tree.emptyRoot)
        for _ in 0..<200 {
            let newSize = Int(random.next() % 300) + 1
            let oldSize = Int(random.next() % UInt64(newSize)) + 1
            let index = Int(random.next() % UInt64(newSize))
            let prefix = Array(leafHashes.prefix(newSize))
            #expect(log.root(size: newSize) == tree.root(leafHashes: prefix))
            #expect(log.consistencyProof(oldSize: oldSize, newSize: newSize) == tree.consistencyProof(oldSize: oldSize, leafHashes: prefix))
            #expect(log.inclusionProof(index: index, size: newSize) == tree.inclusionProof(index: index, leafHashes: prefix))
            #expect(
                verifier.verifyConsistency(
                    oldSize: UInt64(oldSize), newSize: UInt64(newSize), oldRoot: log.root(size: oldSize), newRoot: log.root(size: newSize),
                    proof: log.consistencyProof(oldSize: oldSize, newSize: newSize)), "seed \(seed): \(oldSize) → \(newSize)")
        }
    }
}
