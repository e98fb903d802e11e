import Foundation
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

/// What an insider with write access to a node's PostgreSQL can do, and what the node makes of it.
@Suite(.serialized, .timeLimit(.minutes(10))) struct IntegrityTests {
    static func execute(_ url: String, _ statements: [String]) async throws {
        try await Database.withDatabase(url: url, logger: TestDatabase.logger) { database in
            for statement in statements {
                do {
                    try await database.client.query(PostgresQuery(unsafeSQL: statement))
                } catch {
                    throw NodeError("\(statement): \(String(reflecting: error))")
                }
            }
        }
    }

    static func text(_ url: String, _ sql: String) async throws -> String {
        try await Database.withDatabase(url: url, logger: TestDatabase.logger) { database in
            for try await value in try await database.client.query(PostgresQuery(unsafeSQL: sql)).decode(String.self) { return value }
            return ""
        }
    }

    static func integer(_ url: String, _ sql: String) async throws -> Int {
        try await Database.withDatabase(url: url, logger: TestDatabase.logger) { database in
            for try await value in try await database.client.query(PostgresQuery(unsafeSQL: sql)).decode(Int.self) { return value }
            return 0
        }
    }

    /// The newest blocks are deleted (with their transactions and derived rows) while the validator's persisted safety
    /// state still certifies them. A solo validator has nobody to fetch them from: it refuses to start and names the
    /// heights — it used to log "chain ready" and die of a stack overflow seconds later.
    @Test func aSoloValidatorWhoseStoredChainLostItsTailRefusesToStartAndNamesTheHeights() async throws {
        let node = try await TestNode.start("cut_tail")
        let registry = node.client(DemoConsortium.registry)
        for batch in 0..<6 {
            let records = SyntheticCitizens.generate(count: 3, seed: UInt64(100 + batch)).enumerated().map { index, record -> JSONValue in
                guard case .object(var members) = record else { return record }
                members["citizen_id"] = .string(String(format: "C%07d", 500 + batch * 3 + index))
                return .object(members)
            }
            #expect(try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: records)).status == 201)
        }
        let configuration = node.running.node.configuration
        try await node.running.stop()
        let top = try await Self.integer(node.databaseURL, "SELECT max(height)::int FROM blocks")
        #expect(top >= 6)
        let cut = top - 3
        try await Self.execute(
            node.databaseURL,
            DerivedRows.Table.allCases.map { "DELETE FROM \($0.rawValue) WHERE height > \(cut)" } + [
                "DELETE FROM skipped_transactions WHERE height > \(cut)", "DELETE FROM transactions WHERE height > \(cut)",
                "DELETE FROM blocks WHERE height > \(cut)",
            ])
        do {
            let restarted = try await RunningNode.start(configuration, logger: TestDatabase.logger)
            try? await restarted.stop()
            Issue.record("a solo validator started on a chain that lost its tail")
        } catch {
            let message = "\(error)"
            #expect(message.contains("stored chain ends at height \(cut)"), "\(message)")
            #expect(message.contains("blocks \(cut + 1)…"), "\(message)")
        }
    }

    /// Rows of the tables derived from blocks edited, deleted or added in PostgreSQL are found at start, each located
    /// (table, key, height); the affected data is refused with 503 until `gateway rebuild-derived` writes the tables
    /// again from the verified blocks. The restarted node then serves what the chain says.
    @Test func derivedTablesAreProvenAgainstTheBlocksAtStartAndRebuiltOnRequest() async throws {
        let node = try await TestNode.start("derived", suite: .intl)
        let registry = node.client(DemoConsortium.registry)
        #expect(
            try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: SyntheticCitizens.generate(count: 12, seed: 3)))
                .status == 201)
        let housing = node.client(DemoConsortium.housing)
        let denied = try await housing.send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "tenant_screening"))
        #expect(denied.status == 403)
        let deniedEvent = try #require(denied.problem?.eventId)
        let regulator = node.client(DemoConsortium.regulator)
        let before = try await regulator.send("GET", "/v1/audit/events?limit=1000").decode(API.AuditPage.self).events
        let configuration = node.running.node.configuration
        try await node.running.stop()

        let victim = try #require(before.first { $0.eventId != deniedEvent && $0.requester == DemoConsortium.registry })
        try await Self.execute(
            node.databaseURL,
            [
                "UPDATE access_events SET decision = 'allow', requester = 'civil_registry' WHERE event_id = '\(deniedEvent)'",
                "DELETE FROM access_events WHERE event_id = '\(victim.eventId)'",
                "INSERT INTO access_events SELECT 'forged-event', height, tx_hash, requester, action, category, purpose, decision, policies, record_count, bundle_hash, timestamp_ms, role, grant_id FROM access_events WHERE event_id = '\(deniedEvent)'",
                "UPDATE anchored_records SET record_hash = sha256(record_hash) WHERE record_key = (SELECT record_key FROM anchored_records ORDER BY record_key LIMIT 1)",
                // A citizen's list reads access_records: a row taken away hides an access from the citizen; a release
                // forged into released_events would show a covert one early.
                "DELETE FROM access_records WHERE event_id = '\(deniedEvent)'",
                "INSERT INTO released_events SELECT event_id, requester, height, tx_hash FROM access_events WHERE event_id = '\(deniedEvent)'",
            ])

        let tampered = try await RunningNode.start(configuration, logger: TestDatabase.logger)
        let problems = await tampered.node.chain.derivedStateProblems
        func has(_ table: String, _ key: String?, _ kind: DerivedStateProblem.Kind) -> Bool {
            // Keys name the transaction too (`event:tx`): one id that two transactions carry is two rows.
            problems.contains { problem in
                problem.table.rawValue == table && (key.map { problem.key.hasPrefix($0 + ":") } ?? true) && problem.kind == kind && problem.height > 0
            }
        }
        #expect(has("access_events", deniedEvent, .altered), "\(problems)")
        #expect(has("access_events", victim.eventId, .missing), "\(problems)")
        #expect(has("access_events", "forged-event", .unexpected), "\(problems)")
        #expect(has("anchored_records", nil, .altered), "\(problems)")
        #expect(problems.contains { $0.table == .accessRecords && $0.key.contains(":" + deniedEvent + ":") && $0.kind == .missing }, "\(problems)")
        #expect(problems.contains { $0.table == .releasedEvents && $0.key.hasPrefix(deniedEvent + ":") && $0.kind == .unexpected }, "\(problems)")
        let refusedClient = try node.consortium.client(
            DemoConsortium.regulator, baseURL: tampered.baseURL, suite: node.suite, nodeCertificate: configuration.tls?.certificatePEM)
        let refused = try await refusedClient.send("GET", "/v1/audit/events?limit=10")
        #expect(refused.status == 503 && refused.problem?.code == "derived_state_mismatch", "\(String(decoding: refused.body, as: UTF8.self))")
        #expect(refused.problem?.detail.contains("access_events") == true && refused.problem?.detail.contains("gateway rebuild-derived") == true)
        let read = try await node.consortium.client(
            DemoConsortium.registry, baseURL: tampered.baseURL, suite: node.suite, nodeCertificate: configuration.tls?.certificatePEM
        )
        .send("POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "registry_update"))
        #expect(read.status == 503 && read.problem?.detail.contains("anchored_records") == true)
        try await tampered.stop()

        let rebuilt = try await runProcess(
            TestPaths.gatewayBinary.path,
            [
                "rebuild-derived", "--database-url", node.databaseURL, "--data-dir", configuration.dataDirectory.path,
            ])
        #expect(rebuilt.status == 0, "\(rebuilt.stdout)\n\(rebuilt.stderr)")
        #expect(rebuilt.stdout.contains("rebuilt from"), "\(rebuilt.stdout)")

        let healed = try await RunningNode.start(configuration, logger: TestDatabase.logger)
        defer { Task { try? await healed.stop() } }
        #expect(await healed.node.chain.derivedStateProblems.isEmpty)
        let after = try await node.consortium.client(
            DemoConsortium.regulator, baseURL: healed.baseURL, suite: node.suite, nodeCertificate: configuration.tls?.certificatePEM
        )
        .send("GET", "/v1/audit/events?limit=1000").decode(API.AuditPage.self).events
        #expect(after.first { $0.eventId == deniedEvent }?.decision == "deny")
        #expect(after.contains { $0.eventId == victim.eventId })
        #expect(!after.contains { $0.eventId == "forged-event" })
        try await healed.stop()

        // A node upgraded from a version without access_records: the migration marks the table, and the first start
        // fills it from the stored blocks before the derived state is proven.
        try await Self.execute(
            node.databaseURL, ["DELETE FROM access_records", "INSERT INTO derived_backfills (table_name) VALUES ('access_records')"])
        let upgraded = try await RunningNode.start(configuration, logger: TestDatabase.logger)
        defer { Task { try? await upgraded.stop() } }
        #expect(await upgraded.node.chain.derivedStateProblems.isEmpty)
        let citizen = try await upgraded.node.exchange.citizens.accesses(citizenID: "C0000001")
        #expect(citizen.accesses.contains { $0.eventId == deniedEvent && $0.decision == "deny" && $0.requester == DemoConsortium.housing })
        #expect(try await Self.integer(node.databaseURL, "SELECT count(*)::bigint FROM derived_backfills") == 0)
    }

    /// Aggregate inputs — a record's dimensions and its Paillier ciphertexts — are part of what is anchored for it. Each
    /// way of changing a statistic without decrypting anything is refused, located by salted record key, and counted.
    @Test(arguments: [
        // One ciphertext copied over twenty records (the district's sum changes silently).
        [
            """
            UPDATE record_aggregates SET ciphertext = (SELECT ciphertext FROM record_aggregates WHERE field = 'monthly_income' ORDER BY record_id LIMIT 1)
            WHERE field = 'monthly_income' AND record_id IN (SELECT record_id FROM record_aggregates ORDER BY record_id OFFSET 1 LIMIT 20)
            """
        ],
        // One citizen moved to another district between two queries (subtraction reveals their income).
        [
            """
            UPDATE records SET dimensions = jsonb_set(dimensions, '{district}', to_jsonb(CASE WHEN dimensions->>'district' = 'Taipa' THEN 'Coloane' ELSE 'Taipa' END))
            WHERE record_id = (SELECT min(record_id) FROM records)
            """
        ],
        // Two records swap their ciphertexts.
        [
            """
            UPDATE record_aggregates a SET ciphertext = b.ciphertext FROM record_aggregates b
            WHERE a.field = 'monthly_income' AND b.field = 'monthly_income'
              AND a.record_id = (SELECT min(record_id) FROM records) AND b.record_id = (SELECT max(record_id) FROM records)
            """
        ],
        // A ciphertext of the record's other aggregate field altered (the anchor covers every field, not only the one asked).
        [
            "UPDATE record_aggregates SET ciphertext = ciphertext || '\\x00'::bytea WHERE field = 'household_size' AND record_id = (SELECT min(record_id) FROM records)"
        ],
    ])
    func alteredAggregateInputsAreRefusedAndLocated(tampering: [String]) async throws {
        let node = try await TestNode.start("aggregate_tamper", suite: .intl)
        defer { Task { try? await node.running.stop() } }
        let registry = node.client(DemoConsortium.registry)
        #expect(
            try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: SyntheticCitizens.generate(count: 40, seed: 9)))
                .status == 201)
        let statistics = node.client(DemoConsortium.statistics)
        let ask = API.AggregateRequest(category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "official_statistics")
        #expect(try await statistics.send("POST", "/v1/aggregates", json: ask).status == 200)

        try await Self.execute(node.databaseURL, tampering)
        let refused = try await statistics.send("POST", "/v1/aggregates", json: ask)
        #expect(refused.status == 500, "\(String(decoding: refused.body, as: UTF8.self))")
        #expect(refused.problem?.code == "record_integrity_failure")
        #expect(refused.problem?.detail.contains("record key") == true, "\(refused.problem?.detail ?? "")")
        let health = try await registry.send("GET", "/v1/health").decode(API.Health.self)
        #expect(health.integrityFailures == 1)
    }

    /// A read names the refused record by its position in the request, and every kind of alteration of a record's
    /// aggregate inputs is caught on reads too (the anchor covers them).
    @Test func aTamperedRecordInAMultiIdReadIsNamedByPosition() async throws {
        let node = try await TestNode.start("read_tamper")
        defer { Task { try? await node.running.stop() } }
        let citizens = SyntheticCitizens.generate(count: 5, seed: 21)
        let ids = citizens.map { $0["citizen_id"]!.stringValue! }
        #expect(
            try await node.client(DemoConsortium.registry).send("POST", "/v1/records/citizen", json: API.PublishRequest(records: citizens)).status
                == 201)
        try await Self.execute(
            node.databaseURL,
            [
                "UPDATE records SET dimensions = jsonb_set(dimensions, '{district}', '\"Elsewhere\"') WHERE record_id = '\(ids[3])'"
            ])
        let read = try await node.client(DemoConsortium.socialSecurity).send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ids, purpose: "benefit_eligibility"))
        #expect(read.status == 500)
        #expect(read.problem?.code == "record_integrity_failure")
        #expect(read.problem?.detail.hasPrefix("ids[3]") == true, "\(read.problem?.detail ?? "")")
        #expect(read.problem?.detail.contains(ids[3]) == false, "a citizen id in an error")
    }
}

