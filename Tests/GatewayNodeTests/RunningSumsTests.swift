import Foundation
import GatewayChain
import GatewayCrypto
import GatewayNode
import GatewaySchema
import GatewayStore
import GatewayTestSupport
import GatewayWire
import Testing

/// Statistics across departments over running encrypted sums (fakes: one node that is both the statistics office's
/// node and a holder). The sums touch groups, not records; a recomputation from the records checks them; an altered
/// row is refused; every enumerated group is contributed; and a holder's node checks the query against its own permit.
@Suite struct RunningSumsTests {
    typealias F = ExchangeFixture
    static let across = API.StatisticsRequest(category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "official_statistics")

    func publish(_ fixture: F, _ records: [JSONValue]) async throws {
        _ = try await fixture.exchange.publishing.publish(F.principal(F.registry), category: "citizen", records: records)
    }

    /// Three batches into two districts (and one citizen in coloane), with their plaintext sums.
    func populate(_ fixture: F) async throws -> [String: Int64] {
        var sums: [String: Int64] = [:]
        for batch in 0..<3 {
            var records: [JSONValue] = []
            for index in 0..<10 {
                let number = batch * 100 + index
                let district = index % 2 == 0 ? "taipa" : "fatima"
                let income = 1_000 + number * 7
                records.append(F.citizen(number, district: district, ageBand: index < 5 ? "18-34" : "35-64", income: income))
                sums[district, default: 0] += Int64(income)
            }
            try await publish(fixture, records)
        }
        try await publish(fixture, [F.citizen(999, district: "coloane", income: 5)])
        return sums
    }

    @Test func aStatisticFromRunningSumsMatchesThePlaintextAndCoversEveryGroup() async throws {
        let fixture = try F(holder: F.statistics)
        let expected = try await populate(fixture)
        // Three publishes, two age bands and three districts: a handful of rows per field, not one per record.
        let rows = try await fixture.store.runningSums(category: "citizen", field: "monthly_income")
        #expect(rows.count == 3 * 4 + 1 && rows.map(\.records).reduce(0, +) == 31)
        let answer = try await fixture.exchange.statistics.statistics(F.principal(F.statistics), Self.across)
        #expect(answer.holders.map(\.decision) == ["allow"] && answer.holders[0].node == "node-1")
        let byDistrict = Dictionary(uniqueKeysWithValues: answer.groups.map { ($0.key["district"]!.stringValue!, $0) })
        #expect(byDistrict.count == 7, "every district of the schema's enum is a group")
        #expect(byDistrict["taipa"]?.sum == expected["taipa"] && byDistrict["taipa"]?.count == 15)
        #expect(byDistrict["fatima"]?.sum == expected["fatima"] && byDistrict["fatima"]?.cohort == 15)
        #expect(byDistrict["coloane"]?.suppressed == true && byDistrict["se"]?.suppressed == true)
        #expect(try await fixture.exchange.aggregates.verifyRunningSums(category: "citizen", field: "monthly_income") == 5)
    }

    @Test func erasingARecordTakesItOutOfTheStatisticAndTheRecomputationAgrees() async throws {
        let fixture = try F(holder: F.statistics)
        var expected = try await populate(fixture)
        // Citizen 2 (taipa, income 1,014) is erased by its holder; citizen 999 is coloane's only member.
        let erased = try await fixture.exchange.erasing.erase(
            F.principal(F.registry), category: "citizen", id: F.citizen(2)["citizen_id"]!.stringValue!)
        #expect(erased.erasure.height >= 1 && erased.event.eventId != nil)
        expected["taipa", default: 0] -= 1_014
        let answer = try await fixture.exchange.statistics.statistics(F.principal(F.statistics), Self.across)
        let byDistrict = Dictionary(uniqueKeysWithValues: answer.groups.map { ($0.key["district"]!.stringValue!, $0) })
        #expect(byDistrict["taipa"]?.sum == expected["taipa"] && byDistrict["taipa"]?.count == 14 && byDistrict["taipa"]?.cohort == 14)
        #expect(byDistrict["fatima"]?.sum == expected["fatima"] && byDistrict["fatima"]?.count == 15)
        // Compensating rows (one per aggregate field) keep the recomputation exact, also for a group left empty.
        _ = try await fixture.exchange.erasing.erase(F.principal(F.registry), category: "citizen", id: F.citizen(999)["citizen_id"]!.stringValue!)
        #expect(try await fixture.exchange.aggregates.verifyRunningSums(category: "citizen", field: "monthly_income") == 5)
        let rows = try await fixture.store.runningSums(category: "citizen", field: "monthly_income")
        #expect(rows.map(\.records).reduce(0, +) == 29 && rows.filter { $0.records < 0 }.count == 2)
        // Erasing is the holder's: another department is refused by policy, an unknown id is 404, a second erasure 410.
        await expectProblem(.accessDenied) {
            _ = try await fixture.exchange.erasing.erase(F.principal(F.housing), category: "citizen", id: F.citizen(3)["citizen_id"]!.stringValue!)
        }
        await expectProblem(.notFound) { _ = try await fixture.exchange.erasing.erase(F.principal(F.registry), category: "citizen", id: "C7654321") }
        await expectProblem(.recordErased) {
            _ = try await fixture.exchange.erasing.erase(F.principal(F.registry), category: "citizen", id: F.citizen(2)["citizen_id"]!.stringValue!)
        }
    }

