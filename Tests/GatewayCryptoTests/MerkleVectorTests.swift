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
}
