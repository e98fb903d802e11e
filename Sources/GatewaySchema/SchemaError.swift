/// A validation failure, located by JSON Pointer (RFC 6901) into the document.
public struct SchemaError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public static let malformedJSON = Code(rawValue: "malformed_json")
        /// Valid JSON, but more values, nesting or digits than a request may hold (effort is bounded, not only bytes).
        public static let tooComplex = Code(rawValue: "json_too_complex")
        public static let invalidRecord = Code(rawValue: "invalid_record")
        public static let invalidSchema = Code(rawValue: "invalid_schema")
        public var description: String { rawValue }
    }

    public let code: Code
    /// JSON Pointer of the offending value ("" for the document root).
    public let path: String
    public let message: String

    public init(_ code: Code, path: String, message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}
