import ArgumentParser
import Foundation
import GatewayChain
import GatewayCrypto
import GatewayFiles
import GatewayTLS

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage key pairs, TLS identities and threshold keys.", subcommands: [Generate.self, TLS.self, Deal.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a signing key pair: <out>-key.pem (PKCS#8, mode 0600) and <out>-pub.pem (SPKI)."
        )

        @Option(help: "Crypto suite of the key: sm (SM2) or intl (Ed25519).")
        var suite: SuiteName = .sm

        @Option(help: "Path prefix of the two files written.")
        var out: String

        @Flag(help: "Replace existing key files (a registered key that is replaced makes every request fail bad_signature).")
        var force = false

        func run() throws {
            let privatePath = out + "-key.pem"
            let publicPath = out + "-pub.pem"
            for path in [privatePath, publicPath] where FileManager.default.fileExists(atPath: path) && !force {
                throw CommandFailure(
                    "\(path) exists; refusing to replace a key that may be registered (pass --force to replace it, then register the new public key)")
            }
            let key = try suite.makeSuite().generateSigningKey()
            do { try SecretFile.write(Data(key.pemRepresentation.utf8), to: URL(fileURLWithPath: privatePath)) } catch {
                throw CommandFailure("cannot write \(privatePath): check the directory exists and is writable")
            }
            try Data(key.publicKey.pemRepresentation.utf8).write(to: URL(fileURLWithPath: publicPath), options: .atomic)
            say("wrote \(privatePath) (mode 0600) and \(publicPath)")
        }
    }

    struct TLS: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tls",
            abstract: "Create a TLS identity: <out>-tls-key.pem (P-256, mode 0600) and <out>-tls-cert.pem (self-signed, pinned where registered).",
            discussion: """
                For a department: put the certificate into its departments.json entry as "tlsCertificate", and connect with \
                --client-certificate/--client-key. For a node: `gateway serve` creates one in its data directory on first \
                start; a node that joins a consortium sends its certificate with its admission (--member-certificate).
                """)

        @Option(help: "The party the certificate names (a department id or a node id).")
        var name: String

        @Option(help: "Path prefix of the two files written.")
        var out: String

        @Option(help: "Host names and IP addresses for the certificate (repeat). Default: localhost and 127.0.0.1.")
        var host: [String] = []

        @Option(help: "Days of validity (1…3650).")
        var days: Int = 397

        @Flag(help: "Replace existing files (a registered certificate that is replaced is refused until the new one is registered).")
        var force = false

        func validate() throws {
            guard (1...3_650).contains(days) else { throw ValidationError("--days must be 1…3650") }
            guard !name.isEmpty, name.utf8.count <= 64 else { throw ValidationError("--name must be 1 to 64 bytes") }
        }

        func run() throws {
            let identity = try TLSIdentity.generate(name: name, hosts: host.isEmpty ? ["localhost", "127.0.0.1"] : host, days: days)
            let certificate = URL(fileURLWithPath: out + "-tls-cert.pem")
            do { try identity.write(certificate: certificate, key: URL(fileURLWithPath: out + "-tls-key.pem"), force: force) } catch {
                throw CommandFailure("\(error)")
            }
            say("wrote \(out)-tls-key.pem (mode 0600) and \(certificate.path); pin \(identity.pin)")
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
                throw CommandFailure("\(genesis) already has an aggregation key; a chain's key is dealt once, before its first block")
            }
            let threshold = self.threshold ?? founding.quorum
            guard threshold <= founding.validators.count else {
                throw CommandFailure("--threshold \(threshold) exceeds the genesis' \(founding.validators.count) validators")
            }
            let directory = URL(fileURLWithPath: out)
            let targets =
                [directory.appendingPathComponent("genesis.json")]
                + founding.validators.map { directory.appendingPathComponent("\($0.nodeID).aggregation-share.json") }
            // Any share or genesis already there is refused, not only the names this deal writes: a share of another
            // key (an earlier deal with more validators) must never sit beside the new ones.
            func leftovers() -> [String] {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
                return names.filter { $0 == "genesis.json" || $0.hasSuffix(".aggregation-share.json") }.sorted()
            }
            if !leftovers().isEmpty {
                throw CommandFailure(
                    "\(directory.path) already holds \(leftovers().joined(separator: ", ")): deal into an empty directory, so that no share of another key is mistaken for one of this"
                )
            }
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let started = Date()
            let (keyed, shares) = try KeyCeremony.deal(genesis: founding, threshold: threshold, bits: bits, suite: try founding.suite.makeSuite()) {
                line in note(String(format: "[%5.1f s] ", Date().timeIntervalSince(started)) + line)
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            // Checked again after the minute the ceremony can take, and every file is written without replacing one.
            if !leftovers().isEmpty {
                throw CommandFailure(
                    "files appeared in \(directory.path) during the deal (\(leftovers().joined(separator: ", "))); nothing was written")
            }
            do {
                for share in shares {
                    let url = directory.appendingPathComponent("\(share.nodeID).aggregation-share.json")
                    try SecretFile.write(try encoder.encode(share), to: url, replacing: false)
                }
                try SecretFile.write(try keyed.fileBytes(), to: targets[0], replacing: false)
                // The genesis is public: every node and observer reads it.
                try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: targets[0].path)
            } catch {
                throw CommandFailure("\(error)")
            }
            say(
                """
                dealt a \(threshold)-of-\(shares.count) aggregation key (\(bits)-bit modulus) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s:
                  \(targets[0].path): the keyed genesis, for every node
                \(shares.map { "  \(directory.path)/\($0.nodeID).aggregation-share.json: share \($0.index), opens only with \($0.nodeID)'s node key" }.joined(separator: "\n"))
                """)
        }
    }
}
