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

/// Every kind of bad input gets its documented 4xx as problem+json, nothing is stored, and the server stays up.
/// Each test gets its own live node (real TCP, real PostgreSQL, fresh database) seeded with 30 citizens.
@Suite(.serialized) final class BadInputTests {
    let node: TestNode
    var registry: GatewayClient { node.client(DemoConsortium.registry) }

    init() async throws {
        node = try await TestNode.start("http")
        let seed = SyntheticCitizens.generate(count: 30, seed: 5)
        let response = try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: seed))
        guard response.status == 201 else { throw NodeError("seeding failed: \(response.status)") }
    }

    deinit {
        let running = node.running
        Task { try? await running.stop() }
    }

    func recordCount() async throws -> Int {
        try await Database.withDatabase(url: node.databaseURL, logger: TestDatabase.logger) { try await RecordStore(database: $0).count() }
    }

    func expectProblem(_ response: ClientResponse, _ status: Int, _ code: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == status, "\(String(decoding: response.body, as: UTF8.self))", sourceLocation: sourceLocation)
        #expect(response.contentType.hasPrefix("application/problem+json"), sourceLocation: sourceLocation)
        let problem = response.problem
        #expect(problem?.code == code, sourceLocation: sourceLocation)
        #expect(problem?.status == status, sourceLocation: sourceLocation)
        #expect(problem?.type == "urn:datagateway:problem:\(code)", sourceLocation: sourceLocation)
        #expect((problem?.detail.isEmpty ?? true) == false, sourceLocation: sourceLocation)
    }

    @Test func healthNeedsNoSignatureAndUnknownRoutesAre404Problems() async throws {
        let health = try await registry.sendRaw("GET", "/v1/health", headers: [])
        #expect(health.status == 200)
        #expect(try health.decode(API.Health.self).status == "ok")
        let ready = try await registry.sendRaw("GET", "/v1/ready", headers: [])
        let readiness = try ready.decode(API.Readiness.self)
        #expect(ready.status == 200 && readiness.ready, "\(String(decoding: ready.body, as: UTF8.self))")
        expectProblem(try await registry.send("GET", "/v1/nothing-here"), 404, "not_found")
        expectProblem(try await registry.sendRaw("GET", "/nothing", headers: []), 404, "not_found")
    }

    @Test func authenticationFailuresAre401AndStoreNothing() async throws {
        let before = try await recordCount()
        let body = Array(#"{"records": []}"#.utf8)
        let target = "/v1/records/citizen"
        expectProblem(try await registry.sendRaw("POST", target, body: body, headers: []), 401, "missing_signature")

        let ghost = try node.client("ghost", key: node.suite.generateSigningKey())
        expectProblem(try await ghost.send("POST", target, body: body), 401, "unknown_department")

        let impostor = try node.client(DemoConsortium.registry, key: node.suite.generateSigningKey())
        expectProblem(try await impostor.send("POST", target, body: body), 401, "bad_signature")

        let stale = try registry.signedHeaders("POST", target, body: body, created: Int64(Date().timeIntervalSince1970) - 3_600)
        expectProblem(try await registry.sendRaw("POST", target, body: body, headers: stale), 401, "stale_request")

        // The body is changed after signing: the digest no longer matches.
        let signed = try registry.signedHeaders("POST", target, body: body)
        expectProblem(try await registry.sendRaw("POST", target, body: Array(#"{"records": [1]}"#.utf8), headers: signed), 401, "digest_mismatch")

        // The signature covers the target: the same headers on another path fail.
        let other = try registry.signedHeaders("GET", "/v1/audit/events", body: [])
        expectProblem(try await registry.sendRaw("GET", "/v1/audit/events?limit=1", headers: other), 401, "bad_signature")

        // A replayed request is refused the second time.
        let headers = try registry.signedHeaders("GET", "/v1/records/citizen/C0000000?purpose=registry_update", body: [])
        let first = try await registry.sendRaw("GET", "/v1/records/citizen/C0000000?purpose=registry_update", headers: headers)
        #expect(first.status == 404)
        expectProblem(
            try await registry.sendRaw("GET", "/v1/records/citizen/C0000000?purpose=registry_update", headers: headers), 401, "replayed_request")

        #expect(try await recordCount() == before)
    }

    @Test func malformedOrMistypedBodiesAre400() async throws {
        let before = try await recordCount()
        for text in ["{", "not json", #"{"records": [1,]}"#, "[", #"{"records": [{"a": 1, "a": 2}]}"#] {
            expectProblem(try await registry.send("POST", "/v1/records/citizen", body: Array(text.utf8)), 400, "malformed_json")
        }
        expectProblem(try await registry.send("POST", "/v1/records/citizen", body: Array(#"{"records": "many"}"#.utf8)), 400, "invalid_request")
        expectProblem(try await registry.send("POST", "/v1/records/citizen", body: Array(#"{"rows": []}"#.utf8)), 400, "invalid_request")
        expectProblem(try await registry.send("POST", "/v1/records/citizen", body: Array(#"{"records": []}"#.utf8)), 400, "invalid_request")
        expectProblem(
            try await registry.send("POST", "/v1/requests", body: Array(#"{"category": 5, "ids": ["x"], "purpose": "p"}"#.utf8)), 400,
            "invalid_request")
        expectProblem(
            try await registry.send("POST", "/v1/requests", body: Array(#"{"category": "citizen", "ids": [], "purpose": "p"}"#.utf8)), 400,
            "invalid_request")
        expectProblem(try await registry.send("GET", "/v1/audit/events?limit=abc"), 400, "invalid_request")
        expectProblem(try await registry.send("GET", "/v1/records/citizen/C1"), 400, "invalid_request")
        #expect(try await recordCount() == before)
    }

    /// Effort is bounded as well as bytes: a body within the byte limit but with too many values, too deep a nesting
    /// or an absurdly long number is refused before any of it is decoded, validated or stored.
    @Test func bodiesTooComplexToParseAre413() async throws {
        let before = try await recordCount()
        let manyNumbers = "{\"records\": [" + Array(repeating: "1", count: 300_000).joined(separator: ",") + "]}"
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        let longNumber = "{\"records\": [" + String(repeating: "9", count: 5_000) + "]}"
        for body in [manyNumbers, deep, longNumber] {
            let response = try await registry.send("POST", "/v1/records/citizen", body: Array(body.utf8))
            expectProblem(response, 413, "payload_too_large")
            #expect(response.problem?.detail.contains("too complex") == true)
        }
        #expect(try await recordCount() == before)
        #expect(try await registry.sendRaw("GET", "/v1/health", headers: []).status == 200)
    }

    @Test func oversizedBodiesAre413() async throws {
        let big = [UInt8](repeating: UInt8(ascii: " "), count: 2 * 1024 * 1024)
        expectProblem(try await registry.send("POST", "/v1/records/citizen", body: big), 413, "payload_too_large")
    }

    @Test func unknownCategoryIs404() async throws {
        let response = try await registry.send("POST", "/v1/records/weather", json: API.PublishRequest(records: [.object([:])]))
        expectProblem(response, 404, "unknown_category")
        expectProblem(
            try await registry.send("POST", "/v1/requests", json: API.RecordsRequest(category: "weather", ids: ["x"], purpose: "p")), 404,
            "unknown_category")
    }

    @Test func anInvalidRecordIs422NamingTheFieldAndNothingOfTheBatchIsStored() async throws {
        let before = try await recordCount()
        var batch = SyntheticCitizens.generate(count: 3, seed: 77)
        guard case .object(var bad) = batch[1] else { return }
        bad["birth_date"] = .string("1990-13-45")
        bad["monthly_income"] = .string("lots")
        bad["nickname"] = .string("extra")
        batch[1] = .object(bad)
        let response = try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: batch))
        expectProblem(response, 422, "invalid_record")
        let pointers = Set(response.problem?.errors?.map(\.pointer) ?? [])
        #expect(pointers == ["/records/1/birth_date", "/records/1/monthly_income", "/records/1/nickname"])
        #expect(try await recordCount() == before)
    }

    @Test func sqlLikeStringsInEveryTextFieldAreHarmless() async throws {
        let injection = "x'); DROP TABLE records; --"
        let before = try await recordCount()
        // A text field the schema allows to hold anything: stored and returned verbatim.
        var record = SyntheticCitizens.generate(count: 1, seed: 99)[0]
        guard case .object(var members) = record else { return }
        members["citizen_id"] = .string("C9999999")
        members["full_name"] = .string(injection)
        record = .object(members)
        let published = try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: [record]))
        #expect(published.status == 201)
        let read = try await registry.send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C9999999"], purpose: "registry_update"))
        #expect(read.status == 200)
        #expect(try read.decode(API.RecordsResponse.self).records.first?["full_name"]?.stringValue == injection)

        // Constrained fields reject it with 422; identifiers and purposes with 400/404.
        for field in ["citizen_id", "district", "birth_date", "sex", "phone", "age_band"] {
            var bad = members
            bad[field] = .string(injection)
            let response = try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: [.object(bad)]))
            expectProblem(response, 422, "invalid_record")
        }
        expectProblem(
            try await registry.send("POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [injection], purpose: injection)), 400,
            "invalid_request")
        expectProblem(
            try await registry.send("POST", "/v1/requests", json: API.RecordsRequest(category: injection, ids: ["C1"], purpose: "p")), 404,
            "unknown_category")
        let missing = try await registry.send(
            "POST", "/v1/requests",
            json: API.RecordsRequest(category: "citizen", ids: [injection, "C9999999", injection], purpose: "registry_update"))
        let answered = try missing.decode(API.RecordsResponse.self)
        #expect(answered.missing == [injection])
        #expect(answered.records.count == 1)
        expectProblem(
            try await registry.send("GET", "/v1/audit/events/\(injection.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)/proof"), 403,
            "access_denied")
        expectProblem(
            try await registry.send("GET", "/v1/audit/events?after=\(injection.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"), 400,
            "invalid_request")
        let ghost = try node.client(injection, key: node.suite.generateSigningKey())
        expectProblem(try await ghost.send("GET", "/v1/audit/events"), 401, "unknown_department")

        #expect(try await recordCount() == before + 1)
        #expect(try await registry.sendRaw("GET", "/v1/health", headers: []).status == 200)
    }

    /// Found by the schemathesis fuzzing: an id holding U+0000 reached PostgreSQL (whose text cannot hold it) and came
    /// back as a 500. Every id a request names is now checked first: 1–128 characters, no control characters.
    @Test func controlCharactersInIdentifiersAre400NotServerErrors() async throws {
        let before = try await recordCount()
        let regulator = node.client(DemoConsortium.regulator)
        for id in ["C1\u{0}", "\u{0}", "C1\u{7}x", "C1\u{85}"] {
            let read = try await registry.send(
                "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C1", id], purpose: "registry_update"))
            expectProblem(read, 400, "invalid_request")
            #expect(read.problem?.detail.contains("ids[1]") == true, "\(read.problem?.detail ?? "")")
            expectProblem(
                try await registry.send("POST", "/v1/consents", json: API.ConsentRequest(citizenId: id, purpose: "housing_allocation", given: true)),
                400, "invalid_request")
            expectProblem(
                try await registry.send(
                    "POST", "/v1/grants",
                    json: API.GrantRequest(
                        grantee: DemoConsortium.housing + id, category: "citizen", purpose: "tenant_screening", expiresAt: "2031-01-01")), 400,
                "invalid_request")
            let encoded = id.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            expectProblem(try await registry.send("GET", "/v1/records/citizen/\(encoded)?purpose=registry_update"), 400, "invalid_request")
            expectProblem(try await registry.send("DELETE", "/v1/grants/\(encoded)"), 400, "invalid_request")
            expectProblem(try await regulator.send("GET", "/v1/audit/events?after=1:\(encoded)"), 400, "invalid_request")
            expectProblem(try await regulator.send("GET", "/v1/audit/events/\(encoded)/proof"), 400, "invalid_request")
        }
        var record = SyntheticCitizens.generate(count: 1, seed: 98)[0]
        if case .object(var members) = record { members["citizen_id"] = .string("C12\u{0}34"); record = .object(members) }
        expectProblem(try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: [record])), 422, "invalid_record")
        #expect(try await recordCount() == before)
        #expect(try await registry.sendRaw("GET", "/v1/health", headers: []).status == 200)
    }

    @Test func pathParametersArePercentDecoded() async throws {
        let id = SyntheticCitizens.generate(count: 30, seed: 5)[0]["citizen_id"]!.stringValue!
        let encoded = id.unicodeScalars.map { String(format: "%%%02X", $0.value) }.joined()  // every character encoded
        let read = try await registry.send("GET", "/v1/records/citizen/\(encoded)?purpose=registry_update")
        #expect(read.status == 200)
        #expect(try read.decode(API.RecordsResponse.self).records.first?["citizen_id"]?.stringValue == id)
    }

    @Test func tamperingWithAStoredRecordIsDetectedOnRead() async throws {
        var record = SyntheticCitizens.generate(count: 1, seed: 123)[0]
        guard case .object(var members) = record else { return }
        members["citizen_id"] = .string("C8888888")
        record = .object(members)
        #expect(try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: [record])).status == 201)
        let read = {
            try await self.registry.send(
                "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C8888888"], purpose: "registry_update"))
        }
        #expect(try await read().status == 200)
        try await Database.withDatabase(url: node.databaseURL, logger: TestDatabase.logger) { database in
            try await database.client.query(
                "UPDATE records SET ciphertext = set_byte(ciphertext, 20, get_byte(ciphertext, 20) # 1) WHERE record_id = 'C8888888'")
        }
        expectProblem(try await read(), 500, "record_integrity_failure")
    }

    @Test func obligationsTheRequestCannotMeetAreDenialsAndLogged() async throws {
        let social = node.client(DemoConsortium.socialSecurity)
        let ids = (0..<51).map { String(format: "C%07d", $0) }
        let tooMany = try await social.send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ids, purpose: "benefit_eligibility"))
        expectProblem(tooMany, 403, "access_denied")
        #expect(tooMany.problem?.detail.contains("at most 50") == true)
        let stats = node.client(DemoConsortium.statistics)
        let rows = try await stats.send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C1"], purpose: "official_statistics"))
        expectProblem(rows, 403, "access_denied")
        // Advertising sits under the commercial purpose the forbid names.
        let marketing = try await registry.send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C1"], purpose: "advertising"))
        expectProblem(marketing, 403, "access_denied")
        #expect(marketing.problem?.detail.contains("no-commercial-use") == true)
        // A purpose outside the hierarchy is bad input, refused before any decision.
        let unknown = try await registry.send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C1"], purpose: "curiosity"))
        expectProblem(unknown, 422, "unknown_purpose")
        #expect(unknown.problem?.detail.contains("benefit_eligibility") == true)

        // Every one of those denials is in the access log.
        let regulator = node.client(DemoConsortium.regulator)
        let page = try await regulator.send("GET", "/v1/audit/events?limit=1000")
        let events = try page.decode(API.AuditPage.self).events
        for denial in [tooMany, rows, marketing] {
            let id = try #require(denial.problem?.eventId)
            #expect(events.first { $0.eventId == id }?.decision == "deny")
        }
        // Only regulators may read the log.
        expectProblem(try await registry.send("GET", "/v1/audit/events"), 403, "access_denied")
    }

    @Test func aggregateRequestsValidateFieldsAndGroups() async throws {
        let stats = node.client(DemoConsortium.statistics)
        expectProblem(
            try await stats.send(
                "POST", "/v1/aggregates",
                json: API.AggregateRequest(category: "citizen", field: "full_name", groupBy: [], purpose: "official_statistics")), 422,
            "unknown_field")
        expectProblem(
            try await stats.send(
                "POST", "/v1/aggregates",
                json: API.AggregateRequest(category: "citizen", field: "monthly_income", groupBy: ["phone"], purpose: "official_statistics")), 422,
            "unknown_field")
        expectProblem(
            try await stats.send(
                "POST", "/v1/aggregates",
                json: API.AggregateRequest(
                    category: "citizen", field: "monthly_income", groupBy: ["district", "district"], purpose: "official_statistics")), 422,
            "unknown_field")
        expectProblem(
            try await stats.send(
                "POST", "/v1/aggregates", json: API.AggregateRequest(category: "citizen", field: "monthly_income", groupBy: [], purpose: "marketing")),
            403, "access_denied")
        let ok = try await stats.send(
            "POST", "/v1/aggregates",
            json: API.AggregateRequest(category: "citizen", field: "household_size", groupBy: [], purpose: "official_statistics"))
        #expect(ok.status == 200)
        let total = try ok.decode(API.AggregateResponse.self)
        #expect(total.groups.count == 1 && total.groups[0].count! >= 30)
    }
}