    @Test func alteredOrMissingRunningSumsAreRefusedAndTheRecomputationFindsThem() async throws {
        let fixture = try F(holder: F.statistics)
        _ = try await populate(fixture)
        let original = await fixture.store.sums
        // A row's ciphertext altered: its tag fails, the statistic is refused and nothing is released.
        var altered = original
        let victim = try #require(altered.firstIndex { $0.field == "monthly_income" })
        let row = altered[victim]
        altered[victim] = RunningSum(
            id: row.id, category: row.category, field: row.field, groupKey: row.groupKey, ciphertext: Array(row.ciphertext.reversed()),
            records: row.records, cohort: row.cohort, tag: row.tag)
        await fixture.store.setSums(altered)
        await expectProblem(.integrityFailure) { _ = try await fixture.exchange.statistics.statistics(F.principal(F.statistics), Self.across) }
        // A row deleted: every remaining tag holds, but the recomputation from the records finds the difference.
        await fixture.store.setSums(original.filter { $0.id != row.id })
        await expectProblem(.integrityFailure) {
            _ = try await fixture.exchange.aggregates.verifyRunningSums(category: "citizen", field: "monthly_income")
        }
        await fixture.store.setSums(original)
        #expect(try await fixture.exchange.aggregates.verifyRunningSums(category: "citizen", field: "monthly_income") == 5)
    }

    @Test func holdersCheckTheQueryAgainstTheirOwnPermitAndOnlyNodesAskThem() async throws {
        let fixture = try F(holder: F.statistics)
        _ = try await populate(fixture)
        let node = Principal(department: F.statistics, node: "node-2", requestDigest: SystemRandom().bytes(count: 32))
        func ask(cohort: Int, epsilon: Int64 = 0) -> API.ContributionRequest {
            API.ContributionRequest(
                statisticID: "s-\(cohort)-\(epsilon)", requester: F.statistics, role: nil, category: "citizen", field: "monthly_income",
                groupBy: ["district"], purpose: "official_statistics", epsilonMicros: epsilon, budgetMicros: epsilon == 0 ? 0 : 1_000_000,
                minimumCohort: cohort, holders: ["node-1"], salt: String(repeating: "07", count: 32))
        }
        // A cohort below this holder's permit (10) is refused, and the refusal is logged.
        do {
            _ = try await fixture.exchange.statistics.contribute(node, ask(cohort: 3))
            Issue.record("a contribution below the permit's cohort was given")
        } catch let error as ExchangeError {
            #expect(error.code == .accessDenied && error.message.contains("minimum cohort of 10"), "\(error)")
            #expect(await fixture.chain.events.last?.event.decision == .deny)
        }
        let given = try await fixture.exchange.statistics.contribute(node, ask(cohort: 10))
        #expect(given.groups.count == 7 && given.holder == "node-1")
        // A department is not a node, and a node relays only for its own department; statistics are asked at one's own node.
        await expectProblem(.accessDenied) { _ = try await fixture.exchange.statistics.contribute(F.principal(F.statistics), ask(cohort: 10)) }
        let stranger = Principal(department: F.housing, node: "node-3", requestDigest: SystemRandom().bytes(count: 32))
        await expectProblem(.accessDenied) { _ = try await fixture.exchange.statistics.contribute(stranger, ask(cohort: 10)) }
        let elsewhere = try F(holder: F.registry)
        await expectProblem(.accessDenied) { _ = try await elsewhere.exchange.statistics.statistics(F.principal(F.statistics), Self.across) }
        // Only the category's dimensions group a statistic.
        await expectProblem(.unknownField) {
            _ = try await fixture.exchange.statistics.statistics(
                F.principal(F.statistics),
                API.StatisticsRequest(category: "citizen", field: "monthly_income", groupBy: ["birth_date"], purpose: "official_statistics"))
        }
    }

    /// Answers from another holder's node are input from the network: a sum that is not a ciphertext under the
    /// consortium key, a wrong set of groups, or another node's answer is refused, and nothing is put before the
    /// consortium.
    @Test(arguments: 0..<4) func malformedHolderAnswersAreRefusedBeforeAnythingIsDecrypted(kind: Int) async throws {
        let peer = ForgedPeer(kind: kind)
        let fixture = try F(holder: F.statistics, shareHolders: 2, statisticsPeers: peer)
        _ = try await populate(fixture)
        let before = await fixture.chain.openDecryptions().count
        do {
            _ = try await fixture.exchange.statistics.statistics(F.principal(F.statistics), Self.across)
            Issue.record("a malformed holder answer was accepted")
        } catch let error as ExchangeError {
            #expect(error.message.contains("node-2"), "\(error)")
        }
        #expect(await fixture.chain.openDecryptions().count == before, "nothing was put before the consortium")
    }

    /// A holder's node that answers with something other than a proper contribution.
    struct ForgedPeer: StatisticsPeering {
        let kind: Int

        func contribution(from node: String, _ request: API.ContributionRequest) async throws -> API.ContributionResponse {
            let salt = Hex.decode(request.salt)!
            let suite = InternationalSuite()
            let groups = ["fatima", "santo_antonio", "sao_lazaro", "se", "sao_lourenco", "taipa", "coloane"].map { district in
                let label = Hex.encode(suite.hash(salt + Array(JSONValue.object(["district": .string(district)]).canonicalString.utf8)))
                let sum = kind == 0 ? String(repeating: "ff", count: 4_096) : "00"
                return API.ContributionGroup(label: label, cohort: 20, count: 20, sum: sum)
            }
            switch kind {
            case 0, 1: return API.ContributionResponse(holder: node, eventId: "e", groups: groups)  // not ciphertexts
            case 2: return API.ContributionResponse(holder: node, eventId: "e", groups: Array(groups.prefix(3)))  // groups missing
            default: return API.ContributionResponse(holder: "node-9", eventId: "e", groups: groups)  // another node's answer
            }
        }
    }
}
