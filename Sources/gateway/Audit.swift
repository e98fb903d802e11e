import ArgumentParser
import Foundation
import GatewayChain
import GatewayClient
import GatewayCrypto
import GatewayNode
import GatewayPolicy
import GatewayWire
import Logging

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The regulator's checks of a node's history.",
        subcommands: [Verify.self, Consistency.self, Export.self, VerifyBundle.self]
    )

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a node's whole history from the genesis: blocks, derived tables, off-chain records.",
            discussion: """
                Reads the node's database (the node may run; nothing is written but the schema migrations a node would \
                run) and trusts nothing but the genesis: every stored block from the genesis (hash links, Merkle roots, \
                transaction signatures, certificates against the validator set governance put in force), every table \
                derived from the blocks (access_events, anchored_records, erased_records, access_records, \
                released_events) against what the blocks imply, and every off-chain record against the chain: its anchor \
                (or the anchor waiting in the outbox), no row kept that the chain erased, and — with the node's data \
                directory, whose record key decrypts them — each record's content, dimensions and aggregate ciphertexts \
                against its anchored hash. It prints the access log's size and root, to compare with the heads nodes sign \
                (gateway audit consistency). Progress goes to standard \
                error; the report, one line per problem with its table or area, key and height, to standard output. \
                Exit status: 0 nothing found; 2 problems found (listed); 1 the database or the genesis cannot be read.
                """
        )

        @OptionGroup var database: NodeDatabaseOptions

        func run() async throws {
            let loaded = try database.loadGenesis()
            let vault: RecordVault?
            do {
                vault = try NodeSecrets.existingVault(in: database.dataDirectory, suite: try loaded.suite.makeSuite())
            } catch {
                throw CommandFailure("\(error); give --data-dir of the node whose database this is")
            }
            var logger = Logger(label: "audit")
            logger.logLevel = .critical
            let url = database.url
            let report: ChainAudit.Report
            do {
                report = try await ChainAudit.verify(
                    databaseURL: url, genesis: loaded, vault: vault, logger: logger, progress: { note("  \($0)") })
            } catch {
                throw CommandFailure("cannot audit the database at \(url): \(error); check --database-url")
            }
            say(
                "blocks: \(report.verifiedHeight) of \(report.storedHeight) verified from the genesis; \(report.accessEvents) access events; \(report.recordsChecked) records checked (\(report.pendingAnchors) awaiting their anchor), \(report.erasedRecognised) erasures recognised"
            )
            say(
                vault == nil
                    ? "record contents: not checked (no record-key.hex and salt.hex in \(database.dataDirectory.path); give --data-dir of the node)"
                    : "record contents: \(report.contentsChecked) decrypted and checked against their anchors")
            say(
                "access log: \(report.logSize) events, root \(Hex.encode(report.logRoot)) (compare with the heads nodes sign: gateway audit consistency)"
            )
            for table in report.unfilled {
                say("note: \(table) is not filled from the blocks yet (the node fills it at its next start); not proven")
            }
            for problem in report.problems { say("PROBLEM \(problem)") }
            for (table, count) in report.differingHeights.sorted(by: { $0.key < $1.key }) {
                say("PROBLEM \(table): \(count) more height(s) differ from the blocks (not located one by one)")
            }
            if report.problems.isEmpty && report.differingHeights.isEmpty {
                say("OK: the history verifies from the genesis")
            } else {
                say("\(report.problems.count) problem(s) found")
                throw ExitCode.negative
            }
        }
    }

    struct Consistency: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare the access log's signed heads of several nodes, and report a split view.",
            discussion: """
                The access log is one append-only RFC 9162 tree over the chain's access events, in commit order (leaf: \
                the event's bytes as its transaction carries them). Each node signs its head: chain, node, size, stored height, root, time. \
                This command fetches the head of every --node (GET /v1/audit/log/head, signed as --department), adds \
                heads kept from earlier checks (--head), checks each signature against the node's member key (from the \
                genesis, or --member-key for nodes admitted later), then compares every pair: one size must mean one \
                root, and the node with the larger log must prove that it extends the smaller (GET \
                /v1/audit/log/consistency). A pair that fails is a split view: both signed heads are printed as \
                evidence, and a node at odds with most of the others is named. --save-heads keeps the heads fetched, to \
                compare later views with this one. Exit status: 0 every pair consistent; 2 a split view or an unusable \
                head (listed); 1 the command could not run.
                """
        )

        @Option(help: "The chain's genesis file (members' keys).")
        var genesis: String

        @Option(help: "Base URL of a node's HTTP API; repeat for several.")
        var node: [String] = []

        @Option(help: "A head kept from an earlier check (JSON, as --save-heads writes it); repeat for several.")
        var head: [String] = []

        @Option(help: "A member admitted after the genesis: NODE-ID=PUBLIC-KEY-PEM-FILE; repeat for several.")
        var memberKey: [String] = []

        @Option(help: "The department the requests are signed as.")
        var department: String = "regulator"

        @Option(help: "PEM private key of that department (required with --node).")
        var key: String?

        @OptionGroup var tls: ClientTLSOptions

        @Option(help: "Write each fetched head to this directory as <node-id>-<size>.json.")
        var saveHeads: String?

        @Flag(help: "Print the report as JSON.")
        var json = false

        func validate() throws {
            guard node.count + head.count >= 2 else {
                throw ValidationError("give at least two heads to compare: --node URL (repeat) and/or --head FILE")
            }
            if !node.isEmpty, key == nil { throw ValidationError("--node needs --key, the PEM private key of --department") }
        }

        func run() async throws {
            let genesis = try Genesis.load(from: URL(fileURLWithPath: self.genesis))
            let suite = try genesis.suite.makeSuite()
            var keys: [String: any VerifyingKey] = [:]
            for member in genesis.members {
                keys[member.nodeID] = try? suite.verifyingKey(pem: member.publicKey)
            }
            for entry in memberKey {
                guard let equals = entry.firstIndex(of: "=") else { throw ValidationError("--member-key takes NODE-ID=PEM-FILE, not \(entry)") }
                let path = String(entry[entry.index(after: equals)...])
                guard let pem = try? String(contentsOfFile: path, encoding: .utf8), let key = try? suite.verifyingKey(pem: pem) else {
                    throw CommandFailure("cannot read a \(genesis.suite.rawValue) public key from \(path)")
                }
                keys[String(entry[..<equals])] = key
            }
            var collected: [LogConsistency.Collected] = []
            for path in head {
                guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)),
                    let body = try? JSONDecoder().decode(API.AccessLogHeadBody.self, from: data), let decoded = body.head
                else { throw CommandFailure("\(path) is not a saved head (JSON with chainId, nodeId, size, height, root, timestampMs, signature)") }
                collected.append(.init(source: path, head: decoded, proof: nil))
            }
            if !node.isEmpty, let key {
                let signingKey: any SigningKey
                do {
                    signingKey = try suite.signingKey(pem: String(decoding: try Data(contentsOf: URL(fileURLWithPath: key)), as: UTF8.self))
                } catch {
                    throw CommandFailure("cannot read a \(genesis.suite.rawValue) private key from \(key): \(error)")
                }
                let pinned = genesis.members.compactMap(\.tlsCertificate)
                for (index, base) in node.enumerated() {
                    let client =
                        try tls.clientTLS(for: base, trusting: pinned).map {
                            try GatewayClient(baseURL: base, department: department, key: signingKey, suite: suite, tls: $0)
                        } ?? GatewayClient(baseURL: base, department: department, key: signingKey, suite: suite)
                    note("[\(index + 1)/\(node.count)] asking \(base) for its head")
                    let response: ClientResponse
                    do {
                        response = try await client.send("GET", "/v1/audit/log/head")
                    } catch {
                        throw CommandFailure("cannot reach \(base): \(error); check the URL and that the node runs")
                    }
                    guard response.status == 200, let body = try? response.decode(API.AccessLogHeadBody.self), let decoded = body.head else {
                        throw CommandFailure(
                            "\(base) gave no head: HTTP \(response.status) \(response.problem?.detail ?? String(decoding: response.body.prefix(300), as: UTF8.self))"
                        )
                    }
                    if let directory = saveHeads {
                        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                        let encoder = JSONEncoder()
                        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                        try encoder.encode(body).write(
                            to: URL(fileURLWithPath: directory).appendingPathComponent("\(decoded.nodeID)-\(decoded.size).json"))
                    }
                    collected.append(
                        .init(
                            source: base, head: decoded,
                            proof: { from, to in
                                let answer = try await client.send("GET", "/v1/audit/log/consistency?from=\(from)&to=\(to)")
                                guard answer.status == 200 else {
                                    throw NodeError("HTTP \(answer.status): \(answer.problem?.detail ?? "no detail")")
                                }
                                let proof = try answer.decode(API.AccessLogConsistency.self)
                                guard proof.from == from, proof.to == to else { throw NodeError("the proof answers another pair of sizes") }
                                return try proof.proof.map {
                                    guard let hash = Hex.decode($0) else { throw NodeError("a proof hash is not hex") }
                                    return hash
                                }
                            }))
                }
            }
            let report = await LogConsistency.check(collected, chainID: genesis.chainID, keys: { keys[$0] }, suite: suite)
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                say(String(decoding: try encoder.encode(ConsistencyReport(report)), as: UTF8.self))
            } else {
                for entry in report.verified {
                    let head = entry.head
                    say("head \(head.nodeID) (\(entry.source)): \(head.size) events at height \(head.height), root \(Hex.encode(head.root))")
                }
                for refused in report.refused { say("PROBLEM \(refused.source): \(refused.reason)") }
                for conflict in report.conflicts {
                    say("SPLIT VIEW \(conflict.first.head.nodeID) and \(conflict.second.head.nodeID): \(conflict.reason)")
                    for side in [conflict.first, conflict.second] {
                        say("  evidence: " + String(decoding: try JSONEncoder.sorted.encode(API.AccessLogHeadBody(side.head)), as: UTF8.self))
                    }
                }
                if !report.splitViewNodes.isEmpty { say("nodes showing a view of their own: \(report.splitViewNodes.joined(separator: ", "))") }
                say(
                    report.consistent
                        ? "OK: \(report.consistentPairs) pair(s) of heads consistent"
                        : "\(report.conflicts.count) split view(s), \(report.refused.count) unusable head(s)")
            }
            if !report.consistent { throw ExitCode.negative }
        }
    }
}

