/// Errors of the chain module, with stable codes.
public struct ChainError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public static let malformed = Code(rawValue: "chain_malformed")
        public static let invalidSignature = Code(rawValue: "chain_invalid_signature")
        public static let invalidBlock = Code(rawValue: "chain_invalid_block")
        public static let invalidTransaction = Code(rawValue: "chain_invalid_transaction")
        public static let invalidProof = Code(rawValue: "chain_invalid_proof")
        public static let invalidGenesis = Code(rawValue: "chain_invalid_genesis")
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
