import Foundation
import GatewayChain
import GatewayCrypto
import GatewayNode
import GatewaySchema
import GatewayStore
import GatewayTestSupport
import GatewayWire
import Testing

/// The use cases over in-memory fakes (`ExchangeFixture`): the real policy bundle, categories and crypto, a real
/// ledger in memory, no database and no network. What these pin: every decision is on chain before anything is
/// released (no log, no data), obligations shape what is released, tampering is caught, grants and consents take
/// effect with their block, and the access log reads back verifiably.
@Suite struct UseCaseTests {
    typealias F = ExchangeFixture

    func publish(_ fixture: F, _ records: [JSONValue]) async throws -> API.PublishResponse {
        try await fixture.exchange.publishing.publish(F.principal(F.registry), category: "citizen", records: records)
    }

    func events(_ fixture: F) async -> [AccessEvent] { await fixture.chain.events.map(\.event) }

    @Test(arguments: [SuiteName.intl, .sm])
    func aReadReleasesOnlyPermittedFieldsMaskedAfterItsEventIsCommitted(_ suite: SuiteName) async throws {
        let fixture = try F(suite: suite)
        let published = try await publish(fixture, [F.citizen(1_234_567), F.citizen(7_654_321)])
        #expect(published.accepted == 2 && published.alreadyPresent == 0 && published.anchors.count == 1)
        // The solo validator approved its own bundle on the first request, then logged the publish.
        #expect(await fixture.chain.ledger.governance.approvedBundles.contains(fixture.exchange.policyBundleHash))

        let response = try await fixture.exchange.reading.request(
            F.principal(F.socialSecurity), API.RecordsRequest(category: "citizen", ids: ["C1234567", "C0000009"], purpose: "benefit_eligibility")
        )
        #expect(response.missing == ["C0000009"])
        let record = try #require(response.records.first?.objectValue)
        #expect(record["citizen_id"] == .string("****4567"))
        #expect(record["birth_date"] == .string("1980"))
        #expect(record["sex"] == nil && record["age_band"] == nil, "fields outside @fields are not released")
        #expect(Set(response.fields) == ["citizen_id", "full_name", "birth_date", "district", "monthly_income", "household_size"])

        // The read's event is committed, names salted record keys (never ids) and the policy that decided.
        let read = try #require(await events(fixture).last)
        #expect(read.eventID == response.receipt.eventId && read.action == "read" && read.decision == .allow)
        #expect(read.recordKeys == [fixture.recordKey("C1234567"), fixture.recordKey("C0000009")])
        #expect(read.determiningPolicies == ["social-security-benefit-check"])
        let onChain = await fixture.chain.blocks.flatMap(\.transactions).map(\.payload)
        #expect(!onChain.contains { Data($0).range(of: Data("C1234567".utf8)) != nil }, "no citizen id on chain")
    }

    @Test func noLogNoDataWhenTheAccessLogCannotBeWritten() async throws {
        let fixture = try F()
        _ = try await publish(fixture, [F.citizen(1)])
        let before = await fixture.chain.events.count
        await fixture.chain.setFailNextLog(ChainServiceError(.commitTimedOut, "the chain did not commit in time"))
        do {
            _ = try await fixture.exchange.reading.request(
                F.principal(F.registry), API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "registry_update")
            )
            Issue.record("a read whose event was not committed released data")
        } catch let error as ChainServiceError {
            #expect(error.code == .commitTimedOut)
        }
        #expect(await fixture.chain.events.count == before)

