import Crypto
import Foundation
import GatewayCrypto
import GatewayTestSupport
import Testing

/// RFC 9421 against a client nobody here wrote: the PyPI package http-message-signatures signs requests that the
/// Swift side verifies, and verifies what the Swift side signs; tampering with any covered part fails both ways; and
/// hostile Signature-Input and Signature values are errors, never crashes.
@Suite struct HTTPMessageSignaturesTests {
    let suite = InternationalSuite()
    let oracle = TestPaths.packageRoot.appendingPathComponent("Tests/Oracles/http_signatures.py").path

    func contentDigest(_ body: [UInt8]) -> String { "sha-256=:\(Data(SHA256.hash(data: body)).base64EncodedString()):" }

    /// Both algorithms of the RFC's registry the intl suite signs with: ed25519, and ecdsa-p256-sha256 (r and s, 32
    /// bytes each; our DER-encoding ECDSA signature would not verify there, nor theirs here).
    @Test(arguments: ["ed25519", "ecdsa-p256-sha256"])
    func signaturesFromThePythonClientVerifyAndOursVerifyThere(_ algorithm: String) async throws {
        let key = algorithm == "ed25519" ? suite.generateSigningKey() : suite.generateP256SigningKey()
        #expect(key.publicKey.httpSignatureAlgorithm == algorithm)
        let dir = try TestPaths.temporaryDirectory("httpsig")
        let privateFile = dir.appendingPathComponent("key.pem")
        let publicFile = dir.appendingPathComponent("pub.pem")
        try Data(key.pemRepresentation.utf8).write(to: privateFile)
        try Data(key.publicKey.pemRepresentation.utf8).write(to: publicFile)
        let body = Array(#"{"category":"citizen","ids":["C0000001"],"purpose":"benefit_eligibility"}"#.utf8)
        let bodyFile = dir.appendingPathComponent("body.json")
        try Data(body).write(to: bodyFile)
        let url = "https://gateway.example:8443/v1/requests?x=1"

        // Python signs; we verify.
        let signed = try await runProcess(
            TestPaths.python, [oracle, "sign", privateFile.path, "POST", url, bodyFile.path, "housing", "0123456789abcdef0123", "1800000000"])
        #expect(signed.status == 0, "\(signed.stderr)")
        let headers = try JSONDecoder().decode([String: [String: String]].self, from: Data(signed.stdout.utf8))["headers"] ?? [:]
        let digest = try #require(headers["Content-Digest"])
        #expect(digest == contentDigest(body))
        let received = try HTTPMessageSignatures.read(
            signatureInput: try #require(headers["Signature-Input"]), signature: try #require(headers["Signature"]))
        #expect(received.count == 1)
        let first = try #require(received.first)
        #expect(first.parameters.keyID == "housing" && first.parameters.nonce == "0123456789abcdef0123" && first.parameters.created == 1_800_000_000)
        #expect(first.parameters.algorithm == algorithm)
        #expect(first.parameters.components == ["@method", "@target-uri", "@authority", "content-digest"])
        let message = HTTPMessageSignatures.Message(method: "POST", targetURI: url, fields: [("Content-Digest", digest)])
        #expect(try HTTPMessageSignatures.verify(first, of: message) { key.publicKey.isValidHTTPSignature($1, for: $0) })
        if algorithm == "ecdsa-p256-sha256" {
            #expect(first.signature.count == 64, "r ‖ s")
            #expect(try HTTPMessageSignatures.verify(first, of: message) { key.publicKey.isValidSignature($1, for: $0) } == false)
        }
        // Every covered part changed breaks it.
        for tampered in [
            HTTPMessageSignatures.Message(method: "PUT", targetURI: url, fields: [("Content-Digest", digest)]),
            HTTPMessageSignatures.Message(method: "POST", targetURI: url + "2", fields: [("Content-Digest", digest)]),
            HTTPMessageSignatures.Message(
                method: "POST", targetURI: "https://other.example:8443/v1/requests?x=1", fields: [("Content-Digest", digest)]),
            HTTPMessageSignatures.Message(method: "POST", targetURI: url, fields: [("Content-Digest", contentDigest(body + [0x20]))]),
        ] {
            #expect(try HTTPMessageSignatures.verify(first, of: tampered) { key.publicKey.isValidHTTPSignature($1, for: $0) } == false)
        }

        // We sign; Python verifies (and checks the digest against the body).
        let parameters = HTTPMessageSignatures.Parameters(
            components: ["@method", "@target-uri", "@authority", "content-digest"], created: Int64(Date().timeIntervalSince1970),
            nonce: "fedcba98765432100123", keyID: "housing", algorithm: algorithm)
        let ours = try HTTPMessageSignatures.sign(
            HTTPMessageSignatures.Message(method: "POST", targetURI: url, fields: [("Content-Digest", contentDigest(body))]),
            parameters: parameters
        ) { try key.signHTTP($0) }
        func pythonVerifies(method: String, url: String, body: URL, headers: [String: String]) async throws -> (Int32, String) {
            let file = dir.appendingPathComponent("headers-\(UUID().uuidString).json")
            try JSONEncoder().encode(headers).write(to: file)
            let result = try await runProcess(TestPaths.python, [oracle, "verify", publicFile.path, method, url, body.path, file.path])
            return (result.status, result.stdout + result.stderr)
        }
        let ourHeaders = ["Content-Digest": contentDigest(body), "Signature-Input": ours.signatureInput, "Signature": ours.signature]
        let verified = try await pythonVerifies(method: "POST", url: url, body: bodyFile, headers: ourHeaders)
        #expect(verified.0 == 0, "\(verified.1)")
        #expect(verified.1.contains(#"@authority\"": "gateway.example:8443""#), "\(verified.1)")
        let otherBody = dir.appendingPathComponent("other.json")
        try Data(body + [0x20]).write(to: otherBody)
        #expect(try await pythonVerifies(method: "POST", url: url, body: otherBody, headers: ourHeaders).0 == 1)
        #expect(try await pythonVerifies(method: "DELETE", url: url, body: bodyFile, headers: ourHeaders).0 == 1)
    }

    @Test func derivedComponentsFollowTheRFC() throws {
        let message = HTTPMessageSignatures.Message(
            method: "GET", targetURI: "https://Gateway.Example:443/v1/records/citizen/C1?purpose=audit", fields: [("DG-Role", " clerk ")])
        let params = try HTTPMessageSignatures.signatureParams(
            .init(components: ["@method", "@authority", "@path", "@query", "@request-target", "dg-role"], created: 1, keyID: "k"))
        #expect(params == #"("@method" "@authority" "@path" "@query" "@request-target" "dg-role");created=1;keyid="k""#)
        let base = String(
            decoding: try HTTPMessageSignatures.signatureBase(
                of: message, components: ["@method", "@authority", "@path", "@query", "@request-target", "dg-role"], signatureParams: params),
            as: UTF8.self)
        #expect(
            base == """
                "@method": GET
                "@authority": gateway.example
                "@path": /v1/records/citizen/C1
                "@query": ?purpose=audit
                "@request-target": /v1/records/citizen/C1?purpose=audit
                "dg-role": clerk
                "@signature-params": \(params)
                """)
        // A covered field that is absent, a component twice, an upper-case name: errors.
        // A request component (;req) in a request: an error too.
        let cases: [[HTTPMessageSignatures.Component]] = [
            ["content-digest"], ["@method", "@method"], ["@Method"], ["@status"], ["@nonsense"], [.init("@method", request: true)],
        ]
        for components in cases {
            #expect(throws: HTTPMessageSignatures.SignatureError.self) {
                try HTTPMessageSignatures.signatureBase(of: message, components: components, signatureParams: params)
            }
        }
    }