/// openapi.yaml says every decision is logged: a regulator's allowed reads of proofs and chain blocks are accesses
/// too, logged before anything is returned, with the receipt in the answer.
@Suite struct AuditReadLoggingTests {
    @Test func allowedReadsOfProofsAndBlocksAreInTheAccessLog() async throws {
        let node = try await TestNode.start("audit_reads", suite: .intl)
        defer { Task { try? await node.running.stop() } }
        let regulator = node.client(DemoConsortium.regulator)
        let page = try await regulator.send("GET", "/v1/audit/events?limit=10").decode(API.AuditPage.self)
        let proof = try await regulator.send("GET", "/v1/audit/events/\(try #require(page.receipt.eventId))/proof")
        #expect(proof.status == 200)
        let proofReceipt = try #require(try proof.decode(API.ProofResponse.self).receipt)
        let blocks = try await regulator.send("GET", "/v1/chain/blocks?from=1&limit=4")
        #expect(blocks.status == 200)
        let blocksReceipt = try #require(try blocks.decode(API.ChainBlocks.self).receipt)
        let logged = try await regulator.send("GET", "/v1/audit/events?limit=1000").decode(API.AuditPage.self).events
        for receipt in [proofReceipt, blocksReceipt] {
            let event = logged.first { $0.eventId == receipt.eventId }
            #expect(event?.requester == DemoConsortium.regulator && event?.decision == "allow" && event?.category == "access_log")
        }
    }
}

