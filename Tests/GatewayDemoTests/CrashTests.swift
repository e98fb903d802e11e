import Foundation
import GatewayChain
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewaySchema
import GatewayStore
import GatewayTestSupport
import GatewayWire
import PostgresNIO
import Testing

/// kill -9 a real `gateway serve` process in the middle of publish batches, restart it, and check that every
/// acknowledged record is there and anchored, that no batch is half-stored, and that the chain still verifies.
@Suite(.timeLimit(.minutes(10))) struct CrashTests {
    /// Acknowledged and attempted batches, shared by the publishing tasks.
    actor Ledgerbook {
        var acknowledged: [[String]] = []
        var attempted: [[String]] = []
        func attempt(_ ids: [String]) { attempted.append(ids) }
        func acknowledge(_ ids: [String]) { acknowledged.append(ids) }
    }

    struct Setup {
        let arguments: [String]
        let consortium: DemoConsortium
        let databaseURL: String
        let dataDirectory: URL

        /// The node created its TLS identity in its data directory on first start; clients pin that certificate.
        var nodeCertificate: String { (try? String(contentsOf: dataDirectory.appendingPathComponent("tls-cert.pem"), encoding: .utf8)) ?? "" }

        func client(_ department: String, port: Int) throws -> GatewayClient {
            try consortium.client(department, baseURL: "https://127.0.0.1:\(port)", suite: NationalSuite(), nodeCertificate: nodeCertificate)
        }
    }

    func setUp(_ label: String) async throws -> Setup {
        let suite = NationalSuite()
        let work = try TestPaths.temporaryDirectory(label)
        let url = try await TestDatabase.fresh(label)
        let consortium = try DemoConsortium.create(in: work.appendingPathComponent("departments"), suite: suite)
        let data = work.appendingPathComponent("node")
        let arguments = [
            "serve", "--port", "0", "--database-url", url, "--data-dir", data.path, "--departments", consortium.departmentsFile.path,
            "--policies", TestPaths.policies.path, "--schemas", TestPaths.schemas.path, "--node-id", "crash-node", "--log-level", "error",
        ]
        return Setup(arguments: arguments, consortium: consortium, databaseURL: url, dataDirectory: data)
    }

    static func batch(_ number: Int, size: Int) -> (ids: [String], records: [JSONValue]) {
        let records = SyntheticCitizens.generate(count: size, seed: UInt64(number)).enumerated().map { index, record -> JSONValue in
            guard case .object(var members) = record else { return record }
            members["citizen_id"] = .string(String(format: "C%07d", number * size + index))
            return .object(members)
        }
        return (records.map { $0["citizen_id"]!.stringValue! }, records)
    }

    @Test func killNineDuringPublishLosesNoAcknowledgedRecordAndHalfStoresNothing() async throws {
        let setup = try await setUp("crash")
        let server = try ServerProcess(arguments: setup.arguments)
        let port = try await server.waitForPort()
        let client = try setup.client(DemoConsortium.registry, port: port)
        let book = Ledgerbook()
        let batchSize = 8

        // Three publishers keep batches in flight; the kill lands after a few acknowledgements, mid-stream.
        let publishers = (0..<3).map { worker in
            Task {
                for round in 0..<1_000 {
                    let (ids, records) = Self.batch(worker * 1_000 + round, size: batchSize)
                    await book.attempt(ids)
                    guard let response = try? await client.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: records)) else {
                        return
                    }
                    if response.status == 201 { await book.acknowledge(ids) } else { return }
                }
            }
        }
        // A signed request is used once before the crash; it must still count as used after the restart (which listens
        // on another port: the signature leaves the host out, so only the nonce can refuse it there).
        let capturedTarget = "/v1/records/citizen/C9999999?purpose=registry_update"
        let captured = try client.signedHeaders("GET", capturedTarget, body: [], bindingAuthority: false)
        #expect(try await client.sendRaw("GET", capturedTarget, headers: captured).status == 404)
        while await book.acknowledged.count < 6 { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(Int.random(in: 0...150)))
        server.signal(SIGKILL)
        for publisher in publishers { await publisher.value }
        #expect(try await server.waitForExit(timeoutSeconds: 10) != nil)
        let acknowledged = await book.acknowledged
        let attempted = await book.attempted
        #expect(attempted.count > acknowledged.count, "the kill should interrupt at least one batch in flight")

        // Restart on the same database and data directory: the chain is verified from storage before it listens.
        let restarted = try ServerProcess(arguments: setup.arguments)
        let newPort = try await restarted.waitForPort()

        try await Database.withDatabase(url: setup.databaseURL, logger: TestDatabase.logger) { database in
            // The outbox left by the crash is committed after restart.
            var pending = 1
            for _ in 0..<200 where pending > 0 {
                pending = try await ChainStore(database: database).pending(limit: 10).count
                if pending > 0 { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(pending == 0)
            var stored: [String: Bool] = [:]  // record id → anchored
            let rows = try await database.client.query(
                "SELECT r.record_id, a.record_key IS NOT NULL FROM records r LEFT JOIN anchored_records a ON a.record_key = r.record_key"
            )
            for try await (id, anchored) in rows.decode((String, Bool).self) { stored[id] = anchored }
            for ids in acknowledged {
                for id in ids { #expect(stored[id] == true, "acknowledged record \(id) missing or unanchored") }
            }
            for ids in attempted {
                let present = ids.filter { stored[$0] != nil }.count
                #expect(present == 0 || present == ids.count, "batch half-stored: \(present) of \(ids.count)")
            }
            #expect(stored.values.allSatisfy { $0 }, "a stored record has no anchor")
        }

        // The restarted node serves the acknowledged records, verified against their anchors.
        let reader = try setup.client(DemoConsortium.registry, port: newPort)
        // And refuses the request captured before the crash: its nonce was recorded durably.
        let replay = try await reader.sendRaw("GET", capturedTarget, headers: captured)
        #expect(replay.status == 401 && replay.problem?.code == "replayed_request")
        let sample = acknowledged.flatMap { $0 }.prefix(40)
        let read = try await reader.send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: Array(sample), purpose: "registry_update"))
        #expect(read.status == 200)
        #expect(try read.decode(API.RecordsResponse.self).records.count == sample.count)

        // SIGTERM shuts down gracefully and promptly.
        restarted.signal(SIGTERM)
        #expect(try await restarted.waitForExit(timeoutSeconds: 15) == 0)
    }

    /// A restart listens before its chain is verified: while the stored blocks cannot be read yet (a test holds an
    /// exclusive lock on them, so the node is caught mid-start whatever the machine's speed), health answers
    /// `starting`, readiness is 503 and data requests get 503 `node_starting` with Retry-After; once the lock is
    /// released the node verifies, prints READY and serves.
    @Test func aRestartListensBeforeItsChainIsVerifiedAndServesNoDataUntilItIs() async throws {
        let setup = try await setUp("listen_first")
        let first = try ServerProcess(arguments: setup.arguments)
        let firstPort = try await first.waitForPort()
        let registry = { @Sendable (port: Int) in try setup.client(DemoConsortium.registry, port: port) }
        let (ids, records) = Self.batch(7, size: 4)
        #expect(try await registry(firstPort).send("POST", "/v1/records/citizen", json: API.PublishRequest(records: records)).status == 201)
        first.signal(SIGTERM)
        #expect(try await first.waitForExit(timeoutSeconds: 30) == 0)

        let restarted = try await Database.withDatabase(url: setup.databaseURL, logger: TestDatabase.logger) { database in
            try await database.transaction { connection in
                try await connection.query("LOCK TABLE blocks IN ACCESS EXCLUSIVE MODE", logger: TestDatabase.logger)
                let restarted = try ServerProcess(arguments: setup.arguments)
                let port = try await restarted.waitForListening()
                let client = try registry(port)
                let health = try await client.sendRaw("GET", "/v1/health", headers: [])
                #expect(health.status == 200)
                #expect(try health.decode(API.Health.self).status == "starting")
                let ready = try await client.sendRaw("GET", "/v1/ready", headers: [])
                #expect(ready.status == 503)
                #expect(try ready.decode(API.Readiness.self).reasons.contains { $0.contains("starting") })
                for (method, target, body) in [
                    ("GET", "/v1/records/citizen/\(ids[0])?purpose=registry_update", [UInt8]()),
                    ("POST", "/v1/records/citizen", Array(try JSONEncoder().encode(API.PublishRequest(records: records)))),
                    ("GET", "/v1/audit/events?limit=1", []),
                ] {
                    let refused = try await client.send(method, target, body: body)
                    #expect(refused.status == 503 && refused.problem?.code == "node_starting", "\(method) \(target): \(refused.status)")
                    #expect(refused.retryAfter == "1")
                }
                // An unsigned request is refused the same way: nothing is looked at before the chain is verified.
                #expect(try await client.sendRaw("GET", "/v1/chain/blocks", headers: []).problem?.code == "node_starting")
                return restarted
            }
        }
        // The lock is released with the transaction's commit: the start continues.
        let port = try await restarted.waitForPort()
        let client = try registry(port)
        #expect(try await client.sendRaw("GET", "/v1/health", headers: []).decode(API.Health.self).status == "ok")
        let read = try await client.send("GET", "/v1/records/citizen/\(ids[0])?purpose=registry_update")
        #expect(read.status == 200, "\(read.status) \(String(decoding: read.body, as: UTF8.self))")
        restarted.signal(SIGTERM)
        #expect(try await restarted.waitForExit(timeoutSeconds: 30) == 0)
    }

    @Test func verifyProofChecksAProofWithOnlyTheGenesisFile() async throws {
        let setup = try await setUp("proof")
        let server = try ServerProcess(arguments: setup.arguments)
        let port = try await server.waitForPort()
        let base = "https://127.0.0.1:\(port)"
        let housing = try setup.client(DemoConsortium.housing, port: port)
        let denied = try await housing.send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "tenant_screening"))
        let eventID = try #require(denied.problem?.eventId)
        let regulator = try setup.client(DemoConsortium.regulator, port: port)
        let proof = try await regulator.send("GET", "/v1/audit/events/\(eventID)/proof")
        #expect(proof.status == 200)

        // `gateway observe` follows the node as the regulator and verifies every block into its own database.
        let keyFile = setup.consortium.departmentsFile.deletingLastPathComponent().appendingPathComponent("\(DemoConsortium.regulator)-key.pem")
        let observerDatabase = try await TestDatabase.fresh("observe_cli")
        let observed = try await runProcess(
            TestPaths.gatewayBinary.path,
            [
                "observe", "--once", "--genesis", setup.dataDirectory.appendingPathComponent("genesis.json").path, "--peer", base,
                "--key", keyFile.path, "--database-url", observerDatabase,
                "--server-certificate", setup.dataDirectory.appendingPathComponent("tls-cert.pem").path,
                "--client-certificate", keyFile.deletingLastPathComponent().appendingPathComponent("\(DemoConsortium.regulator)-tls-cert.pem").path,
                "--client-key", keyFile.deletingLastPathComponent().appendingPathComponent("\(DemoConsortium.regulator)-tls-key.pem").path,
            ])
        #expect(observed.status == 0, "\(observed.stdout) \(observed.stderr)")
        #expect(observed.stdout.contains("verified block") && observed.stderr.contains("caught up at height"))
        // The same observer database under another chain's genesis: named as another chain, not as an altered database.
        let chainGenesis = try Genesis.load(from: setup.dataDirectory.appendingPathComponent("genesis.json"))
        let otherGenesis = setup.dataDirectory.deletingLastPathComponent().appendingPathComponent("other-genesis.json")
        try Genesis(chainID: "another-chain", suite: chainGenesis.suite, members: chainGenesis.members, createdAtMs: chainGenesis.createdAtMs)
            .write(to: otherGenesis)
        let foreign = try await runProcess(
            TestPaths.gatewayBinary.path,
            ["observe", "--once", "--genesis", otherGenesis.path, "--peer", base, "--key", keyFile.path, "--database-url", observerDatabase])
        #expect(foreign.status == 1 && foreign.stderr.contains("another chain's") && !foreign.stderr.contains("altered"), "\(foreign.stderr)")
        server.signal(SIGTERM)
        _ = try await server.waitForExit(timeoutSeconds: 15)

        let dir = try TestPaths.temporaryDirectory("proof-cli")
        let proofPath = dir.appendingPathComponent("proof.json").path
        try Data(proof.body).write(to: URL(fileURLWithPath: proofPath))
        let genesis = setup.dataDirectory.appendingPathComponent("genesis.json").path
        let ok = try await runProcess(TestPaths.gatewayBinary.path, ["verify-proof", "--genesis", genesis, proofPath])
        #expect(ok.status == 0, "\(ok.stdout) \(ok.stderr)")
        #expect(ok.stdout.contains(eventID) && ok.stdout.contains("deny"))

        // Flip one character of the signed header: the proof must be rejected.
        var tampered = String(decoding: proof.body, as: UTF8.self)
        let response = try JSONDecoder().decode(API.ProofResponse.self, from: Data(proof.body))
        let header = response.proof.header
        let flippedDigit: Character = header.last == "0" ? "1" : "0"
        tampered = tampered.replacingOccurrences(of: header, with: String(header.dropLast()) + String(flippedDigit))
        try tampered.write(toFile: proofPath, atomically: true, encoding: .utf8)
        let bad = try await runProcess(TestPaths.gatewayBinary.path, ["verify-proof", "--genesis", genesis, proofPath])
        #expect(bad.status == 2, "an invalid proof is a negative answer")
        #expect(bad.stdout.contains("INVALID"))
    }
}

/// A `gateway serve` that cannot start says why in the test failure: the harness keeps the end of its standard error.
@Suite struct ServerProcessTests {
    @Test func aNodeThatFailsToStartReportsItsStandardError() async throws {
        let server = try ServerProcess(arguments: ["serve", "--no-such-option"])
        do {
            _ = try await server.waitForPort()
            Issue.record("a serve with an unknown option started")
        } catch {
            #expect("\(error)".contains("no-such-option"), "\(error)")
        }
    }
}
