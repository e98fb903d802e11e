import COpenSSL
import Foundation

/// The `sm` suite (GB/T 32905, 32907, 32918): SM3, SM2 signatures with SM3 and the distinguishing ID
/// "1234567812345678" (GM/T 0009), and SM4-CTR + HMAC-SM3 (encrypt-then-MAC), all through system OpenSSL 3.
/// OpenSSL 3.0 has no SM4-GCM, hence the composition.
public struct NationalSuite: CryptoSuite {
    /// GM/T 0009-2012 default user ID. OpenSSL uses an empty ID unless one is set, so it is always set explicitly.
    public static let distinguishingID = Array("1234567812345678".utf8)

    public init() {}

    public var name: SuiteName { .sm }
    public var digestLength: Int { 32 }
    public var symmetricKeyLength: Int { 32 }

    public func hash(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = data.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &out, &length, EVP_sm3(), nil)
        }
        precondition(ok == 1 && length == 32, "OpenSSL SM3 failed: \(OpenSSLError.last())")
        return out
    }

    public func hmac(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let result = key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                HMAC(
                    EVP_sm3(), k.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(k.count),
                    d.baseAddress?.assumingMemoryBound(to: UInt8.self), d.count, &out, &length)
            }
        }
        precondition(result != nil && length == 32, "OpenSSL HMAC-SM3 failed: \(OpenSSLError.last())")
        return out
    }

    public func generateSigningKey() -> any SigningKey {
        guard let context = EVP_PKEY_CTX_new_from_name(nil, "SM2", nil) else { preconditionFailure("OpenSSL has no SM2") }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_keygen_init(context) == 1, EVP_PKEY_generate(context, &key) == 1, let key else {
            preconditionFailure("SM2 key generation failed: \(OpenSSLError.last())")
        }
        return SM2SigningKey(key: EVPKey(key))
    }

    public func signingKey(pem: String) throws -> any SigningKey {
        let key = try EVPKey.read(pem: pem, isPrivate: true)
        return SM2SigningKey(key: key)
    }

    public func verifyingKey(pem: String) throws -> any VerifyingKey {
        SM2VerifyingKey(key: try EVPKey.read(pem: pem, isPrivate: false))
    }

    // MARK: SM4-CTR + HMAC-SM3

    /// Layout: 16-byte IV ‖ SM4-CTR ciphertext ‖ 32-byte HMAC-SM3 tag over (domain ‖ len(AD) ‖ AD ‖ IV ‖ ciphertext).
    /// The 32-byte key is split by HMAC-SM3 into an encryption key and an independent MAC key.
    public func seal(_ plaintext: [UInt8], key: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        var (encryptionKey, macKey) = try subkeys(key)
        defer { secureZero(&encryptionKey); secureZero(&macKey) }
        let iv = SystemRandom().bytes(count: 16)
        let ciphertext = try sm4CTR(plaintext, key: encryptionKey, iv: iv)
        let tag = hmac(key: macKey, Self.macInput(associatedData: associatedData, iv: iv, ciphertext: ciphertext))
        return iv + ciphertext + tag
    }

    public func open(_ sealed: [UInt8], key: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        guard sealed.count >= 48 else { throw CryptoError(.authenticationFailed, "sealed data failed authentication") }
        var (encryptionKey, macKey) = try subkeys(key)
        defer { secureZero(&encryptionKey); secureZero(&macKey) }
        let iv = Array(sealed[0..<16])
        let ciphertext = Array(sealed[16..<(sealed.count - 32)])
        let tag = Array(sealed.suffix(32))
        // Verify before decrypting, in constant time.
        guard constantTimeEquals(tag, hmac(key: macKey, Self.macInput(associatedData: associatedData, iv: iv, ciphertext: ciphertext))) else {
            throw CryptoError(.authenticationFailed, "sealed data failed authentication")
        }
        return try sm4CTR(ciphertext, key: encryptionKey, iv: iv)
    }

    func subkeys(_ key: [UInt8]) throws -> ([UInt8], [UInt8]) {
        guard key.count == symmetricKeyLength else { throw CryptoError(.invalidKey, "SM4-CTR + HMAC-SM3 needs a 32-byte key") }
        return (Array(hmac(key: key, Array("datagateway/sm4-ctr/enc".utf8)).prefix(16)), hmac(key: key, Array("datagateway/sm4-ctr/mac".utf8)))
    }

    static func macInput(associatedData: [UInt8], iv: [UInt8], ciphertext: [UInt8]) -> [UInt8] {
        var input = Array("datagateway/sm4-ctr-hmac-sm3/v1".utf8)
        withUnsafeBytes(of: UInt64(associatedData.count).bigEndian) { input.append(contentsOf: $0) }
        return input + associatedData + iv + ciphertext
    }

    /// SM4 in CTR mode (also used directly by the known-answer tests).
    public func sm4CTR(_ input: [UInt8], key: [UInt8], iv: [UInt8]) throws -> [UInt8] {
        try SM4.crypt(cipher: EVP_sm4_ctr(), input, key: key, iv: iv, encrypt: true)
    }
}

