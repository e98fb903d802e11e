import ArgumentParser
import Foundation
import GatewayChain
import GatewayClient
import GatewayCrypto
import GatewayFiles
import GatewayHTTP
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
            Without --once it keeps following until SIGINT/SIGTERM. With --dashboard HOST:PORT it also serves the \
            regulator's dashboard from its own verified copy (accesses over time by department and decision, denials \
            and their reasons, purposes, live grants, consents, the validator-set and policy-bundle history, and the \
            newest events, each with an inclusion proof the page checks in the browser); it has no login, so bind it to \
            a loopback address or put it behind the regulator's own access control. With --once and --dashboard it \
            serves until SIGINT/SIGTERM after catching up.
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

    @Option(help: "Serve the regulator's dashboard at HOST:PORT (for example 127.0.0.1:8090; port 0 picks a free one).")
    var dashboard: String?

    /// The dashboard's host and port, parsed with bounds.
    var dashboardAddress: (host: String, port: Int)? {
        get throws {
            guard let dashboard else { return nil }
            guard let colon = dashboard.lastIndex(of: ":"), let port = Int(dashboard[dashboard.index(after: colon)...]), (0...65_535).contains(port),
                colon > dashboard.startIndex
            else { throw ValidationError("--dashboard takes HOST:PORT, for example 127.0.0.1:8090 (port 0…65535), not \(dashboard)") }
            return (String(dashboard[..<colon]), port)
        }
    }

    func validate() throws {
        guard !peer.isEmpty else { throw ValidationError("give at least one --peer http://host:port") }
        guard (1...3_600_000).contains(intervalMs) else { throw ValidationError("--interval-ms must be 1…3600000 (at most an hour)") }
        _ = try dashboardAddress
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
            let follow: @Sendable () async throws -> Void = {
                while true {
                    let added = try await observer.catchUp(from: peers) { height, transactions in
                        if height % 100 == 0 || transactions > 0 { say("verified block \(height) (\(transactions) transactions)") }
                    }
                    if added > 0 { note("caught up at height \(await observer.height)") }
                    if once { break }
                    try await Task.sleep(for: .milliseconds(interval))
                }
            }
            guard let address = try dashboardAddress else { return try await follow() }
            let application = ObserverDashboard.makeApplication(
                observer: observer, host: address.host, port: address.port, logger: logger,
                onServerRunning: { port in say("dashboard at http://\(address.host):\(port)/") })
            try await withThrowingTaskGroup(of: Void.self) { group in
                // The server stops on SIGINT/SIGTERM (its service group); following stops with it.
                group.addTask { try await application.runService() }
                group.addTask {
                    try await follow()
                    // Caught up once: the dashboard keeps serving what was verified until a signal stops the server.
                    while once { try await Task.sleep(for: .seconds(3_600)) }
                }
                try await group.next()
                group.cancelAll()
            }
        }
    }
}
