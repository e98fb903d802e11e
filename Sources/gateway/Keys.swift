import ArgumentParser
import Foundation
import GatewayCrypto

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage key pairs.", subcommands: [Generate.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a signing key pair: <out>-key.pem (PKCS#8, mode 0600) and <out>-pub.pem (SPKI)."
        )

        @Option(help: "Crypto suite of the key: sm (SM2) or intl (Ed25519).")
        var suite: SuiteName = .sm

        @Option(help: "Path prefix of the two files written.")
        var out: String

        func run() throws {
            let key = try suite.makeSuite().generateSigningKey()
            let privatePath = out + "-key.pem"
            guard FileManager.default.createFile(atPath: privatePath, contents: Data(key.pemRepresentation.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("cannot write \(privatePath): check the directory exists and is writable")
            }
            try Data(key.publicKey.pemRepresentation.utf8).write(to: URL(fileURLWithPath: out + "-pub.pem"))
            say("wrote \(privatePath) and \(out)-pub.pem")
        }
    }
}
