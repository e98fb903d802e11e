import Foundation
import GatewayChain
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewayStore
import GatewayTestSupport
import GatewayWire
import NIOCore
import PostgresNIO
import Testing

/// A live node's signed head of the access log: its size and root are those of the access events its stored blocks
/// carry (recomputed here from the transactions table), consistency proofs join its heads over time and across a
/// restart (the log rebuilt from the blocks at start is the one that grew), bad sizes get a problem, and `gateway audit
/// consistency` accepts the node's views and names a contradicting head signed with its key.
@Suite(.serialized, .timeLimit(.minutes(10))) struct AccessLogHeadLiveTests {
    /// The log's leaf hashes from the transactions table, in log order (independent of the node's tree).
    static func leaves(_ url: String, suite: any CryptoSuite) async throws -> [[UInt8]] {
        let tree = MerkleTree(suite: suite)
        return try await Database.withDatabase(url: url, logger: TestDatabase.logger) { database in
            var out: [[UInt8]] = []
            let rows = try await database.client.query(
                "SELECT body FROM transactions WHERE kind IN (\(Int16(Transaction.Kind.accessLog.rawValue)), \(Int16(Transaction.Kind.accessLogBatch.rawValue))) ORDER BY height, tx_index"
            )
            for try await body in rows.decode(ByteBuffer.self) {
                for event in try Transaction(decoding: Array(body.readableBytesView)).accessEvents() { out.append(tree.leafHash(event.encoded)) }
            }
            return out
        }
    }

    func head(_ client: GatewayClient) async throws -> API.AccessLogHeadBody {
        let response = try await client.send("GET", "/v1/audit/log/head")
        #expect(response.status == 200, "\(response.problem?.detail ?? "")")
        return try response.decode(API.AccessLogHeadBody.self)
    }

    @Test func headsAreTheBlocksLogAndStayConsistentAcrossARestart() async throws {
        let node = try await TestNode.start("log_head", suite: .intl)
        let registry = node.client(DemoConsortium.registry)
        let regulator = node.client(DemoConsortium.regulator)
        #expect(
            try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: SyntheticCitizens.generate(count: 6, seed: 9)))
                .status == 201)
        let housing = node.client(DemoConsortium.housing)
        _ = try await housing.send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "tenant_screening"))
        let key = node.running.node.signingKey.publicKey
        let tree = MerkleTree(suite: node.suite)
        let verifier = MerkleVerifier(suite: node.suite)

        let first = try #require(try await head(regulator).head)
        #expect(first.isSigned(by: key) && first.nodeID == "test-node")
        var leaves = try await Self.leaves(node.databaseURL, suite: node.suite)
        #expect(first.size == UInt64(leaves.count) && first.size >= 1)
        #expect(first.root == tree.root(leafHashes: leaves))
        #expect(first.height == UInt64(try await IntegrityTests.integer(node.databaseURL, "SELECT max(height)::int FROM blocks")))

        // Two more accesses (one allowed, one denied): the log grows, and the node proves the new head extends the old.
        _ = try await node.client(DemoConsortium.socialSecurity).send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C0000002"], purpose: "benefit_eligibility"))
        _ = try await housing.send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C0000003"], purpose: "tenant_screening"))
        let second = try #require(try await head(regulator).head)
        #expect(second.size == first.size + 2)
        let proof = try await regulator.send("GET", "/v1/audit/log/consistency?from=\(first.size)&to=\(second.size)").decode(
            API.AccessLogConsistency.self)
        #expect(
            verifier.verifyConsistency(
                oldSize: first.size, newSize: second.size, oldRoot: first.root, newRoot: second.root, proof: proof.proof.compactMap(Hex.decode)))
        let inclusion = try await regulator.send("GET", "/v1/audit/log/inclusion?index=0&size=\(second.size)").decode(API.AccessLogInclusion.self)
        leaves = try await Self.leaves(node.databaseURL, suite: node.suite)
        #expect(inclusion.leafHash == Hex.encode(leaves[0]))
        #expect(
            verifier.verifyInclusion(
                leafIndex: 0, treeSize: second.size, leafHash: leaves[0], proof: inclusion.proof.compactMap(Hex.decode), root: second.root))

        // Sizes outside the log, missing or not numbers: a problem with a stable code, not a crash.
        for target in [
            "/v1/audit/log/consistency?from=0&to=1", "/v1/audit/log/consistency?from=2&to=1",
            "/v1/audit/log/consistency?from=1&to=\(second.size + 1)",
            "/v1/audit/log/consistency?from=1", "/v1/audit/log/consistency?from=x&to=2",
            "/v1/audit/log/consistency?from=1&to=99999999999999999999999",
            "/v1/audit/log/inclusion?index=\(second.size)&size=\(second.size)",
        ] {
            let refused = try await regulator.send("GET", target)
            #expect(refused.status == 400 && refused.problem?.code == "invalid_request", "\(target): \(refused.status)")
        }

        // `gateway audit consistency`: the live node against the head kept from before, then a contradicting head.
        let work = try TestPaths.temporaryDirectory("log_head_cli")
        let saved = work.appendingPathComponent("first.json")
        try JSONEncoder().encode(API.AccessLogHeadBody(first)).write(to: saved)
        let configuration = node.running.node.configuration
        let keys = node.consortium.departmentsFile.deletingLastPathComponent()
        let common = [
            "audit", "consistency", "--genesis", configuration.dataDirectory.appendingPathComponent("genesis.json").path,
            "--key", keys.appendingPathComponent("\(DemoConsortium.regulator)-key.pem").path,
            "--server-certificate", try #require(node.tlsCertificateFile).path,
            "--client-certificate", keys.appendingPathComponent("\(DemoConsortium.regulator)-tls-cert.pem").path,
            "--client-key", keys.appendingPathComponent("\(DemoConsortium.regulator)-tls-key.pem").path,
        ]
        let agreed = try await runProcess(
            TestPaths.gatewayBinary.path, common + ["--node", node.running.baseURL, "--head", saved.path, "--save-heads", work.path])
        #expect(agreed.status == 0 && agreed.stdout.contains("OK: 1 pair(s) of heads consistent"), "\(agreed.stdout)\(agreed.stderr)")
        #expect(FileManager.default.fileExists(atPath: work.appendingPathComponent("test-node-\(second.size).json").path))
        // The node's key signs a head of the same size as the first with another root: a view of its own.
        let contradicting = try AccessLogHead(
            chainID: first.chainID, nodeID: first.nodeID, size: first.size, height: first.height, root: tree.root(leafHashes: [tree.leafHash([1])]),
            timestampMs: first.timestampMs, signer: node.running.node.signingKey)
        let other = work.appendingPathComponent("other.json")
        try JSONEncoder().encode(API.AccessLogHeadBody(contradicting)).write(to: other)
        let split = try await runProcess(TestPaths.gatewayBinary.path, common + ["--head", saved.path, "--head", other.path, "--json"])
        #expect(split.status == 2, "\(split.stdout)\(split.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(split.stdout.utf8)) as? [String: Any]
        #expect(report?["splitViewNodes"] as? [String] == ["test-node"], "\(split.stdout)")
        #expect((report?["conflicts"] as? [[String: Any]])?.first?["heads"] as? [Any] != nil)

        // After a restart the log is rebuilt from the stored blocks: the same tree, which the node proves extends both heads.
        try await node.running.stop()
        let restarted = try await RunningNode.start(configuration, logger: TestDatabase.logger)
        var again = try node.consortium.client(
            DemoConsortium.regulator, baseURL: restarted.baseURL, suite: node.suite, nodeCertificate: configuration.tls?.certificatePEM)
        again.nodeKey = key
        let third = try #require(try await head(again).head)
        #expect(third.size == second.size && third.root == second.root, "the rebuilt log is the one that grew")
        let fromFirst = try await again.send("GET", "/v1/audit/log/consistency?from=\(first.size)&to=\(third.size)").decode(
            API.AccessLogConsistency.self)
        #expect(
            verifier.verifyConsistency(
                oldSize: first.size, newSize: third.size, oldRoot: first.root, newRoot: third.root, proof: fromFirst.proof.compactMap(Hex.decode)))
        try await restarted.stop()
    }
}