/// SM4 block-cipher modes through EVP, for the suite and for known-answer tests of ECB/CBC/CTR.
public enum SM4 {
    public enum Mode: Sendable { case ecb, cbc, ctr }

    public static func encrypt(_ input: [UInt8], key: [UInt8], iv: [UInt8], mode: Mode) throws -> [UInt8] {
        try crypt(cipher: cipher(mode), input, key: key, iv: iv, encrypt: true)
    }

    public static func decrypt(_ input: [UInt8], key: [UInt8], iv: [UInt8], mode: Mode) throws -> [UInt8] {
        try crypt(cipher: cipher(mode), input, key: key, iv: iv, encrypt: false)
    }

    static func cipher(_ mode: Mode) -> OpaquePointer? {
        switch mode {
        case .ecb: return EVP_sm4_ecb()
        case .cbc: return EVP_sm4_cbc()
        case .ctr: return EVP_sm4_ctr()
        }
    }

    static func crypt(cipher: OpaquePointer?, _ input: [UInt8], key: [UInt8], iv: [UInt8], encrypt: Bool) throws -> [UInt8] {
        guard key.count == 16 else { throw CryptoError(.invalidKey, "SM4 needs a 16-byte key") }
        guard let context = EVP_CIPHER_CTX_new() else { throw CryptoError(.unsupported, "cannot allocate a cipher context") }
        defer { EVP_CIPHER_CTX_free(context) }
        let ivPointer: [UInt8]? = iv.isEmpty ? nil : iv
        guard EVP_CipherInit_ex(context, cipher, nil, key, ivPointer, encrypt ? 1 : 0) == 1,
            EVP_CIPHER_CTX_set_padding(context, 0) == 1
        else { throw CryptoError(.invalidKey, "SM4 initialisation failed: \(OpenSSLError.last())") }
        var out = [UInt8](repeating: 0, count: input.count + 16)
        var written: Int32 = 0
        var final: Int32 = 0
        let ok = input.withUnsafeBufferPointer { inBuffer in
            out.withUnsafeMutableBufferPointer { outBuffer in
                EVP_CipherUpdate(context, outBuffer.baseAddress, &written, inBuffer.baseAddress, Int32(input.count)) == 1
                    && EVP_CipherFinal_ex(context, outBuffer.baseAddress! + Int(written), &final) == 1
            }
        }
        guard ok else { throw CryptoError(.invalidCiphertext, "SM4 failed (input must be whole blocks for ECB/CBC): \(OpenSSLError.last())") }
        return Array(out.prefix(Int(written + final)))
    }
}

