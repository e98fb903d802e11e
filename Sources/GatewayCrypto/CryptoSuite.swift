/// The name of a crypto suite, as written in configuration and genesis files.
public enum SuiteName: String, Sendable, Codable, CaseIterable {
    /// SHA-256, Ed25519, AES-256-GCM (swift-crypto).
    case intl
    /// SM3, SM2 (ID "1234567812345678"), SM4-CTR + HMAC-SM3 (system OpenSSL 3).
    case sm
}

/// One deployment's choice of hash, signature and record encryption. Nothing outside `GatewayCrypto`
/// names an algorithm: every hash, signature and seal in the system goes through a suite.
public protocol CryptoSuite: Sendable {
    var name: SuiteName { get }
    /// Digest length in bytes.
    var digestLength: Int { get }
    /// Symmetric key length for `seal`/`open`, in bytes.
    var symmetricKeyLength: Int { get }

    func hash(_ data: [UInt8]) -> [UInt8]
    func hmac(key: [UInt8], _ data: [UInt8]) -> [UInt8]

    func generateSigningKey() -> any SigningKey
    func signingKey(pem: String) throws -> any SigningKey
    func verifyingKey(pem: String) throws -> any VerifyingKey

    /// Authenticated encryption; the output carries its own nonce and tag.
    func seal(_ plaintext: [UInt8], key: [UInt8], associatedData: [UInt8]) throws -> [UInt8]
    /// Inverse of `seal`; throws `authenticationFailed` if anything was altered.
    func open(_ sealed: [UInt8], key: [UInt8], associatedData: [UInt8]) throws -> [UInt8]
}

public protocol SigningKey: Sendable {
    var publicKey: any VerifyingKey { get }
    /// PKCS#8 PEM ("PRIVATE KEY").
    var pemRepresentation: String { get }
    func sign(_ message: [UInt8]) throws -> [UInt8]
    /// A signature in the form RFC 9421 defines for this key's algorithm (`publicKey.httpSignatureAlgorithm`).
    func signHTTP(_ message: [UInt8]) throws -> [UInt8]
}

public protocol VerifyingKey: Sendable {
    /// SubjectPublicKeyInfo PEM ("PUBLIC KEY").
    var pemRepresentation: String { get }
    /// Stable raw bytes identifying the key (used for fingerprints).
    var rawRepresentation: [UInt8] { get }
    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool
    /// The RFC 9421 algorithm of this key: `ed25519` and `ecdsa-p256-sha256` from the RFC's registry, `sm2-sm3` (the
    /// `sm` suite's private algorithm).
    var httpSignatureAlgorithm: String { get }
    /// Checks a signature in the form RFC 9421 defines for this key's algorithm.
    func isValidHTTPSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool
}

extension SigningKey {
    /// Ed25519 and SM2 (DER, the private `sm2-sm3`) sign HTTP messages as they sign anything.
    public func signHTTP(_ message: [UInt8]) throws -> [UInt8] { try sign(message) }
}

extension VerifyingKey {
    public func isValidHTTPSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool { isValidSignature(signature, for: message) }
}

extension SuiteName {
    /// The suite implementation for this name.
    public func makeSuite() throws -> any CryptoSuite {
        switch self {
        case .intl:
            return InternationalSuite()
        case .sm:
            return NationalSuite()
        }
    }
}
