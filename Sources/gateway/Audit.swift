import ArgumentParser
import Foundation
import GatewayChain
import GatewayNode
import Logging

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "The regulator's checks of a node's history.",
        subcommands: [Verify.self]
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
                (or the anchor waiting in the outbox), and no row kept that the chain erased. Progress goes to standard \
                error; the report, one line per problem with its table or area, key and height, to standard output. \
                Exit status: 0 nothing found; 2 problems found (listed); 1 the database or the genesis cannot be read.
                """
        )

        @OptionGroup var database: NodeDatabaseOptions

        func run() async throws {
            let loaded = try database.loadGenesis()
            var logger = Logger(label: "audit")
            logger.logLevel = .critical
            let url = database.url
            let report: ChainAudit.Report
            do {
                report = try await ChainAudit.verify(databaseURL: url, genesis: loaded, logger: logger, progress: { note("  \($0)") })
            } catch {
                throw CommandFailure("cannot audit the database at \(url): \(error); check --database-url")
            }
            say(
                "blocks: \(report.verifiedHeight) of \(report.storedHeight) verified from the genesis; \(report.accessEvents) access events; \(report.recordsChecked) records checked (\(report.pendingAnchors) awaiting their anchor), \(report.erasedRecognised) erasures recognised"
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
}
