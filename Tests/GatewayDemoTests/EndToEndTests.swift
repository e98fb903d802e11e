import Foundation
import GatewayChain
import GatewayClient
import GatewayCrypto
import GatewayFiles
import GatewayDemo
import GatewayNode
import GatewayPolicy
import GatewaySchema
import GatewayStore
import GatewayTestSupport
import GatewayWire
import Testing

/// The demo scenario over real HTTP against a node on a fresh database, every outcome checked.
@Suite(.timeLimit(.minutes(10))) struct EndToEndTests {
    @Test(arguments: SuiteName.allCases)
    func theDemoScenarioProducesEveryOutcomeThePoliciesPrescribe(suite: SuiteName) async throws {
        let node = try await TestNode.start("e2e", suite: suite, paillierBits: 2048)
        let scenario = DemoScenario(
            baseURL: node.running.baseURL, consortium: node.consortium, suite: node.suite, genesis: node.running.node.genesis, recordCount: 1_000,
            nodeCertificate: node.running.node.configuration.tls?.certificatePEM
        )
        let lines = Lines()
        let report = try await scenario.run { lines.append($0) }
        try await node.running.stop()

        #expect(report.published == 1_000)
        // Social security: only the permitted fields, masked.
        let record = report.socialSecurityRecord.objectValue ?? [:]
        #expect(Set(record.keys) == ["citizen_id", "full_name", "birth_date", "district", "household_size", "monthly_income"])
        #expect(record["citizen_id"]?.stringValue?.hasPrefix("****") == true)
        #expect(record["birth_date"]?.stringValue?.count == 4)
        // Housing: denied with the reason, and the denial has an event id.
        #expect(report.housingDenial?.code == "access_denied")
        #expect(report.housingDenial?.detail.contains("default deny") == true)
        #expect(report.housingDenial?.eventId != nil)
        // Statistics: correct sums for released groups, the sparse district suppressed and never decrypted.
        let aggregate = try #require(report.aggregate)
        #expect(aggregate.minimumCohort == 10)
        for group in aggregate.groups {
            let district = group.key["district"]!.stringValue!
            if district == SyntheticCitizens.sparseDistrict {
                #expect(group.suppressed && group.sum == nil && group.mean == nil && group.count == nil)
            } else {
                #expect(!group.suppressed)
                #expect(group.sum == report.expectedSums[district])
            }
        }
        #expect(aggregate.groups.count == 7)
        // Regulator: every decision of the scenario is in the log with a verified proof.
        #expect(report.verifiedProofs == report.scenarioEvents.count)
        // Denied: housing's screening without a grant, the same after the grant's revocation, the trainee, and the
        // researcher's statistic beyond the privacy budget.
        #expect(report.scenarioEvents.map(\.decision).filter { $0 == "deny" }.count == 4)
        #expect(lines.all.contains { $0.contains("privacy_budget_exhausted") } && lines.all.contains { $0.contains("ε 0.5, noise scale") })
        let logged = Set(report.auditEvents.map(\.eventId))
        #expect(report.scenarioEvents.allSatisfy { logged.contains($0.eventID) })
        #expect(lines.all.contains { $0.contains("suppressed") })
    }

    @Test func theDemoCommandExitsZeroAndNarratesEachStep() async throws {
        let result = try await runProcess(
            TestPaths.gatewayBinary.path,
            [
                "demo", "--records", "200", "--database-url", TestDatabase.uniqueURL("demo"),
                "--policies", TestPaths.policies.path, "--schemas", TestPaths.schemas.path, "--aggregation-bits", "1024",
            ])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        for step in [
            "1. The civil registry publishes", "2. Social security", "3. Housing", "4. The statistics office", "5. A citizen asks",
            "410 record_erased", "6. The regulator", "7. Silos opened without pooling", "holder civil_registry", "holder social_security",
            "(3 of 4 needed)", "never decrypted",
            "budget is on chain", "with its share alone: refused", "8. Citizen", "hidden from the citizen until", "(covert, released in block",
            "Demo complete",
        ] {
            #expect(result.stdout.contains(step), "missing narration: \(step)")
        }
    }

    @Test func theDemoRefusesADatabaseItMustNotDrop() async throws {
        let result = try await runProcess(TestPaths.gatewayBinary.path, ["demo", "--database-url", "postgres://u:p@127.0.0.1/production"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("contains 'demo'"))
    }

    @Test(arguments: SuiteName.allCases) func generatedKeysLoadInOpenssl(suite: SuiteName) async throws {
        let dir = try TestPaths.temporaryDirectory("keys")
        let prefix = dir.appendingPathComponent("dept").path
        let generated = try await runProcess(TestPaths.gatewayBinary.path, ["keys", "generate", "--suite", suite.rawValue, "--out", prefix])
        #expect(generated.status == 0, "\(generated.stderr)")
        let text = try await runProcess("/usr/bin/openssl", ["pkey", "-in", prefix + "-key.pem", "-text", "-noout"])
        #expect(text.status == 0)
        #expect(text.stdout.contains(suite == .sm ? "SM2" : "ED25519"), "\(text.stdout.prefix(200))")
        #expect(try await runProcess("/usr/bin/openssl", ["pkey", "-pubin", "-in", prefix + "-pub.pem", "-noout"]).status == 0)
        let mode = try FileManager.default.attributesOfItem(atPath: prefix + "-key.pem")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test(arguments: SuiteName.allCases) func keysDealKeysAGenesisAndSealsEachShareToItsNode(suite: SuiteName) async throws {
        let dir = try TestPaths.temporaryDirectory("deal")
        let implementation = try suite.makeSuite()
        let keys = (1...3).map { _ in implementation.generateSigningKey() }
        let founding = Genesis(
            chainID: "ceremony", suite: suite,
            members: keys.enumerated().map { index, key in
                .init(
                    nodeID: "node-\(index + 1)", department: "d\(index)", role: .validator, publicKey: key.publicKey.pemRepresentation,
                    address: "h:\(index)")
            }, createdAtMs: 1_800_000_000_000)
        let genesisFile = dir.appendingPathComponent("founding.json")
        try founding.write(to: genesisFile)
        let out = dir.appendingPathComponent("out")
        let deal = { (arguments: [String]) in
            try await runProcess(TestPaths.gatewayBinary.path, ["keys", "deal", "--genesis", genesisFile.path, "--out", out.path] + arguments)
        }
        let result = try await deal(["--threshold", "2", "--bits", "1024"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("safe prime"))
        let keyed = try Genesis.load(from: out.appendingPathComponent("genesis.json"))
        #expect(keyed.aggregation?.holders == ["node-1", "node-2", "node-3"] && keyed.aggregation?.threshold == 2)
        #expect(keyed.hash(suite: implementation) != founding.hash(suite: implementation))
        let scheme = try #require(try keyed.aggregation?.scheme())
        let sealed = try (1...3).map {
            try JSONDecoder().decode(SealedKeyShare.self, from: Data(contentsOf: out.appendingPathComponent("node-\($0).aggregation-share.json")))
        }
        // Each share opens with its own node's key only, and matches its verification key.
        let shares = try sealed.enumerated().map { index, share in try share.open(with: keys[index], genesis: keyed) }
        #expect(throws: (any Error).self) { try sealed[0].open(with: keys[1], genesis: keyed) }
        for (index, share) in shares.enumerated() {
            let file = try String(contentsOf: out.appendingPathComponent("node-\(index + 1).aggregation-share.json"), encoding: .utf8)
            #expect(!file.contains(share.secret), "a share file holds its share in the clear")
            let mode =
                try FileManager.default.attributesOfItem(atPath: out.appendingPathComponent("node-\(index + 1).aggregation-share.json").path)[
                    .posixPermissions] as? Int
            #expect(mode == 0o600)
        }
        let c = try scheme.publicKey.encrypt(2026)
        #expect(
            try scheme.combine([scheme.partialDecrypt(c, share: shares[2]), scheme.partialDecrypt(c, share: shares[0])], for: c) == GMPInteger(2026))
        #expect(throws: (any Error).self) { try scheme.combine([scheme.partialDecrypt(c, share: shares[1])], for: c) }
        // A second ceremony into the same directory is refused, and so is a threshold above the validators.
        let again = try await deal(["--threshold", "2", "--bits", "1024"])
        #expect(again.status != 0 && again.stderr.contains("already holds"), "\(again.stderr)")
        // So is a directory holding only a share of another key (a deal for a node this genesis does not name).
        let stale = dir.appendingPathComponent("stale")
        try FileManager.default.createDirectory(at: stale, withIntermediateDirectories: true)
        try Data("old".utf8).write(to: stale.appendingPathComponent("node-9.aggregation-share.json"))
        let intoStale = try await runProcess(
            TestPaths.gatewayBinary.path, ["keys", "deal", "--genesis", genesisFile.path, "--out", stale.path, "--bits", "1024"])
        #expect(intoStale.status == 1 && intoStale.stderr.contains("node-9.aggregation-share.json"), "\(intoStale.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: stale.path) == ["node-9.aggregation-share.json"])
        let tooHigh = try await runProcess(
            TestPaths.gatewayBinary.path,
            ["keys", "deal", "--genesis", genesisFile.path, "--out", dir.appendingPathComponent("other").path, "--threshold", "4"])
        #expect(tooHigh.status != 0 && tooHigh.stderr.contains("threshold"), "\(tooHigh.stderr)")
    }

    @Test func everyCommandHasCompleteHelp() async throws {
        let serve = try await runProcess(TestPaths.gatewayBinary.path, ["serve", "--help"])
        #expect(serve.status == 0)
        for option in [
            "--host", "--port", "--database-url", "--data-dir", "--node-key", "--suite", "--log-level", "--policies", "--schemas",
            "--departments", "--node-id", "--department", "--max-body-bytes", "DATAGATEWAY_DATABASE_URL", "SIGTERM",
        ] {
            #expect(serve.stdout.contains(option), "serve --help lacks \(option)")
        }
        for option in ["--config", "--shutdown-timeout", "--tls-certificate", "--insecure-http"] {
            #expect(serve.stdout.contains(option), "serve --help lacks \(option)")
        }
        // Every command and subcommand, found from the top: its help exits 0, has an overview, and every option in it
        // says what it is.
        var pending: [[String]] = [[]]
        var seen: [String] = []
        while let path = pending.popLast() {
            let help = try await runProcess(TestPaths.gatewayBinary.path, path + ["--help"])
            let name = (["gateway"] + path).joined(separator: " ")
            seen.append(name)
            #expect(help.status == 0 && help.stdout.contains("OVERVIEW:"), "\(name) --help")
            let lines = help.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            var section = ""
            for (index, line) in lines.enumerated() {
                if !line.hasPrefix(" "), line.hasSuffix(":") { section = line }
                if section == "SUBCOMMANDS:", line.hasPrefix("  "), !line.hasPrefix("   "),
                    let sub = line.split(separator: " ").first.map(String.init), sub.first?.isLetter == true, sub != "See"
                {
                    pending.append(path + [sub.replacingOccurrences(of: " (default)", with: "")])
                }
                if section == "OPTIONS:", line.hasPrefix("  -"), !line.contains("--help"), !line.contains("--version") {
                    // After the option's own tokens (-x, --name <value> ...) comes its description.
                    let tokens = line.split(separator: " ")
                    let described = tokens.contains { !($0.hasPrefix("-") || $0.hasPrefix("<") || $0.hasPrefix("[") || $0 == "...") }
                    let next = index + 1 < lines.count ? lines[index + 1] : ""
                    #expect(described || next.hasPrefix("        "), "\(name): option without help: \(line)")
                }
            }
        }
        for command in ["gateway init", "gateway serve", "gateway client publish", "gateway backup", "gateway restore", "gateway keys deal"] {
            #expect(seen.contains(command), "\(command) is not reachable from gateway --help")
        }
    }
}

/// Collects narration lines from the scenario's callback.
final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}

/// Group commit of the access log: concurrent decisions share transactions, and each one's proof shows it.
@Suite struct AccessLogBatchingTests {
    @Test func concurrentDecisionsAreBatchedAndEachIsProvable() async throws {
        let node = try await TestNode.start("batching", suite: .intl)
        let housing = node.client(DemoConsortium.housing)
        let denials = try await withThrowingTaskGroup(of: String?.self) { group in
            for index in 0..<120 {
                group.addTask {
                    let response = try await housing.send(
                        "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C\(index)"], purpose: "tenant_screening")
                    )
                    return response.problem?.eventId
                }
            }
            var ids: [String] = []
            for try await id in group { if let id { ids.append(id) } }
            return ids
        }
        #expect(denials.count == 120)
        let regulator = node.client(DemoConsortium.regulator)
        let verifier = try ProofVerifier(genesis: node.running.node.genesis)
        var transactions = Set<[UInt8]>()
        for eventID in denials {
            let proof = try await regulator.send("GET", "/v1/audit/events/\(eventID)/proof").decode(API.ProofResponse.self)
            let verified = try verifier.verify(proof.proof)
            #expect(try verified.transaction.accessEvents().contains { $0.eventID == eventID && $0.decision == .deny })
            transactions.insert(verified.transaction.hash(suite: node.suite))
        }
        try await node.running.stop()
        // 120 decisions in flight at once do not need 120 signatures.
        #expect(transactions.count < denials.count, "\(transactions.count) transactions for \(denials.count) concurrent events")
    }
}