extension AuditCommand {
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write an evidence bundle: access events with the proofs that they are on the chain.",
            discussion: """
                Reads a node's database (nothing is written) and writes one JSON file (format \(EvidenceBundle.formatName), \
                described in docs/evidence-bundle.md): the genesis, the selected access events each with the inclusion \
                proof of its transaction (Merkle path, header, certificate, and the evidence that the block is \
                committed), and every governance transaction up to the highest event, proven the same way, from which \
                a verifier derives the validator set that had to certify each block. Select by --event (repeat), or by \
                --department and/or --from/--to (RFC 3339; from inclusive, to exclusive); at most \
                \(EvidenceBundle.eventsMax) events per bundle. Anyone holding the consortium's genesis checks the bundle \
                without a node: gateway audit verify-bundle, or the independent tools/verify_bundle.py. A bundle proves \
                that each event it holds is on the chain; that a selection is complete is shown by the access log's \
                signed heads (gateway audit consistency), not by the bundle. Exit status: 0 written; 1 it could not be.
                """
        )

        @OptionGroup var database: NodeDatabaseOptions

        @Option(help: "An access event to include (its id); repeat for several.")
        var event: [String] = []

        @Option(help: "Every access event requested by this department.")
        var department: String?

        @Option(help: "Events at or after this instant (RFC 3339).")
        var from: String?

        @Option(help: "Events before this instant (RFC 3339).")
        var to: String?

        @Option(name: [.short, .long], help: "The bundle file to write.")
        var output: String

        func instant(_ text: String?, _ option: String) throws -> Int64? {
            guard let text else { return nil }
            guard case .success(let ms) = RFC3339.parse(text) else {
                throw ValidationError("--\(option) must be an RFC 3339 date (2027-06-30) or date-time (2027-06-30T12:00:00Z), not \(text)")
            }
            return ms
        }

        func validate() throws {
            guard !event.isEmpty || department != nil || from != nil || to != nil else {
                throw ValidationError("select the events: --event ID (repeat), or --department and/or --from/--to")
            }
            guard event.isEmpty || (department == nil && from == nil && to == nil) else {
                throw ValidationError("--event selects by id; it does not combine with --department, --from or --to")
            }
            guard event.count <= EvidenceBundle.eventsMax else { throw ValidationError("at most \(EvidenceBundle.eventsMax) --event per bundle") }
            _ = try instant(from, "from")
            _ = try instant(to, "to")
        }

        func run() async throws {
            let genesis = try database.loadGenesis()
            let selection = EvidenceBundle.Selection(
                eventIds: event.isEmpty ? nil : event, department: department, fromMs: try instant(from, "from"), toMs: try instant(to, "to"))
            var logger = Logger(label: "export")
            logger.logLevel = .critical
            let bundle: EvidenceBundle
            do {
                bundle = try await EvidenceExport.export(
                    databaseURL: database.url, genesis: genesis, selection: selection,
                    exportedAtMs: Int64(Date().timeIntervalSince1970 * 1_000), logger: logger, progress: { note("  \($0)") })
            } catch let failure as EvidenceExport.Failure {
                throw CommandFailure("\(failure)")
            } catch {
                throw CommandFailure("cannot export from the database at \(database.url): \(error); check --database-url")
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            do {
                try encoder.encode(bundle).write(to: URL(fileURLWithPath: output), options: .atomic)
            } catch {
                throw CommandFailure("cannot write \(output): \(error)")
            }
            say("wrote \(output): \(bundle.events.count) events, \(bundle.governance.count) governance steps, chain \(bundle.chainId)")
        }
    }

    struct VerifyBundle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-bundle",
            abstract: "Check an evidence bundle against the consortium's genesis, without a node.",
            discussion: """
                Checks every event of a bundle written by gateway audit export: its transaction's signature by the node \
                that logged it, its Merkle path to the block header, the header's certificate by a quorum of the \
                validators in force at its height (derived from the genesis and the bundle's proven governance steps, \
                each checked the same way), the evidence that the block is committed (2-chain: a certified child whose \
                round follows its parent's), that the transaction carries the event, and that the event is in the \
                bundle's selection. Give --genesis, the genesis the consortium published: the bundle's own must equal \
                it (without --genesis the bundle's own is used, and its hash printed to compare). Prints one line per \
                event (id, height, requester, action, category, purpose, decision, logging node), as \
                tools/verify_bundle.py does. Exit status: 0 every event verifies; 2 the bundle does not verify (the \
                first problem is named); 1 the files cannot be read.
                """
        )

        @Argument(help: "The bundle file.")
        var bundle: String

        @Option(help: "The genesis the consortium published (recommended).")
        var genesis: String?

        func run() async throws {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: bundle))
            } catch {
                throw CommandFailure("cannot read \(bundle): \(error)")
            }
            let trusted: Genesis? = try genesis.map { path in
                do { return try Genesis.load(from: URL(fileURLWithPath: path)) } catch {
                    throw CommandFailure("cannot read the genesis \(path): \(error)")
                }
            }
            let decoded: EvidenceBundle
            do {
                decoded = try JSONDecoder().decode(EvidenceBundle.self, from: data)
            } catch {
                say("INVALID: \(bundle) is not an evidence bundle: \(error)")
                throw ExitCode.negative
            }
            do {
                let verified = try decoded.verify(trusted: trusted)
                for event in verified { say("event \(event.line)") }
                if trusted == nil {
                    let suite = try decoded.genesis.suite.makeSuite()
                    say("note: checked against the bundle's own genesis, hash \(Hex.encode(decoded.genesis.hash(suite: suite))); give --genesis")
                }
                say("OK: \(verified.count) events verified on chain \(decoded.chainId)")
            } catch let error as ChainError {
                say("INVALID: \(error.message)")
                throw ExitCode.negative
            }
        }
    }
}

/// The consistency report as JSON: heads, refusals, conflicts with both signed heads, the nodes named.
struct ConsistencyReport: Encodable {
    struct Conflict: Encodable {
        let reason: String
        let heads: [API.AccessLogHeadBody]
    }
    struct Refused: Encodable {
        let source: String
        let reason: String
    }
    let consistent: Bool
    let heads: [API.AccessLogHeadBody]
    let refused: [Refused]
    let consistentPairs: Int
    let conflicts: [Conflict]
    let splitViewNodes: [String]

    init(_ report: LogConsistency.Report) {
        consistent = report.consistent
        heads = report.verified.map { API.AccessLogHeadBody($0.head) }
        refused = report.refused.map { Refused(source: $0.source, reason: $0.reason) }
        consistentPairs = report.consistentPairs
        conflicts = report.conflicts.map {
            Conflict(reason: $0.reason, heads: [API.AccessLogHeadBody($0.first.head), API.AccessLogHeadBody($0.second.head)])
        }
        splitViewNodes = report.splitViewNodes
    }
}

extension JSONEncoder {
    /// Compact JSON with sorted keys (evidence lines).
    static var sorted: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}
