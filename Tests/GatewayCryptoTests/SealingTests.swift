import Foundation
import GatewayCrypto
import GatewayTestSupport
import Testing

/// Sealing to a member's signing key: only that key opens the box, for that context, unaltered; SM2's key wrap is the
/// standard one (the `openssl` CLI opens ours and we open its).
@Suite struct SealingTests {
    static let keys: [(String, @Sendable () throws -> any SigningKey)] = [
        ("sm2", { NationalSuite().generateSigningKey() }),
        ("ed25519", { InternationalSuite().generateSigningKey() }),
        ("p256", { InternationalSuite().generateP256SigningKey() }),
    ]

    @Test(arguments: 0..<3) func roundTripsOnlyForItsKeyAndContext(kind: Int) throws {
        let (name, make) = Self.keys[kind]
        let recipient = try make()
        let other = try make()
        let plaintext = Array("share 3 of the consortium key: 0123456789".utf8)
        let context = Array("chain-a/node-3".utf8)
        let box = try PublicKeySeal.seal(plaintext, to: recipient.publicKey, context: context)
        #expect(try PublicKeySeal.open(box, with: recipient, context: context) == plaintext, "\(name)")
        // Sealing is randomised: the same plaintext never gives the same box.
        #expect(try PublicKeySeal.seal(plaintext, to: recipient.publicKey, context: context) != box)
        #expect(!box.windowContains(plaintext))
        #expect(throws: CryptoError.self) { try PublicKeySeal.open(box, with: other, context: context) }
        #expect(throws: CryptoError.self) { try PublicKeySeal.open(box, with: recipient, context: Array("chain-a/node-4".utf8)) }
        // Every single-byte alteration is refused, never opened to something else.
        for index in stride(from: 0, to: box.count, by: max(1, box.count / 40)) {
            var altered = box
            altered[index] ^= 0x01
            #expect(throws: CryptoError.self) { try PublicKeySeal.open(altered, with: recipient, context: context) }
        }
        #expect(throws: CryptoError.self) { try PublicKeySeal.open(Array(box.prefix(box.count / 2)), with: recipient, context: context) }
        #expect(throws: CryptoError.self) { try PublicKeySeal.open([], with: recipient, context: context) }
    }

    @Test func boxesOfOneKindDoNotOpenWithAnother() throws {
        let ed = InternationalSuite().generateSigningKey()
        let sm = NationalSuite().generateSigningKey()
        let box = try PublicKeySeal.seal([1, 2, 3], to: ed.publicKey, context: [])
        #expect(throws: CryptoError.self) { try PublicKeySeal.open(box, with: sm, context: []) }
    }
}

@Suite struct SealingOpenSSLTests {
    let openssl = "/usr/bin/openssl"
    let context = Array("interop".utf8)

    @Test func opensslUnwrapsOurSM2KeyWrapAndWeOpenItsWrap() async throws {
        let suite = NationalSuite()
        let dir = try TestPaths.temporaryDirectory("seal-cli")
        let key = suite.generateSigningKey()
        let keyPath = dir.appendingPathComponent("k.pem").path
        let publicPath = dir.appendingPathComponent("pub.pem").path
        try key.pemRepresentation.write(toFile: keyPath, atomically: true, encoding: .utf8)
        try key.publicKey.pemRepresentation.write(toFile: publicPath, atomically: true, encoding: .utf8)
        let plaintext = Array("a key share".utf8)

        // Ours → openssl: the wrapped key decrypts with `openssl pkeyutl` and opens the rest of the box.
        let box = try PublicKeySeal.seal(plaintext, to: key.publicKey, context: context)
        let length = Int(box[1]) << 8 | Int(box[2])
        try Data(box[3..<(3 + length)]).write(to: dir.appendingPathComponent("wrapped.bin"))
        let unwrapped = try await runProcess(
            openssl,
            [
                "pkeyutl", "-decrypt", "-inkey", keyPath, "-in", dir.appendingPathComponent("wrapped.bin").path, "-out",
                dir.appendingPathComponent("k.bin").path,
            ])
        #expect(unwrapped.status == 0, "\(unwrapped.stderr)")
        let symmetric = [UInt8](try Data(contentsOf: dir.appendingPathComponent("k.bin")))
        #expect(
            try suite.open(Array(box[(3 + length)...]), key: symmetric, associatedData: Array("datagateway/seal/sm2/v1".utf8) + context) == plaintext)

        // openssl → ours: a key wrapped by `openssl pkeyutl -encrypt` opens a box built around it.
        let theirKey = SystemRandom().bytes(count: suite.symmetricKeyLength)
        try Data(theirKey).write(to: dir.appendingPathComponent("their-k.bin"))
        let wrapped = try await runProcess(
            openssl,
            [
                "pkeyutl", "-encrypt", "-pubin", "-inkey", publicPath, "-in", dir.appendingPathComponent("their-k.bin").path, "-out",
                dir.appendingPathComponent("their-wrapped.bin").path,
            ])
        #expect(wrapped.status == 0, "\(wrapped.stderr)")
        let theirWrap = [UInt8](try Data(contentsOf: dir.appendingPathComponent("their-wrapped.bin")))
        let theirBox =
            [UInt8(0x53), UInt8(theirWrap.count >> 8), UInt8(theirWrap.count & 0xff)] + theirWrap
            + (try suite.seal(plaintext, key: theirKey, associatedData: Array("datagateway/seal/sm2/v1".utf8) + context))
        #expect(try PublicKeySeal.open(theirBox, with: key, context: context) == plaintext)
    }
}

extension Array where Element == UInt8 {
    func windowContains(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { Array(self[$0..<($0 + needle.count)]) == needle }
    }
}