/// A peer that syncs asks for blocks older than any validator keeps in memory: they are rebuilt from PostgreSQL as
/// consensus blocks whose ids, links and certificates check out.
@Suite struct StoredBlockSyncTests {
    @Test func committedBlocksAreRebuiltFromStorageForAPeer() async throws {
        let node = try await TestNode.start("sync", suite: .intl)
        let housing = node.client(DemoConsortium.housing)
        for index in 0..<6 {
            _ = try await housing.send(
                "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C\(index)"], purpose: "tenant_screening"))
        }
        try await node.running.stop()
        let suite = node.suite
        let (tip, rebuilt, unknown) = try await Database.withDatabase(url: node.databaseURL, logger: TestDatabase.logger) { database in
            let store = ChainStore(database: database)
            let tip = try await store.height()
            let top = try #require(try await store.blocks(from: tip, limit: 1).first)
            let rebuilt = try await ChainService.committedBlocks(endingAt: top.header.hash(suite: suite), store: store, hash: { suite.hash($0) })
            let unknown = try await ChainService.committedBlocks(endingAt: [UInt8](repeating: 7, count: 32), store: store, hash: { suite.hash($0) })
            return (tip, rebuilt, unknown)
        }
        #expect(tip >= 6)
        #expect(rebuilt.count == min(16, Int(tip)))
        #expect(rebuilt.first?.height == tip)
        for (child, parent) in zip(rebuilt, rebuilt.dropFirst()) {
            #expect(child.parentID == parent.id && child.height == parent.height + 1)
            // The child's justify QC certifies the parent: a solo validator's signature over the parent's vote message.
            #expect(child.justify.blockID == parent.id && child.justify.signatures.count == 1)
        }
        for block in rebuilt { #expect(block.id == block.header.hash(suite: suite)) }
        // An unknown id gets nothing, never an error.
        #expect(unknown.isEmpty)
    }
}