/// Concurrent publishes of one id race for its unique key: the loser's transaction is retried and ends as what it
/// is — an idempotent re-publish (same contents) or a conflict (409) — never a 500.
@Suite struct PublishRaceTests {
    @Test func concurrentPublishesOfOneIdAreCreatedOnceAndConflictsAre409() async throws {
        let node = try await TestNode.start("publish_race", suite: .intl)
        defer { Task { try? await node.running.stop() } }
        let registry = node.client(DemoConsortium.registry)
        for round in 0..<4 {
            // Eight versions of one record, different contents, sent at once.
            let versions = (0..<8).map { version -> JSONValue in
                var record = SyntheticCitizens.generate(count: 1, seed: UInt64(1_000 + round * 10 + version))[0]
                guard case .object(var members) = record else { return record }
                members["citizen_id"] = .string(String(format: "C%07d", 9_000_000 + round))
                record = .object(members)
                return record
            }
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for version in versions {
                    group.addTask { try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: [version])).status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 201 }.count == 1, "round \(round): \(statuses)")
            #expect(statuses.filter { $0 == 409 }.count == 7, "round \(round): \(statuses)")
            // The same contents eight times at once: all acknowledged, stored once.
            let same = versions[0]
            var record = same
            if case .object(var members) = same {
                members["citizen_id"] = .string(String(format: "C%07d", 9_100_000 + round))
                record = .object(members)
            }
            let twin = record
            let repeated = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<8 {
                    group.addTask { try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: [twin])).status }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(repeated.allSatisfy { $0 == 201 }, "round \(round): \(repeated)")
        }
    }
}

