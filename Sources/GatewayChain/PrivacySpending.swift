/// The privacy budget spent on chain: for each requester, category and calendar month (UTC, of the event's time), the
/// ε (in millionths) that differentially private statistics spent, derived from committed decryption requests (a
/// statistic spends its ε when it is put before the consortium for decryption, once, however many holders contributed).
/// Every node derives the same figures from the same blocks; share holders check a request against them (issue 14).
public struct PrivacySpending: Sendable, Equatable {
    public struct Key: Hashable, Sendable {
        public let requester: String
        public let category: String
        /// "YYYY-MM", UTC.
        public let month: String

        public init(requester: String, category: String, month: String) {
            self.requester = requester
            self.category = category
            self.month = month
        }
    }

    public private(set) var spentMicros: [Key: Int64] = [:]

    public init() {}

    public func spent(_ key: Key) -> Int64 { spentMicros[key] ?? 0 }

    /// Charges a decryption request's ε (saturating: a chain can only spend so much, but a sum from blocks never traps a
    /// node).
    mutating func charge(_ key: Key, micros: Int64) {
        let (total, overflow) = spent(key).addingReportingOverflow(micros)
        spentMicros[key] = overflow ? Int64.max : total
    }

    /// The UTC calendar month of a Unix time in milliseconds, "YYYY-MM" (proleptic Gregorian; days from civil, after
    /// Howard Hinnant's algorithm, so no calendar library or time zone is involved).
    public static func month(ofUnixMs ms: Int64) -> String {
        let days = ms >= 0 ? ms / 86_400_000 : (ms - 86_399_999) / 86_400_000
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        let monthText = month < 10 ? "0\(month)" : "\(month)"
        return "\(year)-\(monthText)"
    }
}