/// Owns an `EVP_PKEY` and frees it (OpenSSL clears EC private scalars on free).
final class EVPKey: @unchecked Sendable {
    // Safety: the key is never mutated after construction; OpenSSL allows concurrent use of a const EVP_PKEY.
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }

    deinit { EVP_PKEY_free(pointer) }

    static func read(pem: String, isPrivate: Bool) throws -> EVPKey {
        // An error another OpenSSL call left on this thread's queue can make OpenSSL 3.0's decoders give up on a good
        // key, and so can decoders fetched concurrently by many threads (seen rarely, under load: a node's start, a test
        // process running several nodes): the queue is cleared first, and a failure is tried again, after a short and
        // growing pause, before it is believed.
        var reason = ""
        for attempt in 0..<6 {
            if attempt > 0 { usleep(useconds_t(1_000 * attempt)) }
            ERR_clear_error()
            if let key = readOnce(pem: pem, isPrivate: isPrivate) {
                let wrapped = EVPKey(key)
                guard EVP_PKEY_is_a(key, "SM2") == 1 else { throw CryptoError(.invalidKey, "key is not an SM2 key") }
                return wrapped
            }
            reason = OpenSSLError.last()
        }
        ERR_clear_error()
        throw CryptoError(
            .invalidKey,
            (isPrivate ? "not a PKCS#8 PEM private key" : "not a SubjectPublicKeyInfo PEM public key") + (reason.isEmpty ? "" : " (\(reason))"))
    }

    static func readOnce(pem: String, isPrivate: Bool) -> OpaquePointer? {
        let bytes = Array(pem.utf8)
        guard let bio = bytes.withUnsafeBytes({ BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }) else { return nil }
        defer { BIO_free(bio) }
        return isPrivate ? PEM_read_bio_PrivateKey(bio, nil, nil, nil) : PEM_read_bio_PUBKEY(bio, nil, nil, nil)
    }

    func pem(isPrivate: Bool) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { preconditionFailure("cannot allocate a BIO") }
        defer { BIO_free(bio) }
        let ok = isPrivate ? PEM_write_bio_PKCS8PrivateKey(bio, pointer, nil, nil, 0, nil, nil) : PEM_write_bio_PUBKEY(bio, pointer)
        precondition(ok == 1, "PEM encoding failed: \(OpenSSLError.last())")
        var data: UnsafeMutablePointer<CChar>? = nil
        let length = dg_BIO_get_mem_data(bio, &data)
        guard let data, length > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }

    /// The uncompressed public point (0x04 ‖ x ‖ y).
    var publicPoint: [UInt8] {
        var length = 0
        guard EVP_PKEY_get_octet_string_param(pointer, "encoded-pub-key", nil, 0, &length) == 1 else { return [] }
        var out = [UInt8](repeating: 0, count: length)
        _ = EVP_PKEY_get_octet_string_param(pointer, "encoded-pub-key", &out, length, &length)
        return Array(out.prefix(length))
    }

    /// Creates a digest-sign/verify context with SM3 and the distinguishing ID set.
    func withDigestContext<T>(sign: Bool, _ body: (OpaquePointer) throws -> T) throws -> T {
        guard let md = EVP_MD_CTX_new(), let pkeyContext = EVP_PKEY_CTX_new(pointer, nil) else {
            throw CryptoError(.unsupported, "cannot allocate a signature context")
        }
        // EVP_MD_CTX_set_pkey_ctx leaves the pkey context to us: free it after the digest context.
        defer {
            EVP_MD_CTX_free(md)
            EVP_PKEY_CTX_free(pkeyContext)
        }
        EVP_MD_CTX_set_pkey_ctx(md, pkeyContext)
        let id = NationalSuite.distinguishingID
        guard EVP_PKEY_CTX_set1_id(pkeyContext, id, Int32(id.count)) == 1 else {
            throw CryptoError(.unsupported, "cannot set the SM2 distinguishing ID: \(OpenSSLError.last())")
        }
        let initialised =
            sign
            ? EVP_DigestSignInit(md, nil, EVP_sm3(), nil, pointer)
            : EVP_DigestVerifyInit(md, nil, EVP_sm3(), nil, pointer)
        guard initialised == 1 else {
            throw CryptoError(.unsupported, "SM2 initialisation failed: \(OpenSSLError.last())")
        }
        return try body(md)
    }
}

struct SM2SigningKey: SigningKey {
    let key: EVPKey

    var publicKey: any VerifyingKey { SM2VerifyingKey(key: key) }
    var pemRepresentation: String { key.pem(isPrivate: true) }

    /// DER-encoded SEQUENCE { r, s }, as GB/T 35276 and OpenSSL produce it.
    func sign(_ message: [UInt8]) throws -> [UInt8] {
        try key.withDigestContext(sign: true) { context in
            var length = 0
            guard EVP_DigestSign(context, nil, &length, message, message.count) == 1 else {
                throw CryptoError(.unsupported, "SM2 signing failed: \(OpenSSLError.last())")
            }
            var signature = [UInt8](repeating: 0, count: length)
            guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1 else {
                throw CryptoError(.unsupported, "SM2 signing failed: \(OpenSSLError.last())")
            }
            return Array(signature.prefix(length))
        }
    }
}

struct SM2VerifyingKey: VerifyingKey {
    let key: EVPKey

    var httpSignatureAlgorithm: String { "sm2-sm3" }

    var pemRepresentation: String { key.pem(isPrivate: false) }
    var rawRepresentation: [UInt8] { key.publicPoint }

    func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        let valid =
            (try? key.withDigestContext(sign: false) { context in
                EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
            }) ?? false
        ERR_clear_error()
        return valid
    }
}

/// OpenSSL's error queue, drained into a message.
enum OpenSSLError {
    static func last() -> String {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.isEmpty ? "unknown error" : messages.joined(separator: "; ")
    }
}