        // A publish whose event fails stores nothing.
        await fixture.chain.setFailNextLog(ChainServiceError(.busy, "busy"))
        await #expect(throws: ChainServiceError.self) { _ = try await publish(fixture, [F.citizen(2)]) }
        #expect(await fixture.store.rows.count == 1)
    }

    @Test func aDeniedRequestIsLoggedAndReleasesNothing() async throws {
        let fixture = try F()
        _ = try await publish(fixture, [F.citizen(1)])
        // Housing needs the citizen's consent; without it the read is refused, naming the first refused record.
        do {
            _ = try await fixture.exchange.reading.request(
                F.principal(F.housing), API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "housing_allocation")
            )
            Issue.record("housing read without consent")
        } catch let error as ExchangeError {
            #expect(error.code == .accessDenied && error.message.contains("ids[0]"))
            let logged = try #require(await events(fixture).last)
            #expect(logged.eventID == error.eventID && logged.decision == .deny)
        }
        // After the registry records consent to social_welfare (which covers housing_allocation), it is allowed.
        let consent = try await fixture.exchange.consents.record(
            F.principal(F.registry), API.ConsentRequest(citizenId: "C0000001", purpose: "social_welfare", given: true)
        )
        #expect(consent.consents == ["social_welfare"])
        let allowed = try await fixture.exchange.reading.request(
            F.principal(F.housing), API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "housing_allocation")
        )
        let record = try #require(allowed.records.first?.objectValue)
        #expect(Set(record.keys) == ["citizen_id", "district", "household_size"])
        #expect(record["citizen_id"] != .string("C0000001"), "the id is released as a salted pseudonym")
        // A trainee is forbidden whatever else permits; a role the bundle does not declare is refused before any decision.
        await expectProblem(.accessDenied) {
            _ = try await fixture.exchange.reading.request(
                F.principal(F.socialSecurity, role: "trainee"),
                API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "benefit_eligibility")
            )
        }
        let count = await fixture.chain.events.count
        await expectProblem(.unknownRole) {
            _ = try await fixture.exchange.reading.request(
                F.principal(F.socialSecurity, role: "janitor"),
                API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "benefit_eligibility")
            )
        }
        await expectProblem(.unknownPurpose) {
            _ = try await fixture.exchange.reading.request(
                F.principal(F.socialSecurity), API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "fishing")
            )
        }
        #expect(await fixture.chain.events.count == count, "requests refused for their shape decide and log nothing")
    }

    @Test func tamperedRowsAreRefusedLocatedAndCounted() async throws {
        let fixture = try F()
        _ = try await publish(fixture, [F.citizen(1), F.citizen(2), F.citizen(3, district: "coloane")])
        let read = API.RecordsRequest(category: "citizen", ids: ["C0000001", "C0000002"], purpose: "registry_update")
        // Another record's ciphertext under this id fails decryption (its key is bound to its id).
        let other = try #require(await fixture.store.rows.values.first { $0.recordID == "C0000001" })
        await fixture.store.tamper(category: "citizen", id: "C0000002") {
            StoredRecord(
                category: $0.category, recordID: $0.recordID, publisher: $0.publisher, recordKey: $0.recordKey, citizenKey: $0.citizenKey,
                recordHash: $0.recordHash, wrappedKey: other.wrappedKey, ciphertext: other.ciphertext,
                dimensionsJSON: $0.dimensionsJSON, aggregates: $0.aggregates)
        }
        do {
            _ = try await fixture.exchange.reading.request(F.principal(F.registry), read)
            Issue.record("tampered record released")
        } catch let error as ExchangeError {
            #expect(error.code == .integrityFailure && error.message.hasPrefix("ids[1]"))
        }
        #expect(fixture.exchange.integrity.failures == 1)
        // A record moved to another group for statistics no longer matches its anchor.
        await fixture.store.tamper(category: "citizen", id: "C0000003") {
            StoredRecord(
                category: $0.category, recordID: $0.recordID, publisher: $0.publisher, recordKey: $0.recordKey, citizenKey: $0.citizenKey,
                recordHash: $0.recordHash, wrappedKey: $0.wrappedKey, ciphertext: $0.ciphertext,
                dimensionsJSON: #"{"age_band":"35-64","district":"taipa"}"#, aggregates: $0.aggregates)
        }
        await expectProblem(.integrityFailure) {
            _ = try await fixture.exchange.aggregates.aggregate(
                F.principal(F.statistics),
                API.AggregateRequest(category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "official_statistics")
            )
        }
        #expect(fixture.exchange.integrity.failures == 2)
    }

    /// Seeded: sums per group equal the plaintext sums; groups under the minimum cohort are suppressed, never decrypted.
    @Test func aggregatesMatchPlaintextSumsAndSuppressSmallCohorts() async throws {
        let seed = UInt64(ProcessInfo.processInfo.environment["DATAGATEWAY_FUZZ_SEED"] ?? "") ?? UInt64.random(in: 1...UInt64(Int32.max))
        print("aggregatesMatchPlaintextSums seed \(seed) (DATAGATEWAY_FUZZ_SEED=\(seed) replays it)")
        var random = SplitMix64(seed: seed)
        let fixture = try F()
        let districts = ["taipa", "coloane", "se"]
        var records: [JSONValue] = []
        var sums: [String: (count: Int, sum: Int64)] = [:]
        for number in 1...40 {
            // Coloane gets few records, so its cohort stays under 10.
            let district = number % 8 == 0 ? "coloane" : districts[Int(random.next() % 3) == 1 ? 0 : 2]
            let income = Int(random.next() % 50_000)
            records.append(F.citizen(number, district: district, income: income))
            sums[district, default: (0, 0)].count += 1
            sums[district, default: (0, 0)].sum += Int64(income)
        }
        _ = try await publish(fixture, records)
        let response = try await fixture.exchange.aggregates.aggregate(
            F.principal(F.statistics),
            API.AggregateRequest(category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "official_statistics")
        )
        #expect(response.minimumCohort == 10)
        for group in response.groups {
            guard case .string(let district)? = group.key["district"], let expected = sums[district] else {
                Issue.record("unexpected group \(group.key)")
                continue
            }
            if expected.count < 10 {
                #expect(group.suppressed && group.sum == nil && group.cohort == nil, "\(district): \(expected.count) citizens")
            } else {
                #expect(!group.suppressed && group.sum == expected.sum && group.count == expected.count, "seed \(seed), \(district)")
            }
        }
        #expect(Set(response.groups.compactMap { $0.key["district"]?.stringValue }) == Set(sums.keys))
        // The statistics office may not read the records themselves: its permit is aggregate-only.
        await expectProblem(.accessDenied) {
            _ = try await fixture.exchange.reading.request(
                F.principal(F.statistics), API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "official_statistics")
            )
        }
    }

    @Test func grantsApplyFromTheirBlockProjectFieldsAndStopWhenRevokedOrExpired() async throws {
        let fixture = try F()
        _ = try await publish(fixture, [F.citizen(1)])
        let read = API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "tenant_screening")
        await expectProblem(.accessDenied) { _ = try await fixture.exchange.reading.request(F.principal(F.housing), read) }

        let issued = try await fixture.exchange.grants.issue(
            F.principal(F.registry),
            API.GrantRequest(grantee: F.housing, category: "citizen", purpose: "public_administration", fields: ["district"], expiresAt: "2027-06-30")
        )
        #expect(issued.grant.live && issued.grant.grantor == F.registry)
        let granted = try await fixture.exchange.reading.request(F.principal(F.housing), read)
        #expect(granted.grant == issued.grant.grantId)
        #expect(granted.records.first?.objectValue.map { Set($0.keys) } == ["district"])
        #expect(try await fixture.exchange.grants.list(F.principal(F.housing)).grants.map(\.grantId) == [issued.grant.grantId])

        // Only the holder's own department issues or revokes grants on its node.
        await expectProblem(.notDataHolder) { _ = try await fixture.exchange.grants.revoke(F.principal(F.housing), id: issued.grant.grantId) }
        let revoked = try await fixture.exchange.grants.revoke(F.principal(F.registry), id: issued.grant.grantId)
        #expect(revoked.grant.revoked && !revoked.grant.live)
        await expectProblem(.grantRevoked) { _ = try await fixture.exchange.grants.revoke(F.principal(F.registry), id: issued.grant.grantId) }
        await expectProblem(.accessDenied) { _ = try await fixture.exchange.reading.request(F.principal(F.housing), read) }

        // A grant that expires stops applying when the clock passes it, with no transaction.
        _ = try await fixture.exchange.grants.issue(
            F.principal(F.registry), API.GrantRequest(grantee: F.housing, category: "citizen", purpose: "tenant_screening", expiresAt: "2027-02-01")
        )
        _ = try await fixture.exchange.reading.request(F.principal(F.housing), read)
        fixture.clock.advance(byMs: 30 * 86_400_000)
        await expectProblem(.accessDenied) { _ = try await fixture.exchange.reading.request(F.principal(F.housing), read) }

        // Bad grants are refused before anything is decided.
        for (expiresAt, code) in [
            ("2027-02-30", ExchangeError.Code.invalidDate), ("soon", .invalidRequest), ("2020-01-01", .invalidRequest),
            ("2099-01-01", .invalidRequest),
        ] {
            await expectProblem(code) {
                _ = try await fixture.exchange.grants.issue(
                    F.principal(F.registry), API.GrantRequest(grantee: F.housing, category: "citizen", purpose: "research", expiresAt: expiresAt)
                )
            }
        }
        await expectProblem(.unknownGrantee) {
            _ = try await fixture.exchange.grants.issue(
                F.principal(F.registry), API.GrantRequest(grantee: "nobody", category: "citizen", purpose: "research", expiresAt: "2027-06-30")
            )
        }
    }

    @Test func regulatorsPageTheLogAndItsProofsVerifyAgainstTheGenesis() async throws {
        let fixture = try F()
        _ = try await publish(fixture, [F.citizen(1)])
        for _ in 0..<4 {
            _ = try? await fixture.exchange.reading.request(
                F.principal(F.housing), API.RecordsRequest(category: "citizen", ids: ["C0000001"], purpose: "housing_allocation")
            )
        }
        await expectProblem(.accessDenied) { _ = try await fixture.exchange.audit.events(F.principal(F.housing), after: nil, limit: 10) }

        var seen: [String] = []
        var cursor: API.AuditCursor?
        repeat {
            let page = try await fixture.exchange.audit.events(F.principal(F.regulator, role: "auditor"), after: cursor, limit: 2)
            seen += page.events.map(\.eventId)
            cursor = page.next.flatMap(API.AuditCursor.init(parsing:))
        } while cursor != nil
        // Every event, each once, in commit order; the regulator's own reads are events too.
        let committed = await events(fixture).map(\.eventID)
        #expect(Set(seen).count == seen.count && Set(committed.prefix(seen.count)) == Set(seen))

        let proof = try await fixture.exchange.audit.proof(F.principal(F.regulator), eventID: seen[0])
        let verified = try ProofVerifier(genesis: fixture.chain.genesis).verify(proof.proof)
        #expect(verified.committed && (verified.transaction.kind == .accessLog || verified.transaction.kind == .accessLogBatch))
        #expect(try verified.transaction.accessEvents().map(\.eventID) == [seen[0]])
        await expectProblem(.notFound) { _ = try await fixture.exchange.audit.proof(F.principal(F.regulator), eventID: "no-such-event") }

        let blocks = try await fixture.exchange.audit.blocks(F.principal(F.regulator), from: 1, limit: 256)
        #expect(blocks.blocks.count >= 6)
        await expectProblem(.invalidRequest) { _ = try await fixture.exchange.audit.blocks(F.principal(F.regulator), from: 0, limit: 1) }

        // A derived table that differs from the blocks is not served, though the read itself is logged.
        await fixture.chain.setDerivedFault(.accessEvents, "access_events differs from the blocks at height 3")
        let before = await fixture.chain.events.count
        await expectProblem(.derivedStateMismatch) { _ = try await fixture.exchange.audit.events(F.principal(F.regulator), after: nil, limit: 5) }
        #expect(await fixture.chain.events.count == before + 1)
    }

    @Test func concurrentFirstRequestsOfASoloValidatorApproveItsBundleOnce() async throws {
        let fixture = try F()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for number in 1...8 { group.addTask { _ = try await publish(fixture, [F.citizen(number)]) } }
            try await group.waitForAll()
        }
        let proposals = await fixture.chain.blocks.flatMap(\.transactions).filter { $0.kind == .proposal }
        #expect(proposals.count == 1)
        #expect(await fixture.store.rows.count == 8)
        // An identical re-publish stores nothing and waits for the anchor that already holds it.
        let again = try await publish(fixture, [F.citizen(3)])
        #expect(again.accepted == 0 && again.alreadyPresent == 1 && again.anchors.count == 1)
        await expectProblem(.recordConflict) { _ = try await publish(fixture, [F.citizen(3, income: 1)]) }
    }
}

/// Runs `body` and expects it to fail with an `ExchangeError` of `code`.
func expectProblem(_ code: ExchangeError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(code), nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as ExchangeError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}