/// `gateway audit verify` over a node's database: a clean history is OK (exit 0); each planted problem is reported
/// with its location (exit 2) — a derived row altered, a record stored without an anchor, a row the chain erased still
/// stored; and a block altered stops the check at that height.
@Suite struct AuditVerifyTests {
    @Test func everyPlantedProblemIsFoundWithItsLocation() async throws {
        let node = try await TestNode.start("audit_verify", suite: .intl)
        let registry = node.client(DemoConsortium.registry)
        let citizens = SyntheticCitizens.generate(count: 12, seed: 5)
        #expect(try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: citizens)).status == 201)
        let read = try await node.client(DemoConsortium.socialSecurity).send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "benefit_eligibility"))
        let readEvent = try #require(read.status == 200 ? try read.decode(API.RecordsResponse.self).receipt.eventId : nil)
        let configuration = node.running.node.configuration
        try await node.running.stop()
        func audit() async throws -> (status: Int32, stdout: String, stderr: String) {
            try await runProcess(
                TestPaths.gatewayBinary.path,
                ["audit", "verify", "--database-url", node.databaseURL, "--data-dir", configuration.dataDirectory.path])
        }
        let clean = try await audit()
        #expect(clean.status == 0 && clean.stdout.contains("OK: the history verifies from the genesis"), "\(clean.stdout)\(clean.stderr)")
        #expect(clean.stdout.contains("12 records checked"), "\(clean.stdout)")
        #expect(clean.stdout.contains("record contents: 12 decrypted and checked against their anchors"), "\(clean.stdout)")
        let events = try await IntegrityTests.integer(node.databaseURL, "SELECT count(*)::bigint FROM access_events")
        #expect(clean.stdout.contains("access log: \(events) events, root "), "\(clean.stdout)")
        #expect(clean.stderr.contains("verified blocks up to"), "progress goes to standard error")
        // The analysts' views over the same log.
        #expect(
            try await IntegrityTests.integer(node.databaseURL, "SELECT count(*)::bigint FROM audit_accesses WHERE accessed_at IS NOT NULL") == events)
        #expect(
            try await IntegrityTests.integer(
                node.databaseURL,
                "SELECT count(*)::bigint FROM audit_accesses WHERE department = 'social_security' AND purpose = 'benefit_eligibility'")
                == 1)
        #expect(try await IntegrityTests.integer(node.databaseURL, "SELECT coalesce(sum(accesses), 0)::bigint FROM audit_daily") == events)
        #expect(try await IntegrityTests.integer(node.databaseURL, "SELECT count(*)::bigint FROM audit_denials") == 0)

        let victim = try #require(citizens.first?["citizen_id"]?.stringValue)
        let altered = try #require(citizens.last?["citizen_id"]?.stringValue)
        try await IntegrityTests.execute(
            node.databaseURL,
            [
                // One byte of a record's ciphertext flipped: only decrypting it with the node's record key shows it.
                "UPDATE records SET ciphertext = set_byte(ciphertext, 20, get_byte(ciphertext, 20) # 1) WHERE record_id = '\(altered)'",
                "UPDATE access_events SET purpose = 'curiosity' WHERE event_id = '\(readEvent)'",
                // A row the chain never anchored: a copy of a record under another key and anchor transaction.
                "INSERT INTO records SELECT category, 'C9999999', publisher, sha256(record_key), citizen_key, record_hash, wrapped_key, ciphertext, dimensions, sha256(anchor_tx) FROM records WHERE record_id = '\(victim)'",
            ])
        let planted = try await audit()
        #expect(planted.status == 2, "\(planted.stdout)\(planted.stderr)")
        #expect(planted.stdout.contains("PROBLEM access_events: row altered — key \(readEvent):"), "\(planted.stdout)")
        #expect(planted.stdout.contains("PROBLEM records: stored without an anchor on chain"), "\(planted.stdout)")
        let alteredKey = try await IntegrityTests.text(
            node.databaseURL, "SELECT category || '/' || encode(record_key, 'hex') FROM records WHERE record_id = '\(altered)'")
        #expect(
            planted.stdout.contains("PROBLEM records: the record (record key") && planted.stdout.contains("fails decryption")
                && planted.stdout.contains("key \(alteredKey)"), "\(planted.stdout)")
        // Without the node's data directory the contents cannot be decrypted: said, not silently skipped.
        let keyless = try await runProcess(
            TestPaths.gatewayBinary.path,
            [
                "audit", "verify", "--database-url", node.databaseURL, "--genesis",
                configuration.dataDirectory.appendingPathComponent("genesis.json").path, "--data-dir", "/nonexistent",
            ])
        #expect(keyless.stdout.contains("record contents: not checked"), "\(keyless.stdout)\(keyless.stderr)")
        #expect(!keyless.stdout.contains("fails decryption"))

        // A block altered: the check stops there, naming the height.
        let height = try await IntegrityTests.integer(node.databaseURL, "SELECT min(height) FROM transactions WHERE height > 1")
        try await IntegrityTests.execute(
            node.databaseURL,
            ["UPDATE transactions SET body = set_byte(body, 40, get_byte(body, 40) # 1) WHERE height = \(height) AND tx_index = 0"])
        let alteredBlock = try await audit()
        #expect(alteredBlock.status == 2, "\(alteredBlock.stdout)\(alteredBlock.stderr)")
        #expect(alteredBlock.stdout.contains("PROBLEM blocks:") && alteredBlock.stdout.contains("at height \(height)"), "\(alteredBlock.stdout)")
        #expect(alteredBlock.stdout.contains("key block \(height) at height \(height)"), "\(alteredBlock.stdout)")

        let unreadable = try await runProcess(
            TestPaths.gatewayBinary.path, ["audit", "verify", "--database-url", node.databaseURL, "--genesis", "/nonexistent/genesis.json"])
        #expect(unreadable.status == 1 && unreadable.stderr.contains("--genesis"), "\(unreadable.stderr)")
    }
}