    @Test func hostileSignatureFieldsAreErrorsNeverCrashes() throws {
        var random = SplitMix64(seed: 9421)
        print("hostile Signature-Input seed 9421")
        let valid = (#"sig1=("@method" "@target-uri");created=1;keyid="k";alg="ed25519""#, "sig1=:AAAA:")
        #expect(try HTTPMessageSignatures.read(signatureInput: valid.0, signature: valid.1).count == 1)
        let alphabet = Array(#"sig1=();"@:,-abc01 \=*?"#.utf8) + [0x00, 0x0a, 0xff]
        for _ in 0..<3_000 {
            var input = Array(valid.0.utf8)
            for _ in 0..<(1 + Int(random.next() % 6)) {
                let position = Int(random.next() % UInt64(input.count + 1))
                switch random.next() % 3 {
                case 0: input.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: position)
                case 1: if position < input.count { input.remove(at: position) }
                default: if position < input.count { input[position] = alphabet[Int(random.next() % UInt64(alphabet.count))] }
                }
            }
            _ = try? HTTPMessageSignatures.read(signatureInput: String(decoding: input, as: UTF8.self), signature: valid.1)
        }
        // Bounds: too long, too many signatures, too many components, wrong parameter types.
        let long = String(repeating: "a", count: HTTPMessageSignatures.fieldBytesMax + 1)
        #expect(throws: HTTPMessageSignatures.SignatureError.self) { try HTTPMessageSignatures.read(signatureInput: long, signature: valid.1) }
        let many = (0...HTTPMessageSignatures.signaturesMax).map { "s\($0)=(\"@method\")" }.joined(separator: ", ")
        #expect(throws: HTTPMessageSignatures.SignatureError.self) { try HTTPMessageSignatures.read(signatureInput: many, signature: valid.1) }
        let wide = "sig1=(" + (0...HTTPMessageSignatures.componentsMax).map { "\"h\($0)\"" }.joined(separator: " ") + ")"
        #expect(throws: HTTPMessageSignatures.SignatureError.self) { try HTTPMessageSignatures.read(signatureInput: wide, signature: valid.1) }
        for input in [#"sig1=("@method");created="1""#, #"sig1=("@method");keyid=1"#, #"sig1=("@method");evil=1"#, #"sig1="@method""#] {
            #expect(throws: HTTPMessageSignatures.SignatureError.self) { try HTTPMessageSignatures.read(signatureInput: input, signature: valid.1) }
        }
        #expect(throws: HTTPMessageSignatures.SignatureError.self) {
            try HTTPMessageSignatures.read(signatureInput: valid.0, signature: "sig2=:AAAA:")
        }
    }
}
