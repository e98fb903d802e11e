import Foundation
import GatewayChain
import GatewayClient
import GatewayCrypto
import GatewayNode
import GatewaySchema
import GatewayWire

/// A demo step that did not produce what it should; the CLI names it and exits non-zero.
package struct DemoFailure: Error, CustomStringConvertible {
    package let step: String
    package let message: String
    package var description: String { "step '\(step)' failed: \(message)" }
}

/// What the scenario observed, for the narration and for the end-to-end test's assertions.
package struct DemoReport: Sendable {
    package var published = 0
    package var socialSecurityRecord: JSONValue = .null
    package var socialSecurityFields: [String] = []
    package var housingDenial: ClientResponse.Problem?
    package var aggregate: API.AggregateResponse?
    package var expectedSums: [String: Int64] = [:]
    package var auditEvents: [API.AuditEvent] = []
    package var scenarioEvents: [(eventID: String, decision: String)] = []
    package var verifiedProofs = 0
    /// Ids of the records the demo erased (statistics after them no longer count them).
    package var erased: [String] = []
    /// The citizen whose record social security checked in step 2 (the citizen of step 8).
    package var checkedCitizen = ""
}

/// The whole exchange, driven over the real HTTP API as the departments and the regulator would.
package struct DemoScenario: Sendable {
    package let baseURL: String
    package let consortium: DemoConsortium
    package let suite: any CryptoSuite
    package let genesis: Genesis
    package let recordCount: Int
    package let seed: UInt64
    /// The node's TLS certificate, pinned by every client (nil: the node serves plain HTTP).
    package let nodeCertificate: String?

    package init(
        baseURL: String, consortium: DemoConsortium, suite: any CryptoSuite, genesis: Genesis, recordCount: Int = 1_000, seed: UInt64 = 2026,
        nodeCertificate: String? = nil
    ) {
        self.nodeCertificate = nodeCertificate
        self.baseURL = baseURL
        self.consortium = consortium
        self.suite = suite
        self.genesis = genesis
        self.recordCount = recordCount
        self.seed = seed
    }

    /// A department's client of the registry's node. It checks the node's RFC 9421 signature on every answer, with
    /// the node key the genesis registers for the registry's node (an answer that does not verify fails the step).
    func client(_ department: String) throws -> GatewayClient {
        var client = try consortium.client(department, baseURL: baseURL, suite: suite, nodeCertificate: nodeCertificate)
        guard let node = genesis.members.first(where: { $0.department == DemoConsortium.registry }) else {
            throw DemoFailure(step: "setup", message: "the genesis names no node of \(DemoConsortium.registry)")
        }
        client.nodeKey = try suite.verifyingKey(pem: node.publicKey)
        return client
    }

    package func run(narrate: @Sendable (String) -> Void) async throws -> DemoReport {
        var report = DemoReport()
        let citizens = SyntheticCitizens.generate(count: recordCount, seed: seed)

        // 1. Publish.
        var step = "publish"
        narrate("1. The civil registry publishes \(recordCount) synthetic citizen records (seed \(seed)).")
        narrate(
            "   every request is signed (RFC 9421, the department's key); every answer is signed by the node and checked against its key in the genesis"
        )
        let registry = try client(DemoConsortium.registry)
        let batchSize = 250
        for start in stride(from: 0, to: citizens.count, by: batchSize) {
            let batch = Array(citizens[start..<min(start + batchSize, citizens.count)])
            let response = try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: batch))
            guard response.status == 201 else { throw failure(step, response) }
            let body = try response.decode(API.PublishResponse.self)
            report.published += body.accepted + body.alreadyPresent
            report.scenarioEvents.append((body.event.eventId!, "allow"))
            let heights = body.anchors.map { String($0.height) }.joined(separator: ", ")
            narrate("   published \(report.published)/\(recordCount): records encrypted at rest, their salted hashes anchored in block \(heights)")
        }

        // 2. Social security, permitted purpose.
        step = "social security request"
        let target = citizens[42]
        let targetID = target["citizen_id"]!.stringValue!
        report.checkedCitizen = targetID
        narrate("2. Social security asks for citizen \(targetID) to check benefit eligibility.")
        let social = try await client(DemoConsortium.socialSecurity).send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [targetID], purpose: "benefit_eligibility")
        )
        guard social.status == 200 else { throw failure(step, social) }
        let granted = try social.decode(API.RecordsResponse.self)
        guard let record = granted.records.first else { throw DemoFailure(step: step, message: "the record was not returned") }
        report.socialSecurityRecord = record
        report.socialSecurityFields = granted.fields
        report.scenarioEvents.append((granted.receipt.eventId!, "allow"))
        guard record["phone"] == nil, record["sex"] == nil else { throw DemoFailure(step: step, message: "fields outside the permit were returned") }
        guard record["citizen_id"]?.stringValue == "****" + targetID.suffix(4), record["birth_date"]?.stringValue?.count == 4 else {
            throw DemoFailure(step: step, message: "masks were not applied")
        }
        narrate(
            "   allowed by \(granted.policies.joined(separator: ", ")); fields \(granted.fields.joined(separator: ", ")); masks \(granted.masks.keys.sorted().map { "\($0)=\(granted.masks[$0]!)" }.joined(separator: ", "))"
        )
        narrate("   received: \(record.canonicalString)")
        narrate("   access logged on chain before release: event \(granted.receipt.eventId!) in block \(granted.receipt.height)")

        // 3. Housing, purpose not allowed.
        step = "housing request"
        narrate("3. Housing asks for the same citizen for tenant screening, a purpose no policy allows.")
        let housing = try await client(DemoConsortium.housing).send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [targetID], purpose: "tenant_screening")
        )
        guard housing.status == 403, let problem = housing.problem, problem.code == "access_denied", let deniedEvent = problem.eventId else {
            throw DemoFailure(step: step, message: "expected 403 access_denied, got HTTP \(housing.status)")
        }
        report.housingDenial = problem
        report.scenarioEvents.append((deniedEvent, "deny"))
        narrate("   denied (HTTP 403): \(problem.detail)")
        narrate("   the denial is logged too: event \(deniedEvent)")

        // 3b. Consent: housing allocation needs the citizen's consent, recorded on chain by the civil registry.
        step = "consent"
        narrate("   The citizen applies for package housing: the civil registry records their consent to social-welfare use on chain.")
        let consent = try await registry.send(
            "POST", "/v1/consents", json: API.ConsentRequest(citizenId: targetID, purpose: "social_welfare", given: true)
        )
        guard consent.status == 201 else { throw failure(step, consent) }
        let consentReceipt = try consent.decode(API.ConsentResponse.self)
        report.scenarioEvents.append((consentReceipt.receipt.eventId!, "allow"))
        narrate("   consent committed in block \(consentReceipt.height) under the citizen's salted hash (no id on chain)")
        let allocation = try await client(DemoConsortium.housing).send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [targetID], purpose: "housing_allocation")
        )
        guard allocation.status == 200 else { throw failure(step, allocation) }
        let allocated = try allocation.decode(API.RecordsResponse.self)
        guard let housingRecord = allocated.records.first, housingRecord["citizen_id"]?.stringValue != targetID, housingRecord["full_name"] == nil
        else {
            throw DemoFailure(step: step, message: "housing did not get the pseudonymised projection")
        }
        report.scenarioEvents.append((allocated.receipt.eventId!, "allow"))
        narrate(
            "   housing allocation (purpose under social_welfare) now allowed by \(allocated.policies.joined(separator: ", ")): \(housingRecord.canonicalString)"
        )

        // 3c. A grant on chain: the registry lets housing screen tenants, for a month, with two fields only.
        step = "grant"
        narrate("   The civil registry grants housing tenant screening on citizen records for 30 days, district and household size only.")
        let expiry = Date(timeIntervalSinceNow: 30 * 86_400)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        let issued = try await registry.send(
            "POST", "/v1/grants",
            json: API.GrantRequest(
                grantee: DemoConsortium.housing, category: "citizen", purpose: "tenant_screening", fields: ["district", "household_size"],
                expiresAt: formatter.string(from: expiry)
            ))
        guard issued.status == 201 else { throw failure(step, issued) }
        let grant = try issued.decode(API.GrantResponse.self)
        report.scenarioEvents.append((grant.receipt.eventId!, "allow"))
        narrate("   grant \(grant.grant.grantId) committed in block \(grant.height) (departments, category and purpose only: no citizen data)")
        let screening = try await client(DemoConsortium.housing).send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [targetID], purpose: "tenant_screening")
        )
        guard screening.status == 200 else { throw failure(step, screening) }
        let screened = try screening.decode(API.RecordsResponse.self)
        guard screened.grant == grant.grant.grantId, screened.fields == ["district", "household_size"],
            let screenedRecord = screened.records.first, screenedRecord.objectValue?.keys.sorted() == ["district", "household_size"]
        else {
            throw DemoFailure(step: step, message: "the grant's fields did not bound the answer: \(screened.fields)")
        }
        report.scenarioEvents.append((screened.receipt.eventId!, "allow"))
        narrate("   tenant screening now allowed by \(screened.policies.joined(separator: ", ")) under the grant: \(screenedRecord.canonicalString)")
        let revoked = try await registry.send("DELETE", "/v1/grants/\(grant.grant.grantId)")
        guard revoked.status == 200 else { throw failure(step, revoked) }
        report.scenarioEvents.append((try revoked.decode(API.GrantResponse.self).receipt.eventId!, "allow"))
        let afterRevocation = try await client(DemoConsortium.housing).send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [targetID], purpose: "tenant_screening")
        )
        guard afterRevocation.status == 403, let refusal = afterRevocation.problem, let refusalEvent = refusal.eventId else {
            throw DemoFailure(step: step, message: "expected 403 after the revocation, got HTTP \(afterRevocation.status)")
        }
        report.scenarioEvents.append((refusalEvent, "deny"))
        narrate("   the registry revokes the grant; housing's next request is denied (HTTP 403)")

        // 3d. Roles: a trainee at social security signs as the department, in a role the policies single out.
        step = "role"
        let trainee = try await client(DemoConsortium.socialSecurity).acting(as: "trainee").send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: [targetID], purpose: "benefit_eligibility")
        )
        guard trainee.status == 403, let traineeProblem = trainee.problem, let traineeEvent = traineeProblem.eventId,
            traineeProblem.detail.contains("trainees-no-citizen-records")
        else {
            throw DemoFailure(step: step, message: "expected the trainee to be refused by trainees-no-citizen-records, got HTTP \(trainee.status)")
        }
        report.scenarioEvents.append((traineeEvent, "deny"))
        narrate("   a social security trainee (DG-Role: trainee) asks for the same record: denied by trainees-no-citizen-records")

        // 4. Statistics over encrypted incomes.
        step = "statistics aggregate"
        narrate("4. The statistics office asks for the sum and mean of monthly income by district (Paillier-encrypted values).")
        let stats = try await client(DemoConsortium.statistics).send(
            "POST", "/v1/aggregates",
            json: API.AggregateRequest(category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "official_statistics")
        )
        guard stats.status == 200 else { throw failure(step, stats) }
        let aggregate = try stats.decode(API.AggregateResponse.self)
        report.aggregate = aggregate
        report.scenarioEvents.append((aggregate.receipt.eventId!, "allow"))
        var expected: [String: (sum: Int64, count: Int)] = [:]
        for citizen in citizens {
            let district = citizen["district"]!.stringValue!
            expected[district, default: (0, 0)].sum += citizen["monthly_income"]!.integerValue!
            expected[district, default: (0, 0)].count += 1
        }
        report.expectedSums = expected.mapValues(\.sum)
        narrate("   minimum cohort \(aggregate.minimumCohort), by \(aggregate.policies.joined(separator: ", ")):")
        if let decryption = aggregate.decryption {
            narrate(
                "   decrypted by the consortium (key \(decryption.threshold)): request \(decryption.request.prefix(12))… in block \(decryption.height), verified shares from \(decryption.shareHolders.joined(separator: ", "))"
            )
        }
        for group in aggregate.groups {
            let district = group.key["district"]?.stringValue ?? "?"
            if group.suppressed {
                guard expected[district]!.count < aggregate.minimumCohort else {
                    throw DemoFailure(step: step, message: "\(district) was suppressed although it has \(expected[district]!.count) citizens")
                }
                narrate(
                    "   \(district.padding(toLength: 14, withPad: " ", startingAt: 0))  suppressed (fewer than \(aggregate.minimumCohort) citizens; never decrypted)"
                )
            } else {
                guard group.sum == expected[district]!.sum, group.count == expected[district]!.count else {
                    throw DemoFailure(step: step, message: "\(district): sum \(group.sum ?? -1) ≠ expected \(expected[district]!.sum)")
                }
                narrate(
                    "   \(district.padding(toLength: 14, withPad: " ", startingAt: 0))  n=\(group.count!)  sum=\(group.sum!)  mean=\(String(format: "%.2f", group.mean!))  ✓ matches the plaintext"
                )
            }
        }
        guard aggregate.groups.contains(where: \.suppressed) else { throw DemoFailure(step: step, message: "no group was suppressed") }

        // 4b. Differential privacy: the office's researchers get noisy statistics within a monthly ε budget.
        step = "private statistics"
        narrate("   The office's researchers (DG-Role: researcher) may only have differentially private statistics (ε 0.5, budget 1 a month):")
        let researcher = try client(DemoConsortium.statistics).acting(as: "researcher")
        let research = API.AggregateRequest(category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "research")
        for attempt in 1...3 {
            let answer = try await researcher.send("POST", "/v1/aggregates", json: research)
            if attempt == 3 {
                guard answer.status == 409, let problem = answer.problem, problem.code == "privacy_budget_exhausted", let event = problem.eventId
                else {
                    throw DemoFailure(step: step, message: "expected the third private statistic to exceed the budget, got HTTP \(answer.status)")
                }
                report.scenarioEvents.append((event, "deny"))
                narrate("   a third one is refused (409 privacy_budget_exhausted): \(problem.detail)")
                continue
            }
            guard answer.status == 200 else { throw failure(step, answer) }
            let noisy = try answer.decode(API.AggregateResponse.self)
            report.scenarioEvents.append((noisy.receipt.eventId!, "allow"))
            let shown = noisy.groups.filter { !$0.suppressed }.prefix(2).map { group in
                let district = group.key["district"]?.stringValue ?? "?"
                return "\(district) sum≈\(group.sum ?? 0) (exact \(expected[district]?.sum ?? 0))"
            }
            guard let epsilon = noisy.epsilon, let scale = noisy.noiseScale, noisy.groups.allSatisfy({ $0.cohort == nil }) else {
                throw DemoFailure(step: step, message: "a private statistic did not state its ε and noise, or released an exact cohort")
            }
            narrate(
                "   ε \(epsilon), noise scale \(String(format: "%.0f", scale)), ε left \(noisy.epsilonRemaining ?? "?"): \(shown.joined(separator: ", "))"
            )
        }

        // 5. Erasure at a citizen's request.
        step = "erasure"
        let erasedID = citizens[7]["citizen_id"]!.stringValue!
        narrate("5. A citizen asks the civil registry to erase their record (PIPL art. 47, GDPR art. 17).")
        let erasure = try await registry.send("DELETE", "/v1/records/citizen/\(erasedID)")
        guard erasure.status == 200 else { throw failure(step, erasure) }
        let erased = try erasure.decode(API.ErasureResponse.self)
        report.scenarioEvents.append((erased.event.eventId!, "allow"))
        report.erased.append(erasedID)
        narrate(
            "   erased: its data key destroyed with its row, the running sums compensated, erasure transaction \(erased.erasure.transaction.prefix(12))… in block \(erased.erasure.height) (salted key only)"
        )
        let gone = try await registry.send("GET", "/v1/records/citizen/\(erasedID)?purpose=registry_update")
        guard gone.status == 410, gone.problem?.code == "record_erased", gone.problem?.transaction == erased.erasure.transaction else {
            throw failure(step, gone)
        }
        narrate("   a read of it now: 410 record_erased, naming that transaction")

        // 6. Regulator audit with proofs.
        step = "regulator audit"
        narrate("6. The regulator lists the access log and verifies each decision's inclusion proof against the genesis.")
        let regulator = try client(DemoConsortium.regulator)
        var events: [API.AuditEvent] = []
        var cursor: String? = nil
        repeat {
            let query = "/v1/audit/events?limit=200" + (cursor.map { "&after=\($0)" } ?? "")
            let page = try await regulator.send("GET", query)
            guard page.status == 200 else { throw failure(step, page) }
            let decoded = try page.decode(API.AuditPage.self)
            events += decoded.events
            cursor = decoded.next
        } while cursor != nil
        report.auditEvents = events
        let verifier = try ProofVerifier(genesis: genesis)
        for (eventID, decision) in report.scenarioEvents {
            guard let event = events.first(where: { $0.eventId == eventID }) else {
                throw DemoFailure(step: step, message: "event \(eventID) is missing from the access log")
            }
            guard event.decision == decision else { throw DemoFailure(step: step, message: "event \(eventID) logged as \(event.decision)") }
            let proofResponse = try await regulator.send("GET", "/v1/audit/events/\(eventID)/proof")
            guard proofResponse.status == 200 else { throw failure(step, proofResponse) }
            let proof = try proofResponse.decode(API.ProofResponse.self)
            let verified = try verifier.verify(proof.proof)
            let logged = try verified.transaction.accessEvents().first { $0.eventID == eventID }
            guard let logged, logged.decision.rawValue == decision, verified.height == event.height else {
                throw DemoFailure(step: step, message: "proof for \(eventID) proves a different event")
            }
            report.verifiedProofs += 1
            let requester = event.requester + (event.role.map { "/" + $0 } ?? "")
            let grant = event.grant.map { "  grant=" + $0.prefix(14) + "…" } ?? ""
            narrate(
                "   block \(String(event.height).padding(toLength: 4, withPad: " ", startingAt: 0)) \(event.decision.padding(toLength: 5, withPad: " ", startingAt: 0)) \(requester.padding(toLength: 24, withPad: " ", startingAt: 0)) \(event.action.padding(toLength: 14, withPad: " ", startingAt: 0)) purpose=\(event.purpose)\(grant)  proof ✓"
            )
        }
        narrate("   \(events.count) events in the log; \(report.verifiedProofs) inclusion proofs verified with nothing but genesis.json.")
        return report
    }

    func failure(_ step: String, _ response: ClientResponse) -> DemoFailure {
        let detail = response.problem.map { "\($0.code): \($0.detail)" } ?? String(decoding: response.body.prefix(300), as: UTF8.self)
        return DemoFailure(step: step, message: "HTTP \(response.status): \(detail)")
    }
}
