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
