import ArgumentParser
import Foundation
import GatewayChain
import GatewayCrypto
import GatewayFiles

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
            abstract: "The key ceremony: deal the consortium's t-of-n aggregation key to a genesis' validators (shows progress).",
            discussion: """
                Reads --genesis (every validator with its node key), generates a threshold Paillier key with safe primes, and \
                writes into --out: genesis.json, the same genesis plus the aggregation key (the public key, the share \
                verification keys and which validator holds which share: give it to every node), and one \
                <node-id>.aggregation-share.json per validator, its share sealed to that node's key (SM2 encryption for the \
                sm suite, X25519 or P-256 agreement for intl): only that node can open it, so the files may travel by any \
                channel. Each node puts its file into its data directory as aggregation-share.json. Any --threshold nodes \
                decrypt an aggregate together; fewer learn nothing. p, q and λ exist only in this process's memory, which is \
                cleared as it is freed, and are never written. Refuses to overwrite existing files in --out. Safe-prime \
                search for a 2048-bit modulus takes seconds to a minute.
                """
        )

        @Option(help: "The consortium's genesis without an aggregation key (validators and their node keys).")
        var genesis: String

        @Option(help: "Shares needed to decrypt (1 ≤ threshold ≤ validators). Default: a quorum, 2f + 1 of 3f + 1.")
        var threshold: Int?

        @Option(help: "Bits of the Paillier modulus (2048 or 3072; at least 1024).")
        var bits: Int = 2048

        @Option(help: "Directory to write the keyed genesis and the sealed shares into (created if missing; must not hold them yet).")
        var out: String

        func validate() throws {
            guard (1_024...8_192).contains(bits), bits % 2 == 0 else { throw ValidationError("--bits must be an even number from 1024 to 8192") }
            if let threshold, !(1...64).contains(threshold) { throw ValidationError("--threshold must be 1…64") }
        }

        func run() throws {
            let founding = try Genesis.load(from: URL(fileURLWithPath: genesis))
            guard founding.aggregation == nil else {
                throw ValidationError("\(genesis) already has an aggregation key; a chain's key is dealt once, before its first block")
            }
            let threshold = self.threshold ?? founding.quorum
            guard threshold <= founding.validators.count else {
                throw ValidationError("--threshold \(threshold) exceeds the genesis' \(founding.validators.count) validators")
            }
            let directory = URL(fileURLWithPath: out)
            let targets =
                [directory.appendingPathComponent("genesis.json")]
                + founding.validators.map { directory.appendingPathComponent("\($0.nodeID).aggregation-share.json") }
            if let existing = targets.first(where: { FileManager.default.fileExists(atPath: $0.path) }) {
                throw ValidationError(
                    "\(existing.path) exists: deal into an empty directory, so that no share of another key is mistaken for one of this")
            }
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let started = Date()
            let (keyed, shares) = try KeyCeremony.deal(genesis: founding, threshold: threshold, bits: bits, suite: try founding.suite.makeSuite()) {
                line in note(String(format: "[%5.1f s] ", Date().timeIntervalSince(started)) + line)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            for share in shares {
                let path = directory.appendingPathComponent("\(share.nodeID).aggregation-share.json").path
                guard FileManager.default.createFile(atPath: path, contents: try encoder.encode(share), attributes: [.posixPermissions: 0o600]) else {
                    throw ValidationError("cannot write \(path): check that --out is writable")
                }
            }
            try keyed.write(to: targets[0])
            say(
                """
                dealt a \(threshold)-of-\(shares.count) aggregation key (\(bits)-bit modulus) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s:
                  \(targets[0].path): the keyed genesis, for every node
                \(shares.map { "  \(directory.path)/\($0.nodeID).aggregation-share.json: share \($0.index), opens only with \($0.nodeID)'s node key" }.joined(separator: "\n"))
                """)
        }
    }
}
