import Foundation
import GatewayCrypto
import GatewayTestSupport
import Testing

@Suite struct InternationalSuiteTests {
    let suite = InternationalSuite()

    @Test func sha256KnownAnswer() {
        #expect(Hex.encode(suite.hash(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func hmacSha256KnownAnswerFromRFC4231() {
        let key = [UInt8](repeating: 0x0b, count: 20)
        #expect(
            Hex.encode(suite.hmac(key: key, Array("Hi There".utf8)))
                == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    }

    @Test func constantTimeEqualsComparesWholeBuffers() {
        #expect(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2]))
    }
}

/// Properties every suite must have, checked for each.
@Suite struct SuiteConformanceTests {
    @Test(arguments: SuiteName.allCases) func signaturesVerifyAndAnyFlippedBitFails(name: SuiteName) throws {
        let suite = try name.makeSuite()
        let key = suite.generateSigningKey()
        let message = Array("access event".utf8)
        let signature = try key.sign(message)
        #expect(key.publicKey.isValidSignature(signature, for: message))
        for bit in [0, 7, 100, signature.count * 8 - 1] {
            var bad = signature
            bad[bit / 8] ^= UInt8(1 << (bit % 8))
            #expect(!key.publicKey.isValidSignature(bad, for: message))
        }
        var tampered = message
        tampered[0] ^= 1
        #expect(!key.publicKey.isValidSignature(signature, for: tampered))
        #expect(!suite.generateSigningKey().publicKey.isValidSignature(signature, for: message))
    }

    @Test(arguments: SuiteName.allCases) func pemRoundTrips(name: SuiteName) throws {
        let suite = try name.makeSuite()
        let key = suite.generateSigningKey()
        let reloaded = try suite.signingKey(pem: key.pemRepresentation)
        #expect(reloaded.publicKey.rawRepresentation == key.publicKey.rawRepresentation)
        let publicKey = try suite.verifyingKey(pem: key.publicKey.pemRepresentation)
        #expect(publicKey.isValidSignature(try reloaded.sign([1, 2, 3]), for: [1, 2, 3]))
        #expect(throws: CryptoError.self) { try suite.signingKey(pem: "not a key") }
        #expect(throws: CryptoError.self) { try suite.verifyingKey(pem: key.pemRepresentation) }
    }

    @Test(arguments: SuiteName.allCases) func sealOpensAndRejectsTamperingOfCiphertextAssociatedDataOrKey(name: SuiteName) throws {
        let suite = try name.makeSuite()
        let key = SystemRandom().bytes(count: 32)
        let sealed = try suite.seal(Array("record".utf8), key: key, associatedData: [1])
        #expect(try suite.open(sealed, key: key, associatedData: [1]) == Array("record".utf8))
        var flipped = sealed
        flipped[flipped.count / 2] ^= 0x01
        #expect(throws: CryptoError.self) { try suite.open(flipped, key: key, associatedData: [1]) }
        #expect(throws: CryptoError.self) { try suite.open(sealed, key: key, associatedData: [2]) }
        #expect(throws: CryptoError.self) { try suite.open(sealed, key: SystemRandom().bytes(count: 32), associatedData: [1]) }
    }

    @Test(arguments: SuiteName.allCases) func hashAndHMACHaveTheDeclaredLengthAndDependOnEveryInput(name: SuiteName) throws {
        let suite = try name.makeSuite()
        #expect(suite.hash([]).count == suite.digestLength)
        #expect(suite.hash([1]) != suite.hash([2]))
        #expect(suite.hmac(key: [1], [1]) != suite.hmac(key: [2], [1]))
        #expect(suite.hmac(key: [1], [1]).count == suite.digestLength)
    }

    @Test(arguments: SuiteName.allCases) func requestSignaturesVerifyOnlyForTheExactRequest(name: SuiteName) throws {
        let suite = try name.makeSuite()
        let key = suite.generateSigningKey()
        let headers = Dictionary(
            uniqueKeysWithValues: try RequestSigning.sign(
                method: "POST", target: "/v1/requests", body: [1, 2], department: "housing", key: key, suite: suite, timestamp: 100, nonce: "00ff"
            ))
        #expect(headers["Content-Digest"] == RequestSigning.contentDigest([1, 2], suite: suite))
        let message = RequestSigning.signingString(
            method: "POST", target: "/v1/requests", department: "housing", timestamp: "100", nonce: "00ff", contentDigest: headers["Content-Digest"]!
        )
        let signature = [UInt8](Data(base64Encoded: headers["DG-Signature"]!)!)
        #expect(key.publicKey.isValidSignature(signature, for: message))
        let other = RequestSigning.signingString(
            method: "POST", target: "/v1/requests?x", department: "housing", timestamp: "100", nonce: "00ff",
            contentDigest: headers["Content-Digest"]!
        )
        #expect(!key.publicKey.isValidSignature(signature, for: other))
        // A role is one more signed line; without it the string is unchanged, so the role cannot be added or stripped.
        let withRole = Dictionary(
            uniqueKeysWithValues: try RequestSigning.sign(
                method: "POST", target: "/v1/requests", body: [1, 2], department: "housing", key: key, suite: suite, timestamp: 100, nonce: "00ff",
                role: "caseworker"
            ))
        #expect(withRole["DG-Role"] == "caseworker" && headers["DG-Role"] == nil)
        let roleMessage = RequestSigning.signingString(
            method: "POST", target: "/v1/requests", department: "housing", timestamp: "100", nonce: "00ff",
            contentDigest: headers["Content-Digest"]!, role: "caseworker"
        )
        #expect(roleMessage == message + Array("\ncaseworker".utf8))
        let roleSignature = [UInt8](Data(base64Encoded: withRole["DG-Signature"]!)!)
        #expect(key.publicKey.isValidSignature(roleSignature, for: roleMessage))
        #expect(!key.publicKey.isValidSignature(roleSignature, for: message))
        #expect(!key.publicKey.isValidSignature(signature, for: roleMessage))
        #expect(
            RequestSigning.isValidRole("case-worker_2") && !RequestSigning.isValidRole("") && !RequestSigning.isValidRole("Chief")
                && !RequestSigning.isValidRole("a\nb") && !RequestSigning.isValidRole(String(repeating: "a", count: 65)))
    }
}

