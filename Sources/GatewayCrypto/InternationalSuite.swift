import Crypto
import Foundation

/// The `intl` suite: SHA-256, Ed25519 (or ECDSA P-256 with SHA-256) and AES-256-GCM through swift-crypto.
/// New keys are Ed25519; P-256 keys are recognised by their PEM and used as they are.
public struct InternationalSuite: CryptoSuite {
    public init() {}

    public var name: SuiteName { .intl }
    public var digestLength: Int { 32 }
    public var symmetricKeyLength: Int { 32 }

    public func hash(_ data: [UInt8]) -> [UInt8] {
        Array(SHA256.hash(data: data))
    }

    public func hmac(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: key)))
    }

    public func generateSigningKey() -> any SigningKey {
        Ed25519SigningKey(key: Curve25519.Signing.PrivateKey())
    }

    /// A new ECDSA P-256 key, for deployments that need a NIST curve.
    public func generateP256SigningKey() -> any SigningKey {
        P256SigningKey(key: P256.Signing.PrivateKey())
    }

    public func signingKey(pem: String) throws -> any SigningKey {
        let der = try PEM.decode(label: "PRIVATE KEY", pem: pem)
        if let key = try? P256.Signing.PrivateKey(derRepresentation: der) { return P256SigningKey(key: key) }
        guard der.count == Ed25519DER.pkcs8Prefix.count + 32, Array(der.prefix(Ed25519DER.pkcs8Prefix.count)) == Ed25519DER.pkcs8Prefix
        else {
            throw CryptoError(.invalidKey, "not an Ed25519 PKCS#8 private key")
        }
        do {
            return Ed25519SigningKey(key: try Curve25519.Signing.PrivateKey(rawRepresentation: der.suffix(32)))
        } catch {
            throw CryptoError(.invalidKey, "Ed25519 private key rejected")
        }
    }

    public func verifyingKey(pem: String) throws -> any VerifyingKey {
        let der = try PEM.decode(label: "PUBLIC KEY", pem: pem)
        if let key = try? P256.Signing.PublicKey(derRepresentation: der) { return P256VerifyingKey(key: key) }
        guard der.count == Ed25519DER.spkiPrefix.count + 32, Array(der.prefix(Ed25519DER.spkiPrefix.count)) == Ed25519DER.spkiPrefix
        else {
            throw CryptoError(.invalidKey, "not an Ed25519 SubjectPublicKeyInfo")
        }
        do {
            return Ed25519VerifyingKey(key: try Curve25519.Signing.PublicKey(rawRepresentation: der.suffix(32)))
        } catch {
            throw CryptoError(.invalidKey, "Ed25519 public key rejected")
        }
    }

    public func seal(_ plaintext: [UInt8], key: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        guard key.count == symmetricKeyLength else { throw CryptoError(.invalidKey, "AES-256-GCM needs a 32-byte key") }
        let box = try AES.GCM.seal(plaintext, using: SymmetricKey(data: key), authenticating: associatedData)
        guard let combined = box.combined else { throw CryptoError(.invalidCiphertext, "AES-GCM produced no output") }
        return [UInt8](combined)
    }

    public func open(_ sealed: [UInt8], key: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        guard key.count == symmetricKeyLength else { throw CryptoError(.invalidKey, "AES-256-GCM needs a 32-byte key") }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return [UInt8](try AES.GCM.open(box, using: SymmetricKey(data: key), authenticating: associatedData))
        } catch {
            throw CryptoError(.authenticationFailed, "sealed data failed authentication")
        }
    }
}

/// DER prefixes for Ed25519 keys (RFC 8410): PKCS#8 v1 and SubjectPublicKeyInfo, each followed by 32 key bytes.
enum Ed25519DER {
    static let pkcs8Prefix: [UInt8] = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]
    static let spkiPrefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]
}

struct Ed25519SigningKey: SigningKey {
    let key: Curve25519.Signing.PrivateKey

    var publicKey: any VerifyingKey { Ed25519VerifyingKey(key: key.publicKey) }

    var pemRepresentation: String {
        var der = Ed25519DER.pkcs8Prefix + [UInt8](key.rawRepresentation)
        defer { secureZero(&der) }
        return PEM.encode(label: "PRIVATE KEY", der: der)
    }

    func sign(_ message: [UInt8]) throws -> [UInt8] {
        [UInt8](try key.signature(for: message))
    }
}

struct Ed25519VerifyingKey: VerifyingKey {
    let key: Curve25519.Signing.PublicKey

    var httpSignatureAlgorithm: String { "ed25519" }

    var pemRepresentation: String { PEM.encode(label: "PUBLIC KEY", der: Ed25519DER.spkiPrefix + rawRepresentation) }
    var rawRepresentation: [UInt8] { [UInt8](key.rawRepresentation) }

    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        key.isValidSignature(signature, for: message)
    }
}

struct P256SigningKey: SigningKey {
    let key: P256.Signing.PrivateKey

    var publicKey: any VerifyingKey { P256VerifyingKey(key: key.publicKey) }
    var pemRepresentation: String { PEM.encode(label: "PRIVATE KEY", der: [UInt8](key.derRepresentation)) }

    /// DER-encoded ECDSA signature over SHA-256 of the message.
    func sign(_ message: [UInt8]) throws -> [UInt8] {
        [UInt8](try key.signature(for: message).derRepresentation)
    }

    /// RFC 9421 §3.3.4 (`ecdsa-p256-sha256`): r and s, 32 bytes each, concatenated.
    func signHTTP(_ message: [UInt8]) throws -> [UInt8] {
        [UInt8](try key.signature(for: message).rawRepresentation)
    }
}

struct P256VerifyingKey: VerifyingKey {
    let key: P256.Signing.PublicKey

    var pemRepresentation: String { PEM.encode(label: "PUBLIC KEY", der: [UInt8](key.derRepresentation)) }
    var rawRepresentation: [UInt8] { [UInt8](key.x963Representation) }

    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard let parsed = try? P256.Signing.ECDSASignature(derRepresentation: signature) else { return false }
        return key.isValidSignature(parsed, for: message)
    }

    var httpSignatureAlgorithm: String { "ecdsa-p256-sha256" }

    /// RFC 9421 §3.3.4: exactly 64 bytes, r then s.
    func isValidHTTPSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard signature.count == 64, let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature) else { return false }
        return key.isValidSignature(parsed, for: message)
    }
}
