/// A source location: file, 1-based line and column.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public let column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// Errors of the policy module with stable codes; parse errors carry their location.
public struct PolicyError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public static let syntax = Code(rawValue: "policy_syntax")
        public static let unsupported = Code(rawValue: "policy_unsupported")
        public static let invalidObligation = Code(rawValue: "policy_invalid_obligation")
        public static let evaluation = Code(rawValue: "policy_evaluation")
        public static let invalidEntities = Code(rawValue: "policy_invalid_entities")
        /// The policy does not validate against the Cedar schema.
        public static let schema = Code(rawValue: "policy_schema")
        public var description: String { rawValue }
    }

    public let code: Code
    public let location: SourceLocation?
    public let message: String

    public init(_ code: Code, _ message: String, at location: SourceLocation? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    public var description: String {
        if let location { return "\(location): \(message)" }
        return message
    }
}
