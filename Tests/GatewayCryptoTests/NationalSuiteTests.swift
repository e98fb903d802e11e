import Foundation
import GatewayCrypto
import GatewayTestSupport
import Testing

/// Parses `key=value key=value` lines of a vector file, skipping comments.
func vectorLines(_ file: String) throws -> [[String: String]] {
    let text = try String(contentsOf: TestPaths.vectors.appendingPathComponent(file), encoding: .utf8)
    return text.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map { line in
        var fields: [String: String] = [:]
        for part in line.split(separator: " ") {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            fields[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
        }
        return fields
    }
}

/// Blocks of `name=value` lines separated by blank lines (sm2.txt).
func vectorBlocks(_ file: String) throws -> [[String: String]] {
    let text = try String(contentsOf: TestPaths.vectors.appendingPathComponent(file), encoding: .utf8)
    return text.components(separatedBy: "\n\n").map { block in
        var fields: [String: String] = [:]
        for line in block.split(separator: "\n") where !line.hasPrefix("#") {
            let kv = line.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
        }
        return fields
    }.filter { !$0.isEmpty }
}

@Suite struct NationalSuiteVectorTests {
    let suite = NationalSuite()

    @Test func sm3KnownAnswers() throws {
        var checked = 0
        for line in try vectorLines("sm3.txt") {
            if let message = line["msg_hex"], let digest = line["digest"] {
                #expect(Hex.encode(suite.hash(Hex.decode(message)!)) == digest, "msg \(message.prefix(32))")
                checked += 1
            } else if let unit = line["msg_repeat_hex"], let count = Int(line["count"] ?? ""), let digest = line["digest"] {
                let message = [UInt8](repeating: 0, count: 0) + Array(repeating: Hex.decode(unit)!, count: count).flatMap { $0 }
                #expect(Hex.encode(suite.hash(message)) == digest)
                checked += 1
            }
        }
        #expect(checked >= 10)
    }

    @Test func hmacSM3KnownAnswers() throws {
        let lines = try vectorLines("sm3.txt").filter { $0["hmac_key_hex"] != nil }
        #expect(lines.count == 4)
        for line in lines {
            let mac = suite.hmac(key: Hex.decode(line["hmac_key_hex"]!)!, Hex.decode(line["msg_hex"]!)!)
            #expect(Hex.encode(mac) == line["mac"]!)
        }
    }

    @Test func sm4KnownAnswersForECBCBCAndCTR() throws {
        var checked = 0
        for line in try vectorLines("sm4.txt") {
            let mode: SM4.Mode
            switch line["mode"] {
            case "ECB": mode = .ecb
            case "CBC": mode = .cbc
            case "CTR": mode = .ctr
            default: continue
            }
            let key = Hex.decode(line["key"]!)!
            let iv = Hex.decode(line["iv"] ?? "")!
            let plaintext = Hex.decode(line["plaintext"]!)!
            let ciphertext = Hex.decode(line["ciphertext"]!)!
            #expect(try SM4.encrypt(plaintext, key: key, iv: iv, mode: mode) == ciphertext, "\(line["mode"]!)")
            #expect(try SM4.decrypt(ciphertext, key: key, iv: iv, mode: mode) == plaintext, "\(line["mode"]!)")
            checked += 1
        }
        #expect(checked == 6)
    }

    @Test func sm4MillionIterationECB() throws {
        let line = try #require(try vectorLines("sm4.txt").first { $0["mode"] == "ECB-ITERATE" })
        let key = Hex.decode(line["key"]!)!
        var block = Hex.decode(line["plaintext"]!)!
        for _ in 0..<Int(line["iterations"]!)! / 1000 {
            // 1,000 blocks per call through ECB would encrypt independently; iterate block by block instead.
            for _ in 0..<1000 { block = try SM4.encrypt(block, key: key, iv: [], mode: .ecb) }
        }
        #expect(Hex.encode(block) == line["ciphertext"]!)
    }

    /// SM2 public key as SubjectPublicKeyInfo PEM (id-ecPublicKey with the SM2 curve OID), from raw x, y.
    static func publicKeyPEM(x: String, y: String) -> String {
        let der = Hex.decode("3059301306072a8648ce3d020106082a811ccf5501822d03420004" + x + y)!
        return "-----BEGIN PUBLIC KEY-----\n" + Data(der).base64EncodedString(options: [.lineLength64Characters]) + "\n-----END PUBLIC KEY-----\n"
    }

    @Test func sm2AnnexASignatureVerifiesWithTheDefaultDistinguishingID() throws {
        let vector = try #require(try vectorBlocks("sm2.txt").first { $0["vector"] == "sign_std_annexA" })
        let key = try suite.verifyingKey(pem: Self.publicKeyPEM(x: vector["pub_x"]!, y: vector["pub_y"]!))
        let message = Hex.decode(vector["msg_hex"]!)!
        let signature = Hex.decode(vector["der_sig"]!)!
        #expect(key.isValidSignature(signature, for: message))
        // A flipped bit anywhere in the signature or the message fails.
        for bit in [0, 64, 200, signature.count * 8 - 1] {
            var bad = signature
            bad[bit / 8] ^= UInt8(1 << (bit % 8))
            #expect(!key.isValidSignature(bad, for: message))
        }
        var tampered = message
        tampered[3] ^= 0x20
        #expect(!key.isValidSignature(signature, for: tampered))
        #expect(key.rawRepresentation == Hex.decode("04" + vector["pub_x"]! + vector["pub_y"]!)!)
    }

    @Test func sm2SignaturesRoundTripAndRejectOtherKeys() throws {
        let key = suite.generateSigningKey()
        let message = Array("access event".utf8)
        let signature = try key.sign(message)
        #expect(key.publicKey.isValidSignature(signature, for: message))
        #expect(!suite.generateSigningKey().publicKey.isValidSignature(signature, for: message))
        let reloaded = try suite.signingKey(pem: key.pemRepresentation)
        #expect(reloaded.publicKey.rawRepresentation == key.publicKey.rawRepresentation)
        #expect(try suite.verifyingKey(pem: key.publicKey.pemRepresentation).isValidSignature(try reloaded.sign(message), for: message))
        // Keys of the other suite are refused, as are private keys where public ones are expected.
        #expect(throws: CryptoError.self) { try suite.signingKey(pem: InternationalSuite().generateSigningKey().pemRepresentation) }
        #expect(throws: CryptoError.self) { try suite.verifyingKey(pem: key.pemRepresentation) }
        #expect(!key.publicKey.isValidSignature([], for: message))
        #expect(!key.publicKey.isValidSignature([UInt8](repeating: 0x30, count: 72), for: message))
    }

    @Test func sealIsEncryptThenMACAndRejectsAnyChange() throws {
        let key = SystemRandom().bytes(count: 32)
        let plaintext = Array("a citizen record".utf8)
        let sealed = try suite.seal(plaintext, key: key, associatedData: [9])
        #expect(sealed.count == 16 + plaintext.count + 32)
        #expect(try suite.open(sealed, key: key, associatedData: [9]) == plaintext)
        for index in [0, 16, sealed.count - 1] {
            var bad = sealed
            bad[index] ^= 1
            #expect(throws: CryptoError.self) { try suite.open(bad, key: key, associatedData: [9]) }
        }
        #expect(throws: CryptoError.self) { try suite.open(sealed, key: key, associatedData: [8]) }
        var otherKey = key
        otherKey[0] ^= 1
        #expect(throws: CryptoError.self) { try suite.open(sealed, key: otherKey, associatedData: [9]) }
        #expect(throws: CryptoError.self) { try suite.open(Array(sealed.prefix(40)), key: key, associatedData: [9]) }
        #expect(try suite.seal(plaintext, key: key, associatedData: [9]) != sealed)
    }
}

/// The `sm` suite interoperates with the `openssl` CLI in both directions.
@Suite struct NationalSuiteOpenSSLTests {
    let suite = NationalSuite()
    let openssl = "/usr/bin/openssl"
    let id = "distid:1234567812345678"

    @Test func opensslKeysAndSignaturesWorkHereAndOursThere() async throws {
        let dir = try TestPaths.temporaryDirectory("sm2-cli")
        let keyPath = dir.appendingPathComponent("k.pem").path
        #expect(try await runProcess(openssl, ["genpkey", "-algorithm", "SM2", "-out", keyPath]).status == 0)
        let key = try suite.signingKey(pem: String(contentsOfFile: keyPath, encoding: .utf8))
        let message = dir.appendingPathComponent("m.bin").path
        try Data("from openssl".utf8).write(to: URL(fileURLWithPath: message))
        let signed = try await runProcess(openssl, ["dgst", "-sm3", "-sign", keyPath, "-sigopt", id, "-out", message + ".sig", message])
        #expect(signed.status == 0, "\(signed.stderr)")
        let signature = [UInt8](try Data(contentsOf: URL(fileURLWithPath: message + ".sig")))
        #expect(key.publicKey.isValidSignature(signature, for: Array("from openssl".utf8)))

        // Ours, verified by openssl with the same ID; with another ID it must fail.
        let ours = suite.generateSigningKey()
        let publicPath = dir.appendingPathComponent("pub.pem").path
        try ours.publicKey.pemRepresentation.write(toFile: publicPath, atomically: true, encoding: .utf8)
        try ours.pemRepresentation.write(toFile: dir.appendingPathComponent("ours.pem").path, atomically: true, encoding: .utf8)
        #expect(try await runProcess(openssl, ["pkey", "-in", dir.appendingPathComponent("ours.pem").path, "-noout"]).status == 0)
        try Data(try ours.sign(Array("from swift".utf8))).write(to: URL(fileURLWithPath: message + ".ours"))
        try Data("from swift".utf8).write(to: URL(fileURLWithPath: message))
        let verify = { (distid: String) in
            try await runProcess(self.openssl, ["dgst", "-sm3", "-verify", publicPath, "-sigopt", distid, "-signature", message + ".ours", message])
        }
        #expect(try await verify(id).status == 0)
        #expect(try await verify("distid:ALICE123@YAHOO.COM").status != 0)
    }

    @Test func sm4CTRMatchesOpensslEncInBothDirections() async throws {
        let dir = try TestPaths.temporaryDirectory("sm4-cli")
        let key = SystemRandom().bytes(count: 16)
        let iv = SystemRandom().bytes(count: 16)
        let plaintext = SystemRandom().bytes(count: 1_000)
        let input = dir.appendingPathComponent("p.bin").path
        try Data(plaintext).write(to: URL(fileURLWithPath: input))
        let result = try await runProcess(
            openssl, ["enc", "-sm4-ctr", "-K", Hex.encode(key), "-iv", Hex.encode(iv), "-in", input, "-out", input + ".enc"])
        #expect(result.status == 0, "\(result.stderr)")
        let theirs = [UInt8](try Data(contentsOf: URL(fileURLWithPath: input + ".enc")))
        #expect(try SM4.encrypt(plaintext, key: key, iv: iv, mode: .ctr) == theirs)
        try Data(try SM4.encrypt(plaintext, key: key, iv: iv, mode: .ctr)).write(to: URL(fileURLWithPath: input + ".ours"))
        #expect(
            try await runProcess(
                openssl, ["enc", "-d", "-sm4-ctr", "-K", Hex.encode(key), "-iv", Hex.encode(iv), "-in", input + ".ours", "-out", input + ".dec"]
            ).status == 0)
        #expect([UInt8](try Data(contentsOf: URL(fileURLWithPath: input + ".dec"))) == plaintext)
    }

    @Test func sm3MatchesOpensslDgst() async throws {
        let dir = try TestPaths.temporaryDirectory("sm3-cli")
        let data = SystemRandom().bytes(count: 4_097)
        let path = dir.appendingPathComponent("d.bin").path
        try Data(data).write(to: URL(fileURLWithPath: path))
        let result = try await runProcess(openssl, ["dgst", "-sm3", "-r", path])
        #expect(result.stdout.hasPrefix(Hex.encode(suite.hash(data))))
    }
}
