import Foundation
import GatewayPrivacy

/// What a permit obliges the gateway to do with the data it releases, from the permit's annotations:
///
/// | annotation | meaning |
/// |---|---|
/// | `@fields("a,b,c")` | only these fields are returned (absent: all fields) |
/// | `@mask("a:redact,b:last4,c:year,d:hash")` | how each field is masked before it leaves |
/// | `@aggregate_only("true")` | only aggregates, never rows |
/// | `@min_cohort("10")` | an aggregate group is released only with at least this many distinct citizens |
/// | `@max_rows("100")` | at most this many records per request |
/// | `@expires("2027-06-30")` | the grant ends at that instant (a UTC date is its midnight; or `…T12:00:00Z`) |
/// | `@dp_epsilon("0.5")` | aggregates are released with discrete Laplace noise of this ε (half for the sums, half for the counts) |
/// | `@dp_budget("2")` | with `@dp_epsilon`: the ε a requester may spend per category and calendar month (default 1) |
///
/// A permit whose conditions read `context.grant` (or test it with `has`) relies on a grant recorded on chain, and is bound by it as well:
/// the grant entity's `fields` (a set of strings; empty for no restriction) act as `@fields`, and its `expiresAt`
/// (Unix milliseconds) as `@expires`. If the grant entity or those attributes are missing, the permit is skipped as
/// an evaluation error — a grant whose limits cannot be read grants nothing.
///
/// Several permits combine least-privilege: fields intersect, masks take the strongest per field,
/// aggregate-only if any says so, the largest minimum cohort, the smallest row limit, the earliest expiry, the
/// smallest ε and the smallest budget.
public struct Obligations: Sendable, Equatable {
    public enum Mask: Sendable, Equatable, Comparable, CustomStringConvertible {
        /// Keep the last n characters, replace the rest with '*'.
        case lastCharacters(Int)
        /// Keep only the year of a date (YYYY-MM-DD → YYYY).
        case yearOnly
        /// Replace with a salted hash of the value.
        case saltedHash
        /// Remove the value.
        case redact

        /// Strength order for combining: redact > saltedHash > yearOnly > lastCharacters (fewer kept is stronger).
        var strength: Int {
            switch self {
            case .lastCharacters(let n): return 10 - min(n, 9)
            case .yearOnly: return 20
            case .saltedHash: return 30
            case .redact: return 40
            }
        }

        public static func < (lhs: Mask, rhs: Mask) -> Bool { lhs.strength < rhs.strength }

        public var description: String {
            switch self {
            case .lastCharacters(let n): return "last\(n)"
            case .yearOnly: return "year"
            case .saltedHash: return "hash"
            case .redact: return "redact"
            }
        }

        init?(_ text: String) {
            switch text {
            case "redact": self = .redact
            case "hash": self = .saltedHash
            case "year": self = .yearOnly
            default:
                guard text.hasPrefix("last"), let n = Int(text.dropFirst(4)), n > 0, n <= 64 else { return nil }
                self = .lastCharacters(n)
            }
        }
    }

    /// nil: every field of the category.
    public var fields: Set<String>?
    public var masks: [String: Mask]
    public var aggregateOnly: Bool
    public var minimumCohort: Int
    public var maximumRows: Int?
    /// Unix milliseconds from which the permit grants nothing (nil: no expiry).
    public var expiresAtMs: Int64?
    /// Differential privacy: the ε of each released statistic, in millionths (nil: exact statistics).
    public var epsilonMicros: Int64?
    /// With `epsilonMicros`: the ε a requester may spend per category and calendar month, in millionths.
    public var budgetMicros: Int64?

    /// The budget when a permit asks for differential privacy without naming one: ε = 1 per month.
    public static let defaultBudgetMicros: Int64 = 1_000_000

    public static let unrestricted = Obligations(fields: nil, masks: [:], aggregateOnly: false, minimumCohort: 1, maximumRows: nil)

    public init(fields: Set<String>?, masks: [String: Mask], aggregateOnly: Bool, minimumCohort: Int, maximumRows: Int?, expiresAtMs: Int64? = nil) {
        self.fields = fields
        self.masks = masks
        self.aggregateOnly = aggregateOnly
        self.minimumCohort = minimumCohort
        self.maximumRows = maximumRows
        self.expiresAtMs = expiresAtMs
    }

    /// Parses an RFC 3339 date (midnight UTC) or date-time, strictly (`RFC3339`), to Unix milliseconds.
    public static func instant(_ text: String) -> Int64? {
        try? RFC3339.parse(text).get()
    }

