import COpenSSL
import Crypto
import Foundation

/// Public-key encryption to a member's signing key, for handing one node a secret that only it can open (its share
/// of the consortium's aggregation key). No extra key pair to distribute: the node's key in the genesis is the
/// address.
///
/// - SM2 keys (`sm`): SM2 public-key encryption (GB/T 32918.4, OpenSSL) of a fresh suite key, which seals the
///   plaintext with SM4-CTR + HMAC-SM3.
/// - Ed25519 keys (`intl`): the key's birational X25519 form (RFC 7748 §4.1; the private scalar is the Ed25519 one,
///   RFC 8032 §5.1.5), an ephemeral X25519 agreement, HKDF-SHA-256, AES-256-GCM.
/// - P-256 keys (`intl`): the same with an ephemeral P-256 agreement.
///
/// `context` is bound into the key derivation and authenticated: a box sealed for one purpose (chain, node, file)
/// does not open for another.
public enum PublicKeySeal {
    static let tagSM2: UInt8 = 0x53
    static let tagX25519: UInt8 = 0x58
    static let tagP256: UInt8 = 0x50

    /// Seals `plaintext` so that only the holder of `recipient`'s private key can open it.
    public static func seal(_ plaintext: [UInt8], to recipient: any VerifyingKey, context: [UInt8]) throws -> [UInt8] {
        switch recipient {
        case let key as SM2VerifyingKey:
            let suite = NationalSuite()
            var symmetric = SystemRandom().bytes(count: suite.symmetricKeyLength)
            defer { secureZero(&symmetric) }
            let wrapped = try key.key.sm2Encrypt(symmetric)
            guard wrapped.count <= Int(UInt16.max) else { throw CryptoError(.unsupported, "SM2 ciphertext too long") }
            let box = try suite.seal(plaintext, key: symmetric, associatedData: Array("datagateway/seal/sm2/v1".utf8) + context)
            return [tagSM2, UInt8(wrapped.count >> 8), UInt8(wrapped.count & 0xff)] + wrapped + box
        case let key as Ed25519VerifyingKey:
            let recipientX = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: try montgomeryU(ofEdwards: [UInt8](key.key.rawRepresentation)))
            let ephemeral = Curve25519.KeyAgreement.PrivateKey()
            let secret = try ephemeral.sharedSecretFromKeyAgreement(with: recipientX)
            let ephemeralPublic = [UInt8](ephemeral.publicKey.rawRepresentation)
            return [tagX25519] + ephemeralPublic
                + (try aesSeal(plaintext, secret: secret, transcript: ephemeralPublic + [UInt8](recipientX.rawRepresentation), context: context))
        case let key as P256VerifyingKey:
            let recipientP = try P256.KeyAgreement.PublicKey(x963Representation: key.key.x963Representation)
            let ephemeral = P256.KeyAgreement.PrivateKey()
            let secret = try ephemeral.sharedSecretFromKeyAgreement(with: recipientP)
            let ephemeralPublic = [UInt8](ephemeral.publicKey.x963Representation)
            return [tagP256] + ephemeralPublic
                + (try aesSeal(plaintext, secret: secret, transcript: ephemeralPublic + [UInt8](recipientP.x963Representation), context: context))
        default:
            throw CryptoError(.unsupported, "cannot seal to a key of type \(type(of: recipient))")
        }
    }

    /// Opens a box sealed to `key`'s public key; throws `authenticationFailed` for a box sealed to another key, for
    /// another context, or altered.
    public static func open(_ sealed: [UInt8], with key: any SigningKey, context: [UInt8]) throws -> [UInt8] {
        do {
            return try openUnmapped(sealed, with: key, context: context)
        } catch let error as CryptoError {
            throw error
        } catch {
            // A malformed ephemeral point and the like: swift-crypto's errors say the same as ours.
            throw CryptoError(.authenticationFailed, "the box is malformed or was altered")
        }
    }

    static func openUnmapped(_ sealed: [UInt8], with key: any SigningKey, context: [UInt8]) throws -> [UInt8] {
        guard let tag = sealed.first else { throw CryptoError(.invalidCiphertext, "empty sealed box") }
        let body = Array(sealed.dropFirst())
        switch (tag, key) {
        case (tagSM2, let key as SM2SigningKey):
            guard body.count > 2 else { throw CryptoError(.invalidCiphertext, "truncated SM2 box") }
            let length = Int(body[0]) << 8 | Int(body[1])
            guard body.count > 2 + length else { throw CryptoError(.invalidCiphertext, "truncated SM2 box") }
            var symmetric: [UInt8]
            do { symmetric = try key.key.sm2Decrypt(Array(body[2..<(2 + length)])) } catch {
                throw CryptoError(.authenticationFailed, "the box was not sealed to this key")
            }
            defer { secureZero(&symmetric) }
            return try NationalSuite().open(
                Array(body[(2 + length)...]), key: symmetric, associatedData: Array("datagateway/seal/sm2/v1".utf8) + context)
        case (tagX25519, let key as Ed25519SigningKey):
            guard body.count > 32 else { throw CryptoError(.invalidCiphertext, "truncated X25519 box") }
            let ephemeral = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: body.prefix(32))
            let me = try montgomeryPrivateKey(ofEd25519Seed: [UInt8](key.key.rawRepresentation))
            let secret = try me.sharedSecretFromKeyAgreement(with: ephemeral)
            return try aesOpen(
                Array(body.dropFirst(32)), secret: secret, transcript: Array(body.prefix(32)) + [UInt8](me.publicKey.rawRepresentation),
                context: context)
        case (tagP256, let key as P256SigningKey):
            guard body.count > 65 else { throw CryptoError(.invalidCiphertext, "truncated P-256 box") }
            let ephemeral = try P256.KeyAgreement.PublicKey(x963Representation: body.prefix(65))
            let me = try P256.KeyAgreement.PrivateKey(rawRepresentation: key.key.rawRepresentation)
            let secret = try me.sharedSecretFromKeyAgreement(with: ephemeral)
            return try aesOpen(
                Array(body.dropFirst(65)), secret: secret, transcript: Array(body.prefix(65)) + [UInt8](me.publicKey.x963Representation),
                context: context)
        default:
            throw CryptoError(.authenticationFailed, "the box was not sealed to a key of this kind")
        }
    }

    static func aesKey(_ secret: SharedSecret, transcript: [UInt8], context: [UInt8]) -> SymmetricKey {
        secret.hkdfDerivedSymmetricKey(
            using: SHA256.self, salt: transcript, sharedInfo: Array("datagateway/seal/v1".utf8) + context, outputByteCount: 32)
    }

    static func aesSeal(_ plaintext: [UInt8], secret: SharedSecret, transcript: [UInt8], context: [UInt8]) throws -> [UInt8] {
        let box = try AES.GCM.seal(plaintext, using: aesKey(secret, transcript: transcript, context: context), authenticating: context)
        guard let combined = box.combined else { throw CryptoError(.invalidCiphertext, "AES-GCM produced no output") }
        return [UInt8](combined)
    }

    static func aesOpen(_ sealed: [UInt8], secret: SharedSecret, transcript: [UInt8], context: [UInt8]) throws -> [UInt8] {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            return [UInt8](try AES.GCM.open(box, using: aesKey(secret, transcript: transcript, context: context), authenticating: context))
        } catch {
            throw CryptoError(.authenticationFailed, "the box was not sealed to this key, or was altered")
        }
    }

    /// p = 2²⁵⁵ − 19.
    static let fieldPrime = GMPInteger.powerOfTwo(255) - GMPInteger(19)

    /// An Ed25519 public key's Montgomery u-coordinate: u = (1 + y) / (1 − y) mod p, little-endian (RFC 7748 §4.1).
    static func montgomeryU(ofEdwards encoded: [UInt8]) throws -> [UInt8] {
        guard encoded.count == 32 else { throw CryptoError(.invalidKey, "an Ed25519 public key has 32 bytes") }
        var yBytes = encoded
        yBytes[31] &= 0x7f
        let y = GMPInteger(bigEndian: yBytes.reversed())
        let p = fieldPrime
        guard y < p, let inverse = (GMPInteger(1) - y).modulo(p).inverse(modulo: p) else {
            throw CryptoError(.invalidKey, "Ed25519 public key has no X25519 form")
        }
        let u = ((GMPInteger(1) + y) * inverse).modulo(p)
        return Array(u.bigEndianBytes(width: 32).reversed())
    }

    /// The X25519 private key of an Ed25519 seed: the first half of SHA-512(seed), which X25519 clamps as Ed25519 does.
    static func montgomeryPrivateKey(ofEd25519Seed seed: [UInt8]) throws -> Curve25519.KeyAgreement.PrivateKey {
        var digest = [UInt8](SHA512.hash(data: seed))
        defer { secureZero(&digest) }
        return try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: digest.prefix(32))
    }
}

