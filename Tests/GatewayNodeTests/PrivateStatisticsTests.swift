import Foundation
import GatewayChain
import GatewayCrypto
import GatewayNode
import GatewaySchema
import GatewayTestSupport
import GatewayWire
import Testing

/// Differentially private statistics: a permit with `@dp_epsilon` makes every released sum noisy (the holder adds the
/// noise under encryption, so no node ever sees the exact sum), the ε allowed is in the access event, the chain charges
/// it with the decryption request, and a requester's monthly budget refuses the statistic that would exceed it (409,
/// with what is left).
@Suite struct PrivateStatisticsTests {
    typealias F = ExchangeFixture

    /// The demo bundle with the statistics office's permit made differentially private.
    static func policies(epsilon: String, budget: String) throws -> URL {
        let directory = try TestPaths.temporaryDirectory("dp_policies")
        let demo = try String(contentsOf: TestPaths.policies.appendingPathComponent("demo.cedar"), encoding: .utf8)
        let marker = #"@id("statistics-aggregates-only")"#
        let private_ = demo.replacingOccurrences(of: marker, with: marker + #" @dp_epsilon("\#(epsilon)") @dp_budget("\#(budget)")"#)
        guard private_ != demo else { throw NodeError("the statistics permit was not found in demo.cedar") }
        try private_.write(to: directory.appendingPathComponent("demo.cedar"), atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            at: TestPaths.policies.appendingPathComponent("entities.json"), to: directory.appendingPathComponent("entities.json"))
        return directory
    }

    static let statistics = API.AggregateRequest(category: "citizen", field: "monthly_income", groupBy: ["district"], purpose: "official_statistics")

    func publish(_ fixture: F, _ records: [JSONValue]) async throws {
        _ = try await fixture.exchange.publishing.publish(F.principal(F.registry), category: "citizen", records: records)
    }

    @Test func privateStatisticsAreNoisyStateTheirEpsilonAndSpendABudgetKeptOnChain() async throws {
        let fixture = try F(policies: Self.policies(epsilon: "0.5", budget: "1"))
        var exact: [String: Int64] = [:]
        var records: [JSONValue] = []
        for number in 1...30 {
            let district = number % 2 == 0 ? "taipa" : "se"
            let income = 1_000 * number
            records.append(F.citizen(number, district: district, income: income))
            exact[district, default: 0] += Int64(income)
        }
        try await publish(fixture, records)

        let first = try await fixture.exchange.aggregates.aggregate(F.principal(F.statistics), Self.statistics)
        #expect(first.epsilon == "0.5" && first.epsilonRemaining == "0.5")
        #expect(first.noiseScale == 10_000_000 / 0.5, "the income's bound over ε (all of ε goes to the sum; counts are exact)")
        for group in first.groups {
            let district = try #require(group.key["district"]?.stringValue)
            #expect(!group.suppressed && group.cohort == nil, "the exact cohort is not released")
            #expect(group.sum != exact[district], "a private sum is not the exact sum")
        }
        // The ε is on chain, in the access event, and the ledger charged it with the decryption request.
        let event = try #require(await fixture.chain.events.last?.event)
        #expect(event.eventID == first.receipt.eventId && event.epsilonMicros == 500_000)
        let key = PrivacySpending.Key(requester: F.statistics, category: "citizen", month: "2027-01")
        #expect(await fixture.chain.ledger.privacy.spent(key) == 500_000)

        let second = try await fixture.exchange.aggregates.aggregate(F.principal(F.statistics), Self.statistics)
        #expect(second.epsilonRemaining == "0")
        // The budget is spent: refused with what is left, and the refusal is logged (spending nothing).
        do {
            _ = try await fixture.exchange.aggregates.aggregate(F.principal(F.statistics), Self.statistics)
            Issue.record("a statistic beyond the budget was released")
        } catch let error as ExchangeError {
            #expect(error.code == .privacyBudgetExhausted && error.message.contains("ε 0 left"), "\(error)")
            let refusal = try #require(await fixture.chain.events.last?.event)
            #expect(refusal.eventID == error.eventID && refusal.decision == .deny && refusal.epsilonMicros == nil)
        }
        #expect(await fixture.chain.ledger.privacy.spent(key) == 1_000_000)
        // A restarted node reads the budget from the chain; next month has a new one.
        await expectProblem(.privacyBudgetExhausted) {
            _ = try await fixture.assemble(99).aggregates.aggregate(F.principal(F.statistics), Self.statistics)
        }
        fixture.clock.advance(byMs: 31 * 86_400_000)
        let february = try await fixture.exchange.aggregates.aggregate(F.principal(F.statistics), Self.statistics)
        #expect(february.epsilonRemaining == "0.5")
    }

    /// Concurrent statistics cannot overspend: the budget is checked and spent under one lock per budget.
    @Test func concurrentStatisticsSpendTheBudgetExactlyOnce() async throws {
        let fixture = try F(policies: Self.policies(epsilon: "0.25", budget: "0.5"))
        try await publish(fixture, (1...24).map { F.citizen($0, district: "taipa") })
        let outcomes = await withTaskGroup(of: ExchangeError.Code?.self) { group in
            for _ in 0..<6 {
                group.addTask {
                    do {
                        _ = try await fixture.exchange.aggregates.aggregate(F.principal(F.statistics), Self.statistics)
                        return nil
                    } catch let error as ExchangeError {
                        return error.code
                    } catch {
                        return .internalError
                    }
                }
            }
            var all: [ExchangeError.Code?] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.filter { $0 == nil }.count == 2 && outcomes.filter { $0 == .privacyBudgetExhausted }.count == 4, "\(outcomes)")
        let key = PrivacySpending.Key(requester: F.statistics, category: "citizen", month: "2027-01")
        #expect(await fixture.chain.ledger.privacy.spent(key) == 500_000)
    }

    /// The subtraction attack through the use cases: a statistic before and after one citizen is published no longer
    /// gives that citizen's value. Seeded noise; the error's spread is that of two draws.
    @Test func subtractionThroughTheUseCasesNoLongerRecoversTheValue() async throws {
        let fixture = try F(policies: Self.policies(epsilon: "0.5", budget: "100"))
        try await publish(fixture, (1...20).map { F.citizen($0, district: "taipa", household: 3) })
        let request = API.AggregateRequest(category: "citizen", field: "household_size", groupBy: [], purpose: "official_statistics")
        var errors: [Int64] = []
        for trial in 0..<40 {
            let before = try await fixture.exchange.aggregates.aggregate(F.principal(F.statistics), request)
            let household = 1 + trial % 20
            try await publish(fixture, [F.citizen(1_000 + trial, district: "taipa", household: household)])
            let after = try await fixture.exchange.aggregates.aggregate(F.principal(F.statistics), request)
            let difference = try #require(after.groups.first?.sum) - (try #require(before.groups.first?.sum))
            errors.append(difference - Int64(household))
        }
        let exact = errors.filter { $0 == 0 }.count
        #expect(exact <= 2, "\(exact) of 40 subtractions recovered the value exactly: \(errors)")
        // Sum noise: ε 0.5 over a bound of 20, scale 40, variance ≈ 2·40²; the error is two draws: ≈ 6,400.
        let variance = errors.map { Double($0 * $0) }.reduce(0, +) / Double(errors.count)
        #expect(variance > 6_400 / 3 && variance < 6_400 * 3, "error variance \(variance)")
    }

    @Test func badDifferentialPrivacyAnnotationsFailTheBundle() throws {
        #expect(throws: (any Error).self) { try F(policies: Self.policies(epsilon: "0", budget: "1")) }
        #expect(throws: (any Error).self) { try F(policies: Self.policies(epsilon: "0.5", budget: "-1")) }
        #expect(throws: (any Error).self) { try F(policies: Self.policies(epsilon: "1e-3", budget: "1")) }
    }
}
