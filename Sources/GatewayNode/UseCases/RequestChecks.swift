import Foundation
import GatewayPolicy
import GatewaySchema
import GatewayWire

/// The record categories a node serves, by name.
package struct Categories: Sendable {
    package let byName: [String: RecordCategory]

    package init(_ byName: [String: RecordCategory]) { self.byName = byName }

    func named(_ name: String) throws -> RecordCategory {
        guard let category = byName[name] else {
            throw ExchangeError(.unknownCategory, "unknown record category '\(name)'; known: \(byName.keys.sorted().joined(separator: ", "))")
        }
        return category
    }
}

/// Shape checks on what a request names, before any decision: ids and purposes.
enum RequestChecks {
    static let identifierLengthMax = 128

    /// Why a record, citizen, department, grant or event id taken from a request is unusable, or nil: it must be 1 to
    /// `identifierLengthMax` characters, none of them a control character (PostgreSQL text cannot hold U+0000, and no
    /// identifier needs one; such an id used to reach the database and come back as a 500).
    static func identifierProblem(_ id: String) -> String? {
        guard !id.isEmpty, id.count <= identifierLengthMax else { return "must be 1 to \(identifierLengthMax) characters" }
        if let control = id.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
            return "must not contain control characters (found U+\(String(format: "%04X", control.value)))"
        }
        return nil
    }

    static func checkIdentifier(_ id: String, _ what: String) throws {
        if let problem = identifierProblem(id) { throw ExchangeError(.invalidRequest, "\(what) \(problem)") }
    }

    /// An instant from a request (`what` names the field): RFC 3339, as Unix ms; a malformed one is 400
    /// `invalid_request`, an impossible one (2027-02-30) 422 `invalid_date`.
    static func instant(_ text: String, _ what: String) throws -> Int64 {
        switch RFC3339.parse(text) {
        case .success(let instant): return instant
        case .failure(.malformed):
            throw ExchangeError(.invalidRequest, "\(what) must be an RFC 3339 date (2027-06-30) or date-time (2027-06-30T12:00:00Z)")
        case .failure(.impossible(let why)):
            throw ExchangeError(.invalidDate, "\(what) names no real instant: \(why)")
        }
    }

    static func checkPurpose(_ purpose: String) throws {
        let valid =
            (1...64).contains(purpose.utf8.count)
            && purpose.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5f }
        guard valid else { throw ExchangeError(.invalidRequest, "purpose must be 1 to 64 characters of a-z, 0-9 and _") }
    }
}
