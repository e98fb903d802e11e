/// Errors of the crypto module. `code` is stable; `description` never contains key material.
public struct CryptoError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public static let invalidKey = Code(rawValue: "invalid_key")
        public static let invalidSignature = Code(rawValue: "invalid_signature")
        public static let authenticationFailed = Code(rawValue: "authentication_failed")
        public static let invalidCiphertext = Code(rawValue: "invalid_ciphertext")
        public static let overflow = Code(rawValue: "overflow")
        public static let unsupported = Code(rawValue: "unsupported")
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