/// Publishing the same batch again is idempotent, also after a restart: the answer waits for the anchor committed the
/// first time, which the restarted node finds in its chain tables (it never offered that transaction itself).
@Suite struct RepublishTests {
    @Test func anIdenticalRepublishAfterARestartReturnsTheOriginalAnchor() async throws {
        let node = try await TestNode.start("republish", suite: .intl)
        let records = SyntheticCitizens.generate(count: 5, seed: 11)
        let first = try await node.client(DemoConsortium.registry).send("POST", "/v1/records/citizen", json: API.PublishRequest(records: records))
        #expect(first.status == 201)
        let original = try first.decode(API.PublishResponse.self)
        let configuration = node.running.node.configuration
        try await node.running.stop()

        let restarted = try await RunningNode.start(configuration, logger: TestDatabase.logger)
        let registry = try node.consortium.client(
            DemoConsortium.registry, baseURL: restarted.baseURL, suite: node.suite, nodeCertificate: configuration.tls?.certificatePEM)
        let again = try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: records))
        try await restarted.stop()
        #expect(again.status == 201)
        let repeated = try again.decode(API.PublishResponse.self)
        #expect(repeated.accepted == 0 && repeated.alreadyPresent == 5)
        #expect(repeated.anchors == original.anchors)
    }
}

