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
        let url = "https://node-1.example:8443/v1/requests"
        func received(_ headers: [(String, String)]) throws -> (fields: [(name: String, value: String)], signature: HTTPMessageSignatures.Received) {
            let fields = headers.map { (name: $0.0, value: $0.1) }
            let input = try #require(fields.first { $0.name == "Signature-Input" }?.value)
            let signature = try #require(fields.first { $0.name == "Signature" }?.value)
            return (fields, try #require(try HTTPMessageSignatures.read(signatureInput: input, signature: signature).first))
        }
        func verifies(_ headers: [(String, String)], method: String = "POST", url: String = url, fields: [(name: String, value: String)]? = nil)
            throws -> Bool
        {
            let (signedFields, signature) = try received(headers)
            let message = RequestSigning.requestMessage(method: method, url: url, fields: fields ?? signedFields)
            return try HTTPMessageSignatures.verify(signature, of: message) { key.publicKey.isValidSignature($1, for: $0) }
        }
        let headers = try RequestSigning.sign(
            method: "POST", url: url, body: [1, 2], keyID: "housing", key: key, suite: suite, created: 100, nonce: "00ff00ff00ff00ff")
        #expect(headers.first { $0.0 == "Content-Digest" }?.1 == RequestSigning.contentDigest([1, 2], suite: suite))
        let parameters = try received(headers).signature.parameters
        #expect(parameters.keyID == "housing" && parameters.created == 100 && parameters.nonce == "00ff00ff00ff00ff")
        #expect(parameters.algorithm == HTTPMessageSignatures.algorithm(for: suite))
        #expect(parameters.components == ["@method", "@authority", "@path", "@query", "content-digest"])
        #expect(try verifies(headers))
        // Another method, query, path or host does not verify.
        #expect(try !verifies(headers, method: "GET"))
        #expect(try !verifies(headers, url: url + "?x"))
        #expect(try !verifies(headers, url: "https://node-1.example:8443/v1/grants"))
        #expect(try !verifies(headers, url: "https://node-2.example:8443/v1/requests"))
        // The digest is covered: another body's digest does not verify.
        let otherDigest = try received(headers).fields.map {
            $0.name == "Content-Digest" ? (name: $0.name, value: RequestSigning.contentDigest([3], suite: suite)) : $0
        }
        #expect(try !verifies(headers, fields: otherDigest))
        // A role is covered when sent: changing it breaks the signature; without one, dg-role is not covered.
        let withRole = try RequestSigning.sign(
            method: "POST", url: url, body: [1, 2], keyID: "housing", key: key, suite: suite, created: 100, nonce: "00ff00ff00ff00ff",
            role: "caseworker")
        #expect(withRole.first { $0.0 == "DG-Role" }?.1 == "caseworker" && !headers.contains { $0.0 == "DG-Role" })
        #expect(try received(withRole).signature.parameters.components.contains("dg-role"))
        #expect(try verifies(withRole))
        let otherRole = try received(withRole).fields.map { $0.name == "DG-Role" ? (name: $0.name, value: "chief") : $0 }
        #expect(try !verifies(withRole, fields: otherRole))
        // A bare target (no host) covers method, path and query.
        let bare = try RequestSigning.sign(method: "GET", url: "/v1/grants?limit=1", body: [], keyID: "housing", key: key, suite: suite)
        #expect(try received(bare).signature.parameters.components == ["@method", "@path", "@query", "content-digest"])
        #expect(try verifies(bare, method: "GET", url: "/v1/grants?limit=1"))
        #expect(try !verifies(bare, method: "GET", url: "/v1/grants?limit=2"))
        #expect(
            RequestSigning.isValidNonce(RequestSigning.newNonce()) && !RequestSigning.isValidNonce("short")
                && !RequestSigning.isValidNonce(String(repeating: "a", count: 129)))
        #expect(
            RequestSigning.isValidRole("case-worker_2") && !RequestSigning.isValidRole("") && !RequestSigning.isValidRole("Chief")
                && !RequestSigning.isValidRole("a\nb") && !RequestSigning.isValidRole(String(repeating: "a", count: 65)))
    }

    @Test(arguments: SuiteName.allCases) func responseSignaturesBindTheAnswerToItsRequest(name: SuiteName) throws {
        let suite = try name.makeSuite()
        let nodeKey = suite.generateSigningKey()
        let url = "https://node-1.example:8443/v1/records/citizen/C1?purpose=audit"
        let requestHeaders = try RequestSigning.sign(
            method: "GET", url: url, body: [], keyID: "housing", key: suite.generateSigningKey(), suite: suite, nonce: "0123456789abcdef")
        let request = RequestSigning.requestMessage(method: "GET", url: url, fields: requestHeaders.map { (name: $0.0, value: $0.1) })
        let body = Array(#"{"records":[]}"#.utf8)
        let fields: [(name: String, value: String)] = [("Content-Type", "application/json")]
        let signed = try RequestSigning.signResponse(
            status: 200, fields: fields, body: body, request: request, keyID: "node:node-1", key: nodeKey, suite: suite)
        let response = fields + signed.map { (name: $0.0, value: $0.1) }
        #expect(
            try RequestSigning.verifyResponse(status: 200, fields: response, body: body, request: request, key: nodeKey.publicKey, suite: suite)
                == "node:node-1")
        func refused(
            status: Int = 200, fields: [(name: String, value: String)] = response, body: [UInt8] = body,
            request: HTTPMessageSignatures.Message = request, key: any VerifyingKey = nodeKey.publicKey
        ) -> Bool {
            (try? RequestSigning.verifyResponse(status: status, fields: fields, body: body, request: request, key: key, suite: suite)) == nil
        }
        // Another status, body, content type, signer, or the same answer presented for another request: refused.
        #expect(refused(status: 404))
        #expect(refused(body: Array(#"{"records":[1]}"#.utf8)))
        #expect(refused(fields: response.map { $0.name == "Content-Type" ? (name: $0.name, value: "text/plain") : $0 }))
        #expect(refused(key: suite.generateSigningKey().publicKey))
        #expect(refused(request: RequestSigning.requestMessage(method: "GET", url: url + "&x=1", fields: request.fields)))
        let otherNonce = try RequestSigning.sign(
            method: "GET", url: url, body: [], keyID: "housing", key: suite.generateSigningKey(), suite: suite, nonce: "fedcba9876543210")
        #expect(refused(request: RequestSigning.requestMessage(method: "GET", url: url, fields: otherNonce.map { (name: $0.0, value: $0.1) })))
        #expect(refused(fields: fields))
        // A hostile request (a Signature-Input no signature base can hold, a target no URI parser takes) still gets a
        // signed answer: the parts it lacks in signable form are not covered, by signer and verifier alike.
        let hostile = HTTPMessageSignatures.Message(
            method: "GET", targetURI: "https://node-1.example:8443/v1/%ZZ/\u{e9}", fields: [("Signature-Input", "sig1=\u{e9}\u{e8}")])
        let answer = try RequestSigning.signResponse(
            status: 401, fields: fields, body: body, request: hostile, keyID: "node:node-1", key: nodeKey, suite: suite)
        let covered = try HTTPMessageSignatures.read(
            signatureInput: try #require(answer.first { $0.0 == "Signature-Input" }?.1),
            signature: try #require(answer.first { $0.0 == "Signature" }?.1)
        ).first?.parameters.components
        #expect(Array((covered ?? []).prefix(4)) == ["@status", "content-digest", "content-type", .init("@method", request: true)])
        #expect(covered?.contains(.init("signature-input", request: true)) == false)
        #expect(
            try RequestSigning.verifyResponse(
                status: 401, fields: fields + answer.map { (name: $0.0, value: $0.1) }, body: body, request: hostile, key: nodeKey.publicKey,
                suite: suite) == "node:node-1")
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
