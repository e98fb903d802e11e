import PostgresNIO
import _ConnectionPoolModule

/// Errors of the storage layer with stable codes. Descriptions never include record contents.
package struct StoreError: Error, CustomStringConvertible, Sendable, Equatable {
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        package let rawValue: String
        package static let invalidURL = Code(rawValue: "store_invalid_url")
        package static let conflict = Code(rawValue: "store_conflict")
        /// A unique key refused a row (a concurrent writer got there first): retry, or answer 409 — never a 500.
        package static let uniqueViolation = Code(rawValue: "store_unique_violation")
        package static let corrupt = Code(rawValue: "store_corrupt")
        package static let unavailable = Code(rawValue: "store_unavailable")
        package var description: String { rawValue }
    }

    package let code: Code
    package let message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "\(code): \(message)" }
}

import GatewayCrypto

extension StoreError {
    /// A height, epoch or sequence number read back from PostgreSQL. The node only ever writes values inside
    /// `bound`, so one outside it (negative, beyond 2^53) means the database was altered: refused with the column
    /// named, never converted with a trap.
    package static func stored(_ value: Int64, _ bound: Bounded, column: String) throws -> UInt64 {
        guard value >= 0, bound.range.contains(value) else {
            throw StoreError(
                .corrupt, "\(column) holds \(value), outside its range (\(bound.requirement)): the database was altered; restore it from a backup")
        }
        return UInt64(value)
    }
}

extension StoreError {
    /// What a failure of PostgreSQL or its connection pool means for a caller: `unavailable` when the database cannot
    /// be reached or dropped the connection (a client may retry shortly); the error itself if it is a `StoreError`;
    /// nil for anything else (a fault: 500).
    package static func classify(_ error: any Error) -> StoreError? {
        if let error = error as? StoreError { return error }
        if error is ConnectionPoolError { return StoreError(.unavailable, "the database cannot be reached") }
        if let error = error as? PSQLError,
            [.connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown].contains(error.code)
        {
            return StoreError(.unavailable, "the database connection failed")
        }
        return nil
    }
}