/// Forward sync as a node serves it: committed blocks from its PostgreSQL, with the proof that the last one is
/// committed, which a replica that has nothing (a follower here) adopts — real signatures, real storage.
@Suite struct ForwardSyncTests {
    @Test func aNodeServesCommittedBlocksThatAReplicaFarBehindAdopts() async throws {
        let node = try await TestNode.start("forward_sync", suite: .intl)
        defer { Task { try? await node.running.stop() } }
        let registry = node.client(DemoConsortium.registry)
        let citizens = SyntheticCitizens.generate(count: 18, seed: 100)
        for round in 0..<6 {
            let records = Array(citizens[(round * 3)..<(round * 3 + 3)])
            let response = try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: records))
            #expect(response.status == 201)
        }
        let chain = node.running.node.chain
        let genesis = node.running.node.genesis
        let suite = node.suite
        #expect(try await chain.syncBatch(from: 10_000, epoch: 0) == nil)
        let batch = try #require(try await chain.syncBatch(from: 1, epoch: 0))
        #expect(batch.blocks.first?.height == 1 && batch.blocks.count >= 2)

        var configuration = Replica.Configuration(replicas: 1)
        configuration.chainID = genesis.chainID
        let validator = try suite.verifyingKey(pem: genesis.validators[0].publicKey)
        var follower = Replica(
            id: 1, configuration: configuration, signer: SuiteConsensusSigner(replica: 1, key: suite.generateSigningKey(), validators: [validator]),
            hash: { suite.hash($0) }, rootID: genesis.hash(suite: suite)
        )
        var effects = follower.receive(.syncBlocks(batch), from: 0, now: 1)
        #expect(follower.committedHeight == batch.blocks.last!.height)
        // Batch after batch up to what the node has stored.
        while follower.committedHeight < (await chain.height) {
            let next = try #require(try await chain.syncBatch(from: follower.committedHeight + 1, epoch: 0))
            let before = follower.committedHeight
            effects = follower.receive(.syncBlocks(next), from: 0, now: 2)
            #expect(follower.committedHeight > before, "a served batch was not adopted")
            if follower.committedHeight == before { break }
        }
        #expect(effects.contains { if case .commit = $0 { true } else { false } })
        // The follower's chain is the node's.
        let stored = try await ChainStore(database: node.running.node.database).blocks(from: follower.committedHeight, limit: 1)
        #expect(follower.committed.last?.id == stored.first?.header.hash(suite: suite))
    }
}

