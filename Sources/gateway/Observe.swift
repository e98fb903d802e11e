import ArgumentParser
import Foundation
import GatewayChain
import GatewayClient
import GatewayCrypto
import GatewayFiles
import GatewayNode
import GatewayStore
import GatewayWire
import Logging

struct Observe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Follow the chain as an observer (a regulator): fetch every block, verify it from the genesis, keep it.",
        discussion: """
            An observer does not vote. It asks validators (--peer, in order) for committed blocks over their HTTP API, \
            signing its requests as a regulator department, and verifies each block with nothing but the genesis file: \
            parent link, Merkle root, every transaction's signature and the commit certificate (≥ 2f + 1 validator \
            signatures, validator set as of that height). Verified blocks and the access log they carry go into its own \
            PostgreSQL database. A peer that serves an invalid block is reported and the next one is asked. \
            Without --once it keeps following until SIGINT/SIGTERM.
            """
    )

    @Option(help: "The chain's genesis file.")
    var genesis: String

    @Option(help: "Base URL of a validator's HTTP API; repeat for several (asked in order).")
    var peer: [String] = []

    @Option(help: "PostgreSQL URL of the observer's own database. Env: DATAGATEWAY_DATABASE_URL. Default: \(defaultDatabaseURL).")
    var databaseURL: String?

    @Option(help: "The regulator department the observer signs its requests as.")
    var department: String = "regulator"

    @Option(help: "PEM private key of that department.")
    var key: String

    @OptionGroup var tls: ClientTLSOptions

    @Option(help: "Milliseconds between polls once caught up.")
    var intervalMs: Int = 1_000

    @Flag(help: "Stop once caught up instead of following.")
    var once = false

    func validate() throws {
        guard !peer.isEmpty else { throw ValidationError("give at least one --peer http://host:port") }
        guard (1...3_600_000).contains(intervalMs) else { throw ValidationError("--interval-ms must be 1…3600000 (at most an hour)") }
    }

    func run() async throws {
        let genesis = try Genesis.load(from: URL(fileURLWithPath: self.genesis))
        let suite = try genesis.suite.makeSuite()
        let signingKey: any SigningKey
        do {
            signingKey = try suite.signingKey(pem: String(decoding: try Data(contentsOf: URL(fileURLWithPath: key)), as: UTF8.self))
        } catch {
            throw CommandFailure("cannot read a \(genesis.suite.rawValue) private key from \(key): \(error)")
        }
        let logger = makeLogger("observer", level: .warning)
        // Over HTTPS the validators are trusted by the certificates their member entries in the genesis pin.
        let pinned = genesis.members.compactMap(\.tlsCertificate)
        let peers: [(name: String, fetch: ChainObserver.Fetch)] = try peer.map { base in
            let client =
                try tls.clientTLS(for: base, trusting: pinned).map {
                    try GatewayClient(baseURL: base, department: department, key: signingKey, suite: suite, tls: $0)
                } ?? GatewayClient(baseURL: base, department: department, key: signingKey, suite: suite)
            return (
                base,
                { from in
                    let response = try await client.send("GET", "/v1/chain/blocks?from=\(from)&limit=64")
                    guard response.status == 200 else {
                        throw NodeError("HTTP \(response.status): \(response.problem?.detail ?? String(decoding: response.body, as: UTF8.self))")
                    }
                    let page = try response.decode(API.ChainBlocks.self)
                    return ChainObserver.Page(blocks: try page.blocks.map { try $0.decoded() }, commitment: page.commitment)
                }
            )
        }
        let url = resolve(databaseURL, env: "DATAGATEWAY_DATABASE_URL", default: defaultDatabaseURL)
        // A database the observer cannot use is one sentence now, not a pool retrying in silence.
        if let problem = await Database.probe(url: url, logger: logger) { throw CommandFailure(problem) }
        let once = self.once
        let interval = intervalMs
        try await Database.withDatabase(url: url, logger: logger) { database in
            let observer = try ChainObserver(database: database, genesis: genesis, logger: logger)
            try await observer.start()
            note("observing \(genesis.chainID) (\(genesis.validators.count) validators) from height \(await observer.height)")
            while true {
                let added = try await observer.catchUp(from: peers) { height, transactions in
                    if height % 100 == 0 || transactions > 0 { say("verified block \(height) (\(transactions) transactions)") }
                }
                if added > 0 { note("caught up at height \(await observer.height)") }
                if once { break }
                try await Task.sleep(for: .milliseconds(interval))
            }
        }
    }
}