extension EVPKey {
    /// SM2 public-key encryption (C1C3C2, ASN.1 as OpenSSL writes it).
    func sm2Encrypt(_ plaintext: [UInt8]) throws -> [UInt8] {
        try crypt(plaintext, encrypt: true)
    }

    func sm2Decrypt(_ ciphertext: [UInt8]) throws -> [UInt8] {
        try crypt(ciphertext, encrypt: false)
    }

    private func crypt(_ input: [UInt8], encrypt: Bool) throws -> [UInt8] {
        guard let context = EVP_PKEY_CTX_new(pointer, nil) else { throw CryptoError(.unsupported, "cannot allocate an SM2 context") }
        defer { EVP_PKEY_CTX_free(context) }
        let initialised = encrypt ? EVP_PKEY_encrypt_init(context) : EVP_PKEY_decrypt_init(context)
        guard initialised == 1 else { throw CryptoError(.unsupported, "SM2 encryption unavailable: \(OpenSSLError.last())") }
        var length = 0
        let sized =
            encrypt
            ? EVP_PKEY_encrypt(context, nil, &length, input, input.count) : EVP_PKEY_decrypt(context, nil, &length, input, input.count)
        guard sized == 1 else { throw CryptoError(.invalidCiphertext, "SM2 \(encrypt ? "encryption" : "decryption") failed: \(OpenSSLError.last())") }
        var out = [UInt8](repeating: 0, count: length)
        let done =
            encrypt
            ? EVP_PKEY_encrypt(context, &out, &length, input, input.count) : EVP_PKEY_decrypt(context, &out, &length, input, input.count)
        guard done == 1 else { throw CryptoError(.invalidCiphertext, "SM2 \(encrypt ? "encryption" : "decryption") failed: \(OpenSSLError.last())") }
        return Array(out.prefix(length))
    }
}