/// `gateway policy check`: the repository's policies pass and print the bundle hash a node logs under; every broken
/// file is reported with file:line:column and the exit status says so.
@Suite struct PolicyCheckTests {
    @Test func theRepositoryPoliciesPassAndBrokenFilesAreReportedWithTheirLocation() async throws {
        let ok = try await runProcess(TestPaths.gatewayBinary.path, ["policy", "check", "--policies", TestPaths.policies.path])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains("policies in 1 file(s): OK") && ok.stdout.contains("bundle hash (sm): "))
        let dir = try TestPaths.temporaryDirectory("policy_check")
        try #"@id("fine") permit (principal, action, resource);"#.write(to: dir.appendingPathComponent("a.cedar"), atomically: true, encoding: .utf8)
        try "// broken\npermit (principal ==, action, resource);\n".write(
            to: dir.appendingPathComponent("b.cedar"), atomically: true, encoding: .utf8)
        try #"@id("x") @max_rows("many") permit (principal, action, resource);"#.write(
            to: dir.appendingPathComponent("c.cedar"), atomically: true, encoding: .utf8)
        let bad = try await runProcess(TestPaths.gatewayBinary.path, ["policy", "check", "--policies", dir.path])
        #expect(bad.status == 2, "policy errors are a negative answer (2), not a failure to run (1)")
        #expect(bad.stderr.contains("b.cedar:2:"), "\(bad.stderr)")
        #expect(bad.stderr.contains("c.cedar:1:"), "\(bad.stderr)")
        #expect(bad.stderr.contains("2 of 3 policy files have errors"), "\(bad.stderr)")
        // Two files that are fine alone but reuse a policy id fail as a bundle.
        try #"@id("fine") forbid (principal, action, resource);"#.write(to: dir.appendingPathComponent("b.cedar"), atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: dir.appendingPathComponent("c.cedar"))
        let duplicate = try await runProcess(TestPaths.gatewayBinary.path, ["policy", "check", "--policies", dir.path, "--schema", "none"])
        #expect(duplicate.status == 2 && duplicate.stderr.contains("duplicate policy id fine"), "\(duplicate.stderr)")
    }

    /// The bundle hash is computed one way, whatever the working directory: `policy check` run elsewhere finds the
    /// schema beside the policies and prints the hash a node computes from its --policies and --schemas; where no
    /// schema can be found it says so instead of hashing a bundle without one.
    @Test func theBundleHashDoesNotDependOnTheWorkingDirectory() async throws {
        let elsewhere = try TestPaths.temporaryDirectory("policy_cwd")
        let gateway = TestPaths.gatewayBinary.path
        let outside = try await runProcess(
            "/bin/sh", ["-c", "cd '\(elsewhere.path)' && '\(gateway)' policy check --policies '\(TestPaths.policies.path)'"])
        #expect(outside.status == 0, "\(outside.stderr)")
        let bundle = try PolicyBundle.load(from: TestPaths.policies, schemas: TestPaths.schemas)
        for name in SuiteName.allCases {
            let hash = Hex.encode(try name.makeSuite().hash(bundle.canonicalBytes))
            #expect(outside.stdout.contains("bundle hash (\(name.rawValue)): \(hash)"), "\(outside.stdout)")
        }
        // Policies copied where no schema is near: an error naming where it looked and how to give one.
        let copy = elsewhere.appendingPathComponent("policies")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        for file in try FileManager.default.contentsOfDirectory(atPath: TestPaths.policies.path) where file.hasSuffix(".cedar") {
            try FileManager.default.copyItem(at: TestPaths.policies.appendingPathComponent(file), to: copy.appendingPathComponent(file))
        }
        let lost = try await runProcess("/bin/sh", ["-c", "cd '\(elsewhere.path)' && '\(gateway)' policy check --policies '\(copy.path)'"])
        #expect(lost.status == 1 && lost.stderr.contains("no Cedar schema at") && lost.stderr.contains("--schema"), "\(lost.stderr)")
        #expect(!lost.stdout.contains("bundle hash"))
    }

    /// `gateway policy check --schema`: every policy the Cedar schema rejects is reported, located, and the check fails.
    @Test func schemaErrorsAreReportedWithTheirLocation() async throws {
        let dir = try TestPaths.temporaryDirectory("policy_schema")
        try """
        permit (principal, action == Action::"read", resource)
        when { principal.age > 3 };
        permit (principal == Dept::"x", action, resource);
        """.write(to: dir.appendingPathComponent("a.cedar"), atomically: true, encoding: .utf8)
        let schema = TestPaths.schemas.appendingPathComponent("policies.cedarschema.json").path
        let bad = try await runProcess(TestPaths.gatewayBinary.path, ["policy", "check", "--policies", dir.path, "--schema", schema])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("a.cedar:2:8: policy policy0: attribute `age` on entity type `Department` not found"), "\(bad.stderr)")
        #expect(bad.stderr.contains("a.cedar:3:1: policy policy1: unrecognized entity type `Dept`"), "\(bad.stderr)")
        #expect(bad.stderr.contains("schema error(s)"))
        let skipped = try await runProcess(TestPaths.gatewayBinary.path, ["policy", "check", "--policies", dir.path, "--schema", "none"])
        #expect(skipped.status == 0, "\(skipped.stderr)")
        let missing = try await runProcess(
            TestPaths.gatewayBinary.path, ["policy", "check", "--policies", dir.path, "--schema", "/nonexistent.json"])
        #expect(missing.status != 0 && missing.stderr.contains("--schema"))
    }

    /// `gateway policy test`: the demo's tests pass and cover every policy; a wrong expectation fails with the
    /// explanation, and a policy no case exercises is reported.
    @Test func policyTestsRunAndReportFailuresAndUntestedPolicies() async throws {
        let ok = try await runProcess(TestPaths.gatewayBinary.path, ["policy", "test", "--policies", TestPaths.policies.path])
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.contains(" 0 failed, 13 of 13 policies covered"), "\(ok.stdout)")
        let data = try Data(contentsOf: TestPaths.policies.appendingPathComponent("tests/demo.json"))
        var root = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        var cases = root["cases"] as! [[String: Any]]
        var housing = cases.first { ($0["name"] as! String).hasPrefix("housing reads a consenting citizen") }!
        var expect = housing["expect"] as! [String: Any]
        expect["obligations"] = ["fields": "citizen_id", "max_rows": "10"]
        housing["expect"] = expect
        cases = [housing]
        root["cases"] = cases
        let dir = try TestPaths.temporaryDirectory("policy_test")
        try JSONSerialization.data(withJSONObject: root).write(to: dir.appendingPathComponent("one.json"))
        let bad = try await runProcess(TestPaths.gatewayBinary.path, ["policy", "test", "--policies", TestPaths.policies.path, "--tests", dir.path])
        #expect(bad.status == 2)
        #expect(
            bad.stderr.contains("FAIL one.json: housing reads a consenting citizen") && bad.stderr.contains("expected obligations"), "\(bad.stderr)")
        #expect(bad.stderr.contains("UNTESTED policy regulators-audit"), "\(bad.stderr)")
    }

    /// The policy tools for authors and reviewers: a case may expect evaluation errors by policy id; --json reports of
    /// `policy test` and `policy explain`; `explain` over a whole test file; --quiet; coverage required or not; and the
    /// schema found beside the policies whatever the working directory.
    @Test func policyToolsReportAsJSONExpectErrorsAndRunFromAnyDirectory() async throws {
        let dir = try TestPaths.temporaryDirectory("policy_tools")
        let policies = dir.appendingPathComponent("Policies")
        let tests = policies.appendingPathComponent("tests")
        try FileManager.default.createDirectory(at: tests, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("Schemas"), withIntermediateDirectories: true)
        try """
        @id("adults")
        permit (principal, action, resource) when { context.age >= 18 };
        @id("nobody")
        forbid (principal, action, resource) when { context.factor * 4611686018427387904 > 1 };
        """.write(to: policies.appendingPathComponent("p.cedar"), atomically: true, encoding: .utf8)
        try
            #"{"": {"entityTypes": {"User": {}, "R": {}}, "actions": {"read": {"appliesTo": {"principalTypes": ["User"], "resourceTypes": ["R"], "context": {"type": "Record", "attributes": {"age": {"type": "Long"}, "factor": {"type": "Long"}}}}}}}}"#
            .write(to: dir.appendingPathComponent("Schemas/policies.cedarschema.json"), atomically: true, encoding: .utf8)
        func request(_ context: [String: Any]) -> [String: Any] {
            ["principal": #"User::"a""#, "action": #"Action::"read""#, "resource": #"R::"r""#, "context": context]
        }
        // With a factor that overflows, the forbid errs (Cedar skips it): a case says so with expect.errors.
        let cases: [[String: Any]] = [
            ["name": "an adult reads", "request": request(["age": 30, "factor": 0]), "expect": ["decision": "allow", "policies": ["adults"]]],
            [
                "name": "the ban's arithmetic overflows", "request": request(["age": 30, "factor": 5]),
                "expect": ["decision": "allow", "policies": ["adults"], "errors": ["nobody"]],
            ],
            ["name": "a minor", "request": request(["age": 9, "factor": 0]), "expect": ["decision": "deny", "policies": []]],
        ]
        try JSONSerialization.data(withJSONObject: ["cases": cases]).write(to: tests.appendingPathComponent("t.json"))
        // From another working directory: the schema is found beside the policies.
        let elsewhere = try TestPaths.temporaryDirectory("policy_tools_elsewhere")
        func gateway(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
            try await runProcess(TestPaths.gatewayBinary.path, arguments, directory: elsewhere)
        }
        let quiet = try await gateway(["policy", "test", "--policies", policies.path, "--quiet", "--no-require-coverage"])
        #expect(quiet.status == 0, "\(quiet.stdout)\(quiet.stderr)")
        #expect(!quiet.stdout.contains("ok   ") && quiet.stdout.contains("3 passed, 0 failed, 1 of 2 policies covered"), "\(quiet.stdout)")
        #expect(quiet.stderr.contains("untested policy nobody"))
        let required = try await gateway(["policy", "test", "--policies", policies.path])
        #expect(required.status == 2 && required.stderr.contains("UNTESTED policy nobody"), "\(required.stderr)")
        let report = try await gateway(["policy", "test", "--policies", policies.path, "--json", "--no-require-coverage"])
        #expect(report.status == 0, "\(report.stderr)")
        let parsed = try JSONSerialization.jsonObject(with: Data(report.stdout.utf8)) as! [String: Any]
        #expect(parsed["passed"] as? Int == 3 && parsed["failed"] as? Int == 0 && parsed["untested"] as? [String] == ["nobody"])
        let second = (parsed["cases"] as! [[String: Any]])[1]
        #expect((second["errors"] as! [[String: Any]]).first?["policy"] as? String == "nobody" && second["passed"] as? Bool == true)
        // Without expect.errors the same case fails, and says how to mean it.
        var unexpected = cases
        unexpected[1]["expect"] = ["decision": "allow", "policies": ["adults"]]
        try JSONSerialization.data(withJSONObject: ["cases": unexpected]).write(to: tests.appendingPathComponent("t.json"))
        let failing = try await gateway(["policy", "test", "--policies", policies.path, "--quiet", "--no-require-coverage"])
        #expect(failing.status == 2 && failing.stderr.contains("expect.errors"), "\(failing.stderr)")
        // explain over the whole file, as JSON: one object per case; a denial makes the answer negative (2).
        let explained = try await gateway([
            "policy", "explain", "--policies", policies.path, "--request", tests.appendingPathComponent("t.json").path, "--json",
        ])
        #expect(explained.status == 2, "\(explained.stderr)")
        let objects = try JSONSerialization.jsonObject(with: Data(explained.stdout.utf8)) as! [[String: Any]]
        #expect(objects.map { $0["decision"] as? String } == ["allow", "allow", "deny"])
        #expect(objects.map { $0["expectationMet"] as? Bool } == [true, false, true])
        #expect((objects[0]["explanation"] as? [String])?.isEmpty == false)
        let unreadable = try await gateway(["policy", "test", "--policies", dir.appendingPathComponent("missing").path])
        #expect(unreadable.status == 1, "a bundle that cannot be used is a failure to run (1)")
    }

    /// `gateway policy explain`: a denial names, for each policy in scope, the condition that failed and the part of it
    /// that decided; the exit status says allow (0) or deny (2).
    @Test func explainSaysWhichConditionFailed() async throws {
        let dir = try TestPaths.temporaryDirectory("policy_explain")
        func request(consents: [String]) throws -> String {
            let purpose: (String) -> [String: Any] = { ["__entity": ["type": "Purpose", "id": $0]] }
            let body: [String: Any] = [
                "request": [
                    "principal": #"Department::"housing""#, "action": #"Action::"read""#, "resource": #"Record::"r1""#,
                    "context": ["purpose": purpose("housing_allocation")],
                ],
                "entities": [
                    [
                        "uid": ["type": "Record", "id": "r1"], "attrs": ["consents": consents.map(purpose)],
                        "parents": [["type": "Category", "id": "citizen"]],
                    ]
                ],
            ]
            let file = dir.appendingPathComponent("request-\(consents.count).json")
            try JSONSerialization.data(withJSONObject: body).write(to: file)
            return file.path
        }
        let denied = try await runProcess(
            TestPaths.gatewayBinary.path, ["policy", "explain", "--policies", TestPaths.policies.path, "--request", try request(consents: [])])
        #expect(denied.status == 2, "\(denied.stderr)")
        #expect(denied.stdout.contains("decision: deny"))
        #expect(denied.stdout.contains("housing-allocation-with-consent (permit): when #1 is false (demo.cedar:"), "\(denied.stdout)")
        #expect(denied.stdout.contains("because context.purpose in resource.consents is false"), "\(denied.stdout)")
        #expect(denied.stdout.contains("regulators-audit (permit): not applicable — the principal is out of its scope"))
        let allowed = try await runProcess(
            TestPaths.gatewayBinary.path,
            ["policy", "explain", "--policies", TestPaths.policies.path, "--request", try request(consents: ["social_welfare"])])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(
            allowed.stdout.contains("obligations: fields citizen_id,district,household_size; masks citizen_id:hash; max rows 50"), "\(allowed.stdout)"
        )
        let missing = try await runProcess(TestPaths.gatewayBinary.path, ["policy", "explain", "--request", "/nonexistent.json"])
        #expect(missing.status != 0 && missing.stderr.contains("--request"))
    }
}
