import GatewayPrivacy
import Testing

/// Privacy budgets: spent exactly, refused beyond the limit with what is left, separate per requester, category and
/// period; ε parsed exactly from decimals.
@Suite struct PrivacyBudgetTests {
    @Test func budgetsAreSpentExactlyAndRefusedBeyondTheirLimit() throws {
        var budget = PrivacyBudget(limitMicros: try #require(PrivacyBudget.micros("1")))
        let key = PrivacyBudget.Key(requester: "statistics", category: "citizen", period: "2027-01")
        let tenth = try #require(PrivacyBudget.micros("0.1"))
        for step in 1...10 {
            #expect(budget.spend(tenth, for: key) == .spent(remainingMicros: 1_000_000 - Int64(step) * tenth), "step \(step)")
        }
        #expect(budget.spend(1, for: key) == .refused(remainingMicros: 0))
        let other = PrivacyBudget.Key(requester: "statistics", category: "citizen", period: "2027-02")
        #expect(budget.spend(tenth * 10, for: other) == .spent(remainingMicros: 0), "a new period has its own budget")
        let housing = PrivacyBudget.Key(requester: "housing", category: "citizen", period: "2027-01")
        #expect(budget.spend(tenth * 11, for: housing) == .refused(remainingMicros: 1_000_000))
        #expect(budget.spend(0, for: housing) == .refused(remainingMicros: 1_000_000) && budget.remaining(housing) == 1_000_000)
    }

    @Test func epsilonIsParsedExactly() {
        let cases: [(String, Int64?)] = [
            ("1", 1_000_000), ("0.5", 500_000), ("0.000001", 1), ("100", 100_000_000), ("2.25", 2_250_000),
            ("0", nil), ("0.0000001", nil), ("100.000001", nil), ("-1", nil), ("1e-3", nil), (".5", nil), ("5.", nil), ("", nil),
            ("٣", nil), ("1.5.2", nil), (" 1", nil), ("1000", nil),
        ]
        for (text, expected) in cases { #expect(PrivacyBudget.micros(text) == expected, "\(text)") }
    }
}
