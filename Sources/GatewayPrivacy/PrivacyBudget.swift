/// Each requester's privacy budget, per category and period (issue 14): every differentially private statistic
/// spends its ε, and one beyond what is left is refused, saying how much is left. Exact: ε is counted in millionths
/// (integers), so a sum of many small spends never drifts past the limit. Pure and deterministic — the node derives
/// it from the chain's spend transactions, so every node agrees.
public struct PrivacyBudget: Sendable, Equatable {
    /// ε is counted in millionths.
    public static let microsPerEpsilon: Int64 = 1_000_000

    public struct Key: Hashable, Sendable, Comparable {
        public let requester: String
        public let category: String
        /// The budget period, e.g. "2027-01" (calendar month) — the caller decides the granularity.
        public let period: String

        public init(requester: String, category: String, period: String) {
            self.requester = requester
            self.category = category
            self.period = period
        }

        public static func < (a: Key, b: Key) -> Bool { (a.requester, a.category, a.period) < (b.requester, b.category, b.period) }
    }

    public enum Outcome: Equatable, Sendable {
        /// Spent; this much is left (millionths of ε).
        case spent(remainingMicros: Int64)
        /// Not spent: it would exceed the limit; this much is left.
        case refused(remainingMicros: Int64)
    }

    /// The limit per key, in millionths of ε.
    public let limitMicros: Int64
    public private(set) var spentMicros: [Key: Int64] = [:]

    public init(limitMicros: Int64) {
        precondition(limitMicros > 0, "a budget has a positive limit")
        self.limitMicros = limitMicros
    }

    public func remaining(_ key: Key) -> Int64 { limitMicros - (spentMicros[key] ?? 0) }

    /// Spends `micros` (1 to the limit) of `key`'s budget if that much is left.
    public mutating func spend(_ micros: Int64, for key: Key) -> Outcome {
        let left = remaining(key)
        guard micros >= 1, micros <= left else { return .refused(remainingMicros: left) }
        spentMicros[key, default: 0] += micros
        return .spent(remainingMicros: left - micros)
    }

    /// Parses a decimal ε ("0.5", "1", "0.000001") exactly into millionths; nil for anything else (signs, exponents,
    /// more than six decimals, zero, more than 100).
    public static func micros(_ text: String) -> Int64? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 3, whole.allSatisfy(\.isASCII), whole.allSatisfy(\.isNumber),
            let units = Int64(whole)
        else { return nil }
        var fraction: Int64 = 0
        if parts.count == 2 {
            let digits = parts[1]
            guard !digits.isEmpty, digits.count <= 6, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
                let value = Int64(String(digits) + String(repeating: "0", count: 6 - digits.count))
            else { return nil }
            fraction = value
        }
        let micros = units * microsPerEpsilon + fraction
        guard micros >= 1, micros <= 100 * microsPerEpsilon else { return nil }
        return micros
    }
}
