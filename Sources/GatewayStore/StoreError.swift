/// Errors of the storage layer with stable codes. Descriptions never include record contents.
public struct StoreError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public static let invalidURL = Code(rawValue: "store_invalid_url")
        public static let conflict = Code(rawValue: "store_conflict")
        /// A unique key refused a row (a concurrent writer got there first): retry, or answer 409 — never a 500.
        public static let uniqueViolation = Code(rawValue: "store_unique_violation")
        public static let corrupt = Code(rawValue: "store_corrupt")
        public static let unavailable = Code(rawValue: "store_unavailable")
        public var description: String { rawValue }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

import GatewayCrypto

extension StoreError {
    /// A height, epoch or sequence number read back from PostgreSQL. The node only ever writes values inside
    /// `bound`, so one outside it (negative, beyond 2^53) means the database was altered: refused with the column
    /// named, never converted with a trap.
    public static func stored(_ value: Int64, _ bound: Bounded, column: String) throws -> UInt64 {
        guard value >= 0, bound.range.contains(value) else {
            throw StoreError(.corrupt, "\(column) holds \(value), outside its range (\(bound.requirement)): the database was altered; restore it from a backup")
        }
        return UInt64(value)
    }
}
