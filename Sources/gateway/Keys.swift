import ArgumentParser
import Foundation
import GatewayCrypto

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage key pairs and threshold keys.", subcommands: [Generate.self, Deal.self])

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
            guard
                FileManager.default.createFile(
                    atPath: privatePath, contents: Data(key.pemRepresentation.utf8), attributes: [.posixPermissions: 0o600])
            else {
                throw ValidationError("cannot write \(privatePath): check the directory exists and is writable")
            }
            try Data(key.publicKey.pemRepresentation.utf8).write(to: URL(fileURLWithPath: out + "-pub.pem"))
            say("wrote \(privatePath) and \(out)-pub.pem")
        }
    }

    struct Deal: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deal a t-of-n threshold Paillier aggregation key (safe primes; shows progress).",
            discussion: """
                Writes <out>/threshold-public.json (n, t, the verification keys: give it to everyone) and
                <out>/share-<i>.json for i = 1…parties (mode 0600: give each to one department, then delete it here).
                Any t departments can decrypt an aggregate together; fewer learn nothing. Safe-prime search for a
                2048-bit modulus takes seconds to minutes.
                """
        )

        @Option(help: "Number of share holders (departments), at most 64.")
        var parties: Int

        @Option(help: "Shares needed to decrypt (1 ≤ threshold ≤ parties).")
        var threshold: Int

        @Option(help: "Bits of the Paillier modulus (2048 or 3072).")
        var bits: Int = 2048

        @Option(help: "Directory to write into (created if missing).")
        var out: String

        func validate() throws {
            guard (1...64).contains(parties), (1...parties).contains(threshold) else {
                throw ValidationError("need 1 ≤ --threshold ≤ --parties ≤ 64")
            }
            guard (1_024...8_192).contains(bits), bits % 2 == 0 else { throw ValidationError("--bits must be an even number from 1024 to 8192") }
        }

        func run() throws {
            let directory = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let started = Date()
            let (scheme, shares) = try ThresholdPaillier.deal(bits: bits, threshold: threshold, parties: parties) { line in
                note(String(format: "[%5.1f s] ", Date().timeIntervalSince(started)) + line)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(scheme.parameters).write(to: directory.appendingPathComponent("threshold-public.json"))
            for share in shares {
                let path = directory.appendingPathComponent("share-\(share.index).json").path
                guard FileManager.default.createFile(atPath: path, contents: try encoder.encode(share), attributes: [.posixPermissions: 0o600]) else {
                    throw ValidationError("cannot write \(path)")
                }
            }
            say(
                "dealt a \(threshold)-of-\(parties) key (n = \(bits) bits) into \(directory.path) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s"
            )
        }
    }
}