    public init(annotations: [String: String], location: SourceLocation? = nil) throws {
        func fail(_ message: String) -> PolicyError { PolicyError(.invalidObligation, message, at: location) }
        self = .unrestricted
        if let list = annotations["fields"] {
            let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !names.isEmpty else { throw fail("@fields names no field") }
            fields = Set(names)
        }
        if let list = annotations["mask"] {
            for item in list.split(separator: ",") {
                let parts = item.split(separator: ":").map { $0.trimmingCharacters(in: .whitespaces) }
                guard parts.count == 2, !parts[0].isEmpty, let mask = Mask(parts[1]) else {
                    throw fail("@mask entry '\(item)' must be field:redact|hash|year|lastN")
                }
                masks[parts[0]] = mask
            }
        }
        if let flag = annotations["aggregate_only"] {
            guard flag == "true" || flag == "false" else { throw fail("@aggregate_only must be \"true\" or \"false\"") }
            aggregateOnly = flag == "true"
        }
        if let text = annotations["min_cohort"] {
            guard let n = Int(text), n >= 1 else { throw fail("@min_cohort must be a positive integer") }
            minimumCohort = n
        }
        if let text = annotations["max_rows"] {
            guard let n = Int(text), n >= 1 else { throw fail("@max_rows must be a positive integer") }
            maximumRows = n
        }
        if let text = annotations["expires"] {
            guard let instant = Self.instant(text) else { throw fail("@expires must be a UTC date (2027-06-30) or instant (2027-06-30T12:00:00Z)") }
            expiresAtMs = instant
        }
        if let text = annotations["dp_epsilon"] {
            guard let micros = PrivacyBudget.micros(text) else { throw fail("@dp_epsilon must be a decimal ε in (0, 100] with at most six decimals") }
            epsilonMicros = micros
            budgetMicros = Self.defaultBudgetMicros
        }
        if let text = annotations["dp_budget"] {
            guard epsilonMicros != nil else { throw fail("@dp_budget needs @dp_epsilon") }
            guard let micros = PrivacyBudget.micros(text) else { throw fail("@dp_budget must be a decimal ε in (0, 100] with at most six decimals") }
            budgetMicros = micros
        }
    }

    /// The context attribute that carries the grant a request relies on.
    public static let grantAttribute = "grant"

    /// The limits of the grant entity `value` names.
    static func grantBound(by value: Value?, entities: EntityStore) throws -> Obligations {
        func fail(_ message: String) -> Evaluator.Failure { Evaluator.Failure(message: "context.grant: \(message)") }
        guard case .entity(let uid)? = value else { throw fail("is not an entity") }
        guard let grant = entities[uid] else { throw fail("\(uid) is not in the entity store") }
        guard case .set(let items)? = grant.attributes["fields"], case .long(let expiry)? = grant.attributes["expiresAt"] else {
            throw fail("\(uid) needs the attributes fields (Set<String>) and expiresAt (Long, Unix ms)")
        }
        var fields = Set<String>()
        for item in items {
            guard case .string(let name) = item else { throw fail("\(uid).fields must hold strings") }
            fields.insert(name)
        }
        var bound = Obligations.unrestricted
        bound.fields = fields.isEmpty ? nil : fields
        bound.expiresAtMs = expiry
        return bound
    }

    /// Least-privilege combination of two permits' obligations.
    public func combined(with other: Obligations) -> Obligations {
        let fields: Set<String>?
        switch (self.fields, other.fields) {
        case (nil, nil): fields = nil
        case (let a?, nil): fields = a
        case (nil, let b?): fields = b
        case (let a?, let b?): fields = a.intersection(b)
        }
        var masks = self.masks
        for (field, mask) in other.masks { masks[field] = max(masks[field] ?? mask, mask) }
        let rows: Int?
        switch (maximumRows, other.maximumRows) {
        case (nil, nil): rows = nil
        case (let a?, nil): rows = a
        case (nil, let b?): rows = b
        case (let a?, let b?): rows = min(a, b)
        }
        let expiry = [expiresAtMs, other.expiresAtMs].compactMap { $0 }.min()
        var combined = Obligations(
            fields: fields, masks: masks, aggregateOnly: aggregateOnly || other.aggregateOnly,
            minimumCohort: max(minimumCohort, other.minimumCohort), maximumRows: rows, expiresAtMs: expiry
        )
        combined.epsilonMicros = [epsilonMicros, other.epsilonMicros].compactMap { $0 }.min()
        combined.budgetMicros = [budgetMicros, other.budgetMicros].compactMap { $0 }.min()
        return combined
    }
}