/// Keys interoperate with the `openssl` CLI in both directions.
@Suite struct OpenSSLInteropTests {
    let suite = InternationalSuite()

    @Test func p256KeysAndSignaturesInteroperateWithOpenssl() async throws {
        let dir = try TestPaths.temporaryDirectory("p256")
        let keyPath = dir.appendingPathComponent("k.pem").path
        #expect(
            try await runProcess("/usr/bin/openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyPath]).status
                == 0)
        let theirs = try suite.signingKey(pem: String(contentsOfFile: keyPath, encoding: .utf8))
        let message = dir.appendingPathComponent("m.bin").path
        try Data("p256".utf8).write(to: URL(fileURLWithPath: message))
        #expect(try await runProcess("/usr/bin/openssl", ["dgst", "-sha256", "-sign", keyPath, "-out", message + ".sig", message]).status == 0)
        #expect(theirs.publicKey.isValidSignature([UInt8](try Data(contentsOf: URL(fileURLWithPath: message + ".sig"))), for: Array("p256".utf8)))

        let ours = suite.generateP256SigningKey()
        let publicPath = dir.appendingPathComponent("pub.pem").path
        try ours.publicKey.pemRepresentation.write(toFile: publicPath, atomically: true, encoding: .utf8)
        try Data(try ours.sign(Array("p256".utf8))).write(to: URL(fileURLWithPath: message + ".ours"))
        #expect(
            try await runProcess("/usr/bin/openssl", ["dgst", "-sha256", "-verify", publicPath, "-signature", message + ".ours", message]).status == 0
        )
        let reloaded = try suite.signingKey(pem: ours.pemRepresentation)
        #expect(try suite.verifyingKey(pem: ours.publicKey.pemRepresentation).isValidSignature(try reloaded.sign([7]), for: [7]))
        #expect(!ours.publicKey.isValidSignature(try ours.sign([7]), for: [8]))
    }

    @Test func keysFromOpensslGenpkeyLoadAndTheirSignaturesVerify() async throws {
        let dir = try TestPaths.temporaryDirectory("openssl")
        let keyPath = dir.appendingPathComponent("k.pem").path
        let generated = try await runProcess("/usr/bin/openssl", ["genpkey", "-algorithm", "ed25519", "-out", keyPath])
        #expect(generated.status == 0, "\(generated.stderr)")
        let key = try suite.signingKey(pem: try String(contentsOfFile: keyPath, encoding: .utf8))
        // openssl signs; we verify with the key we loaded.
        let messagePath = dir.appendingPathComponent("m.bin").path
        try Data("from openssl".utf8).write(to: URL(fileURLWithPath: messagePath))
        let signed = try await runProcess(
            "/usr/bin/openssl", ["pkeyutl", "-sign", "-rawin", "-inkey", keyPath, "-in", messagePath, "-out", messagePath + ".sig"])
        #expect(signed.status == 0, "\(signed.stderr)")
        let signature = [UInt8](try Data(contentsOf: URL(fileURLWithPath: messagePath + ".sig")))
        #expect(key.publicKey.isValidSignature(signature, for: Array("from openssl".utf8)))
    }

    @Test func ourKeysLoadInOpensslAndOurSignaturesVerifyThere() async throws {
        let dir = try TestPaths.temporaryDirectory("openssl")
        let key = suite.generateSigningKey()
        let publicPath = dir.appendingPathComponent("pub.pem").path
        try key.publicKey.pemRepresentation.write(toFile: publicPath, atomically: true, encoding: .utf8)
        let privatePath = dir.appendingPathComponent("key.pem").path
        try key.pemRepresentation.write(toFile: privatePath, atomically: true, encoding: .utf8)
        #expect(try await runProcess("/usr/bin/openssl", ["pkey", "-in", privatePath, "-noout"]).status == 0)
        let messagePath = dir.appendingPathComponent("m.bin").path
        try Data("from swift".utf8).write(to: URL(fileURLWithPath: messagePath))
        try Data(try key.sign(Array("from swift".utf8))).write(to: URL(fileURLWithPath: messagePath + ".sig"))
        let verified = try await runProcess(
            "/usr/bin/openssl",
            [
                "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", publicPath, "-in", messagePath, "-sigfile", messagePath + ".sig",
            ])
        #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")
        // And a wrong signature is refused by openssl as well.
        try Data(try key.sign(Array("something else".utf8))).write(to: URL(fileURLWithPath: messagePath + ".sig"))
        #expect(
            try await runProcess(
                "/usr/bin/openssl",
                [
                    "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", publicPath, "-in", messagePath, "-sigfile", messagePath + ".sig",
                ]
            ).status != 0)
    }
}
