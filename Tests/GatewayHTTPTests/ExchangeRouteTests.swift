import Foundation
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewaySchema
import GatewayTestSupport
import GatewayWire
import Testing

// Consent, grants, roles, expiry and the entity store through the node's routes, over the use cases' in-memory fakes
// (Harness): what a department sees — statuses, bodies, problems — without a live node. The demo scenario, the
// cluster and the crash tests drive the same requests through live nodes over TCP and PostgreSQL.

func text(_ response: ClientResponse) -> String { String(decoding: response.body, as: UTF8.self) }

func inDays(_ days: Double) -> String { ISO8601DateFormatter().string(from: Date(timeIntervalSinceNow: days * 86_400)) }

/// A citizen's consent, recorded on chain by the civil registry, decides housing's reads on the next request.
@Suite struct ConsentRouteTests {

    @Test func consentGivenAndWithdrawnDecidesHousingReads() async throws {
        let harness = try Harness()
        try await harness.run { s in
            try await s.publish(SyntheticCitizens.generate(count: 5, seed: 9))
            let registry = s.client(DemoConsortium.registry)
            let housing = s.client(DemoConsortium.housing)
            let citizens = SyntheticCitizens.generate(count: 5, seed: 9).compactMap { $0["citizen_id"]?.stringValue }
            let (first, second) = (citizens[0], citizens[1])
            func read(_ ids: [String]) async throws -> ClientResponse {
                try await housing.send("POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ids, purpose: "housing_allocation"))
            }

            let before = try await read([first])
            #expect(before.status == 403 && before.problem?.code == "access_denied")

            // Consent to the parent purpose covers housing_allocation.
            let given = try await registry.send(
                "POST", "/v1/consents", json: API.ConsentRequest(citizenId: first, purpose: "social_welfare", given: true))
            #expect(given.status == 201, "\(String(decoding: given.body, as: UTF8.self))")
            let receipt = try given.decode(API.ConsentResponse.self)
            #expect(receipt.consents == ["social_welfare"] && receipt.height > 0)

            let allowed = try await read([first])
            #expect(allowed.status == 200, "\(String(decoding: allowed.body, as: UTF8.self))")
            let body = try allowed.decode(API.RecordsResponse.self)
            #expect(body.policies == ["housing-allocation-with-consent"])
            #expect(body.records.count == 1 && body.records[0]["full_name"] == nil)
            #expect(body.records[0]["citizen_id"]?.stringValue != first, "the id must leave as a salted hash")

            // All or nothing: one record without consent refuses the request, and says which.
            let mixed = try await read([first, second])
            #expect(mixed.status == 403 && mixed.problem?.detail.contains("ids[1]") == true, "\(String(decoding: mixed.body, as: UTF8.self))")

            let withdrawn = try await registry.send(
                "POST", "/v1/consents", json: API.ConsentRequest(citizenId: first, purpose: "social_welfare", given: false))
            #expect(withdrawn.status == 201)
            #expect(try withdrawn.decode(API.ConsentResponse.self).consents.isEmpty)
            let after = try await read([first])
            #expect(after.status == 403, "a withdrawn consent must stop the next read")

        }
    }

    @Test func aConsentGivenBeforeTheCitizensRecordsAppliesToThemWhenPublished() async throws {
        let harness = try Harness()
        try await harness.run { s in
            try await s.publish(SyntheticCitizens.generate(count: 5, seed: 9))
            let registry = s.client(DemoConsortium.registry)
            var record = SyntheticCitizens.generate(count: 1, seed: 4_242)[0]
            guard case .object(var members) = record else { return }
            members["citizen_id"] = .string("C7777777")
            record = .object(members)
            let given = try await registry.send(
                "POST", "/v1/consents", json: API.ConsentRequest(citizenId: "C7777777", purpose: "social_welfare", given: true))
            #expect(given.status == 201, "\(String(decoding: given.body, as: UTF8.self))")
            #expect(try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: [record])).status == 201)
            let read = try await s.client(DemoConsortium.housing).send(
                "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ["C7777777"], purpose: "housing_allocation"))
            #expect(read.status == 200, "\(String(decoding: read.body, as: UTF8.self))")

        }
    }

    @Test func onlyPermittedDepartmentsRecordConsentAndBadInputIsRefused() async throws {
        let harness = try Harness()
        try await harness.run { s in
            try await s.publish(SyntheticCitizens.generate(count: 5, seed: 9))
            let housing = s.client(DemoConsortium.housing)
            let registry = s.client(DemoConsortium.registry)
            let refused = try await housing.send(
                "POST", "/v1/consents", json: API.ConsentRequest(citizenId: "C1", purpose: "housing_allocation", given: true))
            #expect(refused.status == 403 && refused.problem?.code == "access_denied" && refused.problem?.eventId != nil)
            let unknown = try await registry.send("POST", "/v1/consents", json: API.ConsentRequest(citizenId: "C1", purpose: "whatever", given: true))
            #expect(unknown.status == 422 && unknown.problem?.code == "unknown_purpose")
            let empty = try await registry.send("POST", "/v1/consents", json: API.ConsentRequest(citizenId: "", purpose: "treatment", given: true))
            #expect(empty.status == 400 && empty.problem?.code == "invalid_request")
            let malformed = try await registry.send("POST", "/v1/consents", body: Array(#"{"citizenId": "C1", "purpose": "treatment"}"#.utf8))
            #expect(malformed.status == 400)
            // Commercial purposes are forbidden whatever the caller.
            let commercial = try await registry.send(
                "POST", "/v1/consents", json: API.ConsentRequest(citizenId: "C1", purpose: "marketing", given: true))
            #expect(commercial.status == 403 && commercial.problem?.detail.contains("no-commercial-use") == true)

        }
    }

}

/// A permit past its `@expires` grants nothing: the node refuses the request, says why, and logs the refusal.
@Suite struct GrantExpiryRouteTests {

    @Test func anExpiredPermitIsRefusedAndLogged() async throws {
        let dir = try TestPaths.temporaryDirectory("expiry_policies")
        let demo = try String(contentsOf: TestPaths.policies.appendingPathComponent("demo.cedar"), encoding: .utf8)
        let expired = demo.replacingOccurrences(
            of: #"@id("social-security-benefit-check")"#, with: #"@id("social-security-benefit-check") @expires("2020-01-01")"#)
        #expect(expired != demo)
        try expired.write(to: dir.appendingPathComponent("demo.cedar"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            at: TestPaths.policies.appendingPathComponent("entities.json"), to: dir.appendingPathComponent("entities.json"))
        let harness = try Harness(policies: dir)
        try await harness.run { s in
            let seed = SyntheticCitizens.generate(count: 2, seed: 4)
            let published = try await s.client(DemoConsortium.registry).send("POST", "/v1/records/citizen", json: API.PublishRequest(records: seed))
            #expect(published.status == 201)
            let id = seed[0]["citizen_id"]!.stringValue!
            let response = try await s.client(DemoConsortium.socialSecurity).send(
                "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [id], purpose: "benefit_eligibility"))
            #expect(response.status == 403 && response.problem?.code == "access_denied")
            #expect(response.problem?.detail.contains("expired") == true, "\(String(decoding: response.body, as: UTF8.self))")
            #expect(response.problem?.eventId != nil, "the refusal is in the access log")

        }
    }
}

/// Grants recorded on chain and roles within departments: a grant opens what its policy lets it open, bounded by its
/// fields, until revoked; a role is signed with the request and decided as `Role::"<department>/<role>"`.
@Suite struct GrantAndRoleRouteTests {

    @Test func aGrantOpensItsFieldsUntilRevokedAndTheLogNamesIt() async throws {
        let harness = try Harness(clock: .wallClock)
        try await harness.run { s in
            let citizens = try await s.publish(SyntheticCitizens.generate(count: 25, seed: 21))
            let registry = s.client(DemoConsortium.registry)
            let housing = s.client(DemoConsortium.housing)
            func screen(_ ids: [String]) async throws -> ClientResponse {
                try await housing.send("POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: ids, purpose: "tenant_screening"))
            }
            let before = try await screen([citizens[0]])
            #expect(before.status == 403 && before.problem?.code == "access_denied")

            let issued = try await registry.send(
                "POST", "/v1/grants",
                json: API.GrantRequest(
                    grantee: DemoConsortium.housing, category: "citizen", purpose: "tenant_screening", fields: ["district", "household_size"],
                    expiresAt: inDays(30)))
            #expect(issued.status == 201, "\(text(issued))")
            let grant = try issued.decode(API.GrantResponse.self)
            #expect(grant.grant.grantor == DemoConsortium.registry && grant.grant.grantee == DemoConsortium.housing)
            #expect(grant.grant.live && !grant.grant.revoked && grant.height > 0 && grant.receipt.eventId != nil)

            // The grant's fields bound the answer, whatever else the permit would allow.
            let allowed = try await screen([citizens[0], citizens[1]])
            #expect(allowed.status == 200, "\(text(allowed))")
            let body = try allowed.decode(API.RecordsResponse.self)
            #expect(body.policies == ["granted-access"] && body.grant == grant.grant.grantId)
            #expect(body.fields == ["district", "household_size"])
            #expect(body.records.count == 2 && body.records.allSatisfy { $0.objectValue?.keys.sorted() == ["district", "household_size"] })
            // The permit's own obligations still apply (at most 20 rows).
            let tooMany = try await screen(Array(citizens.prefix(21)))
            #expect(tooMany.status == 403 && tooMany.problem?.detail.contains("at most 20") == true, "\(text(tooMany))")
            // A field projection bounds aggregates too: the grant does not cover monthly_income.
            let sum = try await housing.send(
                "POST", "/v1/aggregates",
                json: API.AggregateRequest(
                    category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "tenant_screening"))
            #expect(sum.status == 403 && sum.problem?.detail.contains("monthly_income") == true, "\(text(sum))")
            // A purpose above the granted one is not covered.
            let broader = try await housing.send(
                "POST", "/v1/requests",
                json: API.RecordsRequest(
                    category: "citizen", ids: [citizens[0]], purpose: "public_administration"))
            #expect(broader.status == 403)

            // Both parties see the grant; nobody else does.
            let listed = try await housing.send("GET", "/v1/grants").decode(API.GrantList.self)
            #expect(listed.grants.map(\.grantId) == [grant.grant.grantId])
            #expect(try await s.client(DemoConsortium.statistics).send("GET", "/v1/grants").decode(API.GrantList.self).grants.isEmpty)

            // The access log names the grant the read relied on.
            let events = try await s.client(DemoConsortium.regulator).send("GET", "/v1/audit/events?limit=1000").decode(API.AuditPage.self).events
            let logged = events.first { $0.eventId == body.receipt.eventId }
            #expect(logged?.grant == grant.grant.grantId && logged?.decision == "allow")
            #expect(events.contains { $0.action == "grant" && $0.requester == DemoConsortium.registry && $0.purpose == "tenant_screening" })

            // Only the grantor revokes, once; then the next request is refused.
            let notTheirs = try await housing.send("DELETE", "/v1/grants/\(grant.grant.grantId)")
            #expect(notTheirs.status == 403 && notTheirs.problem?.code == "not_data_holder", "\(text(notTheirs))")
            let unknown = try await registry.send("DELETE", "/v1/grants/grant-none")
            #expect(unknown.status == 404)
            let revoked = try await registry.send("DELETE", "/v1/grants/\(grant.grant.grantId)")
            #expect(revoked.status == 200, "\(text(revoked))")
            let revocation = try revoked.decode(API.GrantResponse.self)
            #expect(revocation.grant.revoked && !revocation.grant.live)
            let revocationEvent = try await s.client(DemoConsortium.regulator).send("GET", "/v1/audit/events?limit=1000")
                .decode(API.AuditPage.self).events.first { $0.eventId == revocation.receipt.eventId }
            #expect(revocationEvent?.action == "revoke" && revocationEvent?.grant == grant.grant.grantId && revocationEvent?.decision == "allow")
            let again = try await registry.send("DELETE", "/v1/grants/\(grant.grant.grantId)")
            #expect(again.status == 409 && again.problem?.code == "grant_revoked")
            let after = try await screen([citizens[0]])
            #expect(after.status == 403 && after.problem?.code == "access_denied", "a revoked grant must stop the next read")

        }
    }

    @Test func grantsAreTheHoldersAndBadGrantsAreRefused() async throws {
        let harness = try Harness(clock: .wallClock)
        try await harness.run { s in
            let citizens = try await s.publish(SyntheticCitizens.generate(count: 25, seed: 21))
            let registry = s.client(DemoConsortium.registry)
            func grant(_ request: API.GrantRequest, by client: Harness.DepartmentClient? = nil) async throws -> ClientResponse {
                try await (client ?? registry).send("POST", "/v1/grants", json: request)
            }
            let good = API.GrantRequest(grantee: DemoConsortium.housing, category: "citizen", purpose: "tenant_screening", expiresAt: inDays(1))
            let other = try await grant(good, by: s.client(DemoConsortium.socialSecurity))
            #expect(other.status == 403 && other.problem?.code == "not_data_holder")
            let stranger = try await grant(.init(grantee: "nobody", category: "citizen", purpose: "tenant_screening", expiresAt: inDays(1)))
            #expect(stranger.status == 422 && stranger.problem?.code == "unknown_grantee")
            let field = try await grant(
                .init(grantee: DemoConsortium.housing, category: "citizen", purpose: "tenant_screening", fields: ["shoe_size"], expiresAt: inDays(1)))
            #expect(field.status == 422 && field.problem?.code == "unknown_field")
            let past = try await grant(
                .init(grantee: DemoConsortium.housing, category: "citizen", purpose: "tenant_screening", expiresAt: "2020-01-01"))
            #expect(past.status == 400 && past.problem?.code == "invalid_request")
            let garbled = try await grant(
                .init(grantee: DemoConsortium.housing, category: "citizen", purpose: "tenant_screening", expiresAt: "next week"))
            #expect(garbled.status == 400 && garbled.problem?.detail.contains("expiresAt") == true)
            // In RFC 3339's grammar but no such day: 422, never rolled over into March.
            for impossible in ["2031-02-30", "2031-04-31", "2031-06-30T24:00:00Z"] {
                let refused = try await grant(
                    .init(grantee: DemoConsortium.housing, category: "citizen", purpose: "tenant_screening", expiresAt: impossible))
                #expect(
                    refused.status == 422 && refused.problem?.code == "invalid_date",
                    "\(impossible): \(String(decoding: refused.body, as: UTF8.self))")
            }
            let purpose = try await grant(.init(grantee: DemoConsortium.housing, category: "citizen", purpose: "gossip", expiresAt: inDays(1)))
            #expect(purpose.status == 422 && purpose.problem?.code == "unknown_purpose")
            let itself = try await grant(
                .init(grantee: DemoConsortium.registry, category: "citizen", purpose: "tenant_screening", expiresAt: inDays(1)))
            #expect(itself.status == 400)
            // No grant for a commercial purpose: the forbid decides, and the refusal is logged.
            let commercial = try await grant(.init(grantee: DemoConsortium.housing, category: "citizen", purpose: "marketing", expiresAt: inDays(1)))
            #expect(
                commercial.status == 403 && commercial.problem?.detail.contains("no-commercial-use") == true && commercial.problem?.eventId != nil)
            // Nothing of the refused grants reached the chain.
            #expect(try await registry.send("GET", "/v1/grants").decode(API.GrantList.self).grants.isEmpty)

        }
    }

    @Test func rolesAreSignedAndDecidedAsRolesOfTheirDepartment() async throws {
        let harness = try Harness(clock: .wallClock)
        try await harness.run { s in
            let citizens = try await s.publish(SyntheticCitizens.generate(count: 25, seed: 21))
            let social = s.client(DemoConsortium.socialSecurity)
            let request = API.RecordsRequest(category: "citizen", ids: [citizens[2]], purpose: "benefit_eligibility")
            // A caseworker acts under the department's permit.
            let caseworker = try await social.acting(as: "caseworker").send("POST", "/v1/requests", json: request)
            #expect(caseworker.status == 200, "\(text(caseworker))")
            #expect(try caseworker.decode(API.RecordsResponse.self).policies == ["social-security-benefit-check"])
            // A trainee is singled out by a forbid.
            let trainee = try await social.acting(as: "trainee").send("POST", "/v1/requests", json: request)
            #expect(trainee.status == 403 && trainee.problem?.detail.contains("trainees-no-citizen-records") == true, "\(text(trainee))")
            // A role the bundle does not declare for the department, and a malformed one.
            let janitor = try await social.acting(as: "janitor").send("POST", "/v1/requests", json: request)
            #expect(
                janitor.status == 422 && janitor.problem?.code == "unknown_role"
                    && janitor.problem?.detail.contains("caseworker, fraud_investigator, trainee") == true)
            let housingTrainee = try await s.client(DemoConsortium.housing).acting(as: "trainee").send("POST", "/v1/requests", json: request)
            #expect(housingTrainee.status == 422 && housingTrainee.problem?.code == "unknown_role")
            let malformed = try await social.acting(as: "Chief Officer").send("POST", "/v1/requests", json: request)
            #expect(malformed.status == 401 && malformed.problem?.code == "invalid_role")

            // The role is signed: adding one to a request signed without it is refused (the signature must cover
            // dg-role), and stripping it breaks the signature.
            let body = Array(try JSONEncoder().encode(request))
            let plain = try social.signedHeaders("POST", "/v1/requests", body: body)
            let added = try await social.sendRaw("POST", "/v1/requests", body: body, headers: plain + [("DG-Role", "caseworker")])
            #expect(added.status == 401 && added.problem?.code == "missing_signature")
            let withRole = try social.acting(as: "caseworker").signedHeaders("POST", "/v1/requests", body: body)
            #expect(withRole.contains { $0.0 == "DG-Role" })
            let stripped = try await social.sendRaw("POST", "/v1/requests", body: body, headers: withRole.filter { $0.0 != "DG-Role" })
            #expect(stripped.status == 401 && stripped.problem?.code == "bad_signature")

            // A regulator's auditor audits as the regulator; the log records each event's role.
            let page = try await s.client(DemoConsortium.regulator).acting(as: "auditor").send("GET", "/v1/audit/events?limit=1000")
            #expect(page.status == 200, "\(text(page))")
            let events = try page.decode(API.AuditPage.self).events
            #expect(events.first { $0.eventId == trainee.problem?.eventId }?.role == "trainee")
            #expect(events.first { $0.eventId == (try? caseworker.decode(API.RecordsResponse.self))?.receipt.eventId }?.role == "caseworker")
            #expect(events.contains { $0.role == nil && $0.action == "publish" })

        }
    }

}

/// The node's entity store beyond departments: each record category carries its fields, dimensions and aggregate
/// fields, and each record its citizen with the consents recorded on chain — so policies can speak of them.
@Suite struct EntityStoreRouteTests {

    @Test func policiesSeeCategoryFieldsAndTheRecordsCitizen() async throws {
        let dir = try TestPaths.temporaryDirectory("entity_store_policies")
        try """
        @id("registry") permit (principal == Department::"civil_registry", action, resource);
        @id("housing-with-citizen-consent") @fields("district")
        permit (principal == Department::"housing", action == Action::"read", resource in Category::"citizen")
        when { context.purpose in resource.citizen.consents };
        @id("statistics-where-aggregated")
        permit (principal == Department::"statistics", action == Action::"aggregate", resource)
        when { resource.aggregates.contains("monthly_income") && resource.dimensions.containsAll(["district"]) && resource.fields.contains("full_name") };
        """.write(to: dir.appendingPathComponent("store.cedar"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            at: TestPaths.policies.appendingPathComponent("entities.json"), to: dir.appendingPathComponent("entities.json"))
        let harness = try Harness(policies: dir)
        try await harness.run { s in
            let seed = SyntheticCitizens.generate(count: 3, seed: 12)
            let registry = s.client(DemoConsortium.registry)
            #expect(try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: seed)).status == 201)
            let id = seed[0]["citizen_id"]!.stringValue!
            let read = {
                try await s.client(DemoConsortium.housing).send(
                    "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [id], purpose: "housing_allocation"))
            }
            #expect(try await read().status == 403)
            #expect(
                try await registry.send("POST", "/v1/consents", json: API.ConsentRequest(citizenId: id, purpose: "social_welfare", given: true))
                    .status == 201)
            let allowed = try await read()
            #expect(allowed.status == 200, "\(String(decoding: allowed.body, as: UTF8.self))")
            #expect(try allowed.decode(API.RecordsResponse.self).records.first?.objectValue?.keys.sorted() == ["district"])
            let aggregate = try await s.client(DemoConsortium.statistics).send(
                "POST", "/v1/aggregates",
                json: API.AggregateRequest(
                    category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "official_statistics"))
            #expect(aggregate.status == 200, "\(String(decoding: aggregate.body, as: UTF8.self))")
            #expect(try aggregate.decode(API.AggregateResponse.self).policies == ["statistics-where-aggregated"])

        }
    }
}
