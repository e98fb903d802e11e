import ArgumentParser
import Foundation
import GatewayCrypto
import GatewayHTTP
import GatewayNode
import GatewayStore
import GatewayTLS
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a node: HTTP API, a validator of the consortium chain (solo if the genesis names one) and its PostgreSQL store.",
        discussion: """
            Every option can also be set through the environment variable named in its help; a flag wins over the environment. \
            On first start the node creates its key material in the data directory (node key, record key, salt, \
            Paillier aggregation key, genesis.json). SIGTERM or SIGINT shuts it down gracefully: it stops accepting \
            requests, commits every access-log event already acknowledged, then closes the database pool.

            The node listens at once and prints `LISTENING host:port`; while it verifies its stored blocks and proves its \
            derived tables, /v1/health says "starting" and other requests get 503 node_starting (Retry-After: 1). When \
            it serves data it prints `READY host:port height N`. Scripts that start it on --port 0 read these lines.

            With a genesis.json naming several validators (see `gateway cluster`), the node takes part in BFT consensus \
            with them: it listens for peers on its own genesis address and connects to theirs. A node that is not in the \
            genesis follows the chain (verifying every block) and starts voting in the block after governance admits it \
            as a validator; start it with --peer-listen and the genesis, then have the validators' operators propose and \
            approve it (`gateway governance`).
            """
    )

    @Option(
        help: """
            The node's configuration file (JSON, written by `gateway init`): any option below by its name in camelCase \
            (databaseURL, dataDir, tlsCertificate…). A flag wins over the environment, which wins over the file; relative \
            paths in the file are relative to the file.
            """)
    var config: String?

    @Option(help: "Address to listen on. Env: DATAGATEWAY_HOST. Default: 127.0.0.1.")
    var host: String?

    @Option(help: "TCP port to listen on (0 picks a free one). Env: DATAGATEWAY_PORT. Default: 8080.")
    var port: Int?

    @Option(help: "PostgreSQL URL, postgres://user:password@host:port/database. Env: DATAGATEWAY_DATABASE_URL. Default: \(defaultDatabaseURL).")
    var databaseURL: String?

    @Option(help: "Directory for the node's keys and genesis.json (created if missing). Env: DATAGATEWAY_DATA_DIR. Default: ./data.")
    var dataDir: String?

    @Option(help: "PEM private key of the node (PKCS#8). Env: DATAGATEWAY_NODE_KEY. Default: <data-dir>/node-key.pem, generated if absent.")
    var nodeKey: String?

    @Option(help: "Crypto suite: sm (SM3, SM2, SM4-CTR + HMAC-SM3) or intl (SHA-256, Ed25519, AES-256-GCM). Env: DATAGATEWAY_SUITE. Default: sm.")
    var suite: SuiteName?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. Env: DATAGATEWAY_LOG_LEVEL. Default: info.")
    var logLevel: Logger.Level?

    @Option(help: "Log format: text (one readable line per event) or json (one JSON object per line). Env: DATAGATEWAY_LOG_FORMAT. Default: text.")
    var logFormat: String?

    @Option(help: "Directory of Cedar policy files (*.cedar). Env: DATAGATEWAY_POLICIES. Default: ./Policies.")
    var policies: String?

    @Option(help: "Directory of record-category JSON Schemas (*.schema.json). Env: DATAGATEWAY_SCHEMAS. Default: ./Schemas.")
    var schemas: String?

    @Option(help: "JSON file listing the departments and their public keys. Env: DATAGATEWAY_DEPARTMENTS. Default: <data-dir>/departments.json.")
    var departments: String?

    @Option(help: "This node's id in the genesis. Env: DATAGATEWAY_NODE_ID. Default: node-1.")
    var nodeID: String?

    @Option(help: "The department that runs this node. Env: DATAGATEWAY_DEPARTMENT. Default: civil_registry.")
    var department: String?

    @Option(help: "Largest accepted request body in bytes. Env: DATAGATEWAY_MAX_BODY_BYTES. Default: 8388608.")
    var maxBodyBytes: Int?

    @Option(
        help: """
            host:port to listen on for consensus peers. Env: DATAGATEWAY_PEER_LISTEN. Default: this node's address in the genesis; \
            required for a node that joins after the genesis (the address its admission proposal names).
            """)
    var peerListen: String?

    @Option(
        help: """
            Another member node's HTTP API, node-id=URL (repeat for each), for statistics across departments: this node asks \
            the holders' nodes for their parts there, signed with its node key. Example: --peer-api node-2=http://10.0.0.2:8080.
            """)
    var peerAPI: [String] = []

    @Option(
        help:
            "Seconds a statistic waits for t share holders to decrypt it before answering decryption_pending (1…600). Env: DATAGATEWAY_DECRYPTION_TIMEOUT. Default: 30."
    )
    var decryptionTimeout: Int?

    @Option(
        help: """
            The node's TLS certificate (PEM; P-256, self-signed, pinned by clients and in the node's member entry). Env: \
            DATAGATEWAY_TLS_CERTIFICATE. Default: <data-dir>/tls-cert.pem; with --tls-key, both are created on first start if absent.
            """)
    var tlsCertificate: String?

    @Option(help: "The TLS certificate's private key (PEM, mode 0600). Env: DATAGATEWAY_TLS_KEY. Default: <data-dir>/tls-key.pem.")
    var tlsKey: String?

    @Flag(
        help: """
            Serve plain HTTP instead of HTTPS, without client certificates: for local experiments only. Every request and \
            record then crosses the network readable by anyone on it.
            """)
    var insecureHTTP = false

    @Option(help: "Seconds a graceful shutdown may take before the node stops anyway (1…600). Env: DATAGATEWAY_SHUTDOWN_TIMEOUT. Default: 15.")
    var shutdownTimeout: Int?

    func validate() throws {
        for entry in peerAPI {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, parts[1].hasPrefix("http://") || parts[1].hasPrefix("https://") else {
                throw ValidationError("--peer-api takes node-id=http://host:port, got \(entry.prefix(100))")
            }
        }
    }

    func run() async throws {
        let source = try await NodeSettings.load(configFile: config)
        let shutdownBound = Bounded("shutdown-timeout", 1...600)
        guard let shutdownTimeout = shutdownBound.parse(source.number("shutdownTimeout", flag: shutdownTimeout, default: 15)).map(Int.init) else {
            throw CommandFailure(shutdownBound.requirement)
        }
        let deadline = ShutdownDeadline(seconds: shutdownTimeout)
        let dataDirectory = URL(fileURLWithPath: source.path("dataDir", flag: dataDir, default: "data"))
        guard let port = Bounded.port.parse(source.number("port", flag: port, default: 8080)).map(Int.init) else {
            throw CommandFailure(Bounded.port.requirement)
        }
        guard let suite = SuiteName(rawValue: source.text("suite", flag: suite?.rawValue, default: "sm")) else {
            throw CommandFailure("suite must be intl or sm")
        }
        guard let level = Logger.Level(rawValue: source.text("logLevel", flag: logLevel?.rawValue, default: "info")) else {
            throw CommandFailure("log level must be one of trace, debug, info, notice, warning, error, critical")
        }
        switch source.text("logFormat", flag: logFormat, default: "text") {
        case "text": break
        case "json":
            LoggingSystem.bootstrap { label in JSONLogHandler(label: label) }
            NoteFormat.json.withLockedValue { $0 = true }
        default: throw CommandFailure("log format must be text or json")
        }
        let bodyBound = Bounded("max-body-bytes", 1...(1 << 30))
        guard let bodyMax = bodyBound.parse(source.number("maxBodyBytes", flag: maxBodyBytes, default: 8_388_608)).map(Int.init) else {
            throw CommandFailure(bodyBound.requirement)
        }
        let timeoutBound = Bounded("decryption-timeout", 1...600)
        guard let decryptionTimeout = timeoutBound.parse(source.number("decryptionTimeout", flag: decryptionTimeout, default: 30)) else {
            throw CommandFailure(timeoutBound.requirement)
        }
        var settings = NodeConfiguration(
            host: source.text("host", flag: host, default: "127.0.0.1"),
            port: port,
            databaseURL: source.text("databaseURL", flag: databaseURL, default: defaultDatabaseURL),
            dataDirectory: dataDirectory,
            nodeKeyPath: source.path("nodeKey", flag: nodeKey).map { URL(fileURLWithPath: $0) },
            suite: suite,
            logLevel: level,
            policiesDirectory: URL(fileURLWithPath: source.path("policies", flag: policies, default: "Policies")),
            schemasDirectory: URL(fileURLWithPath: source.path("schemas", flag: schemas, default: "Schemas")),
            departmentsFile: URL(
                fileURLWithPath: source.path("departments", flag: departments, default: dataDirectory.appendingPathComponent("departments.json").path)
            ),
            nodeID: source.text("nodeID", flag: nodeID, default: "node-1"),
            department: source.text("department", flag: department, default: "civil_registry"),
            requestBodyBytesMax: bodyMax
        )
        settings.peerListen = source.text("peerListen", flag: peerListen)
        for entry in source.texts("peerAPI", flag: peerAPI) {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, parts[1].hasPrefix("http://") || parts[1].hasPrefix("https://") else {
                throw CommandFailure("peerAPI entries are node-id=https://host:port, not \(entry.prefix(100))")
            }
            settings.peerAPIs[parts[0]] = parts[1]
        }
        settings.decryptionTimeoutMs = decryptionTimeout * 1_000
        // Every input is checked before anything is generated, and a database the node cannot use is one clear line
        // now, not a pool retrying behind a running node.
        for (what, url, flag) in [
            ("policies", settings.policiesDirectory, "--policies"), ("schemas", settings.schemasDirectory, "--schemas"),
        ] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CommandFailure(
                    "no \(what) directory at \(url.path): run from the repository, or give \(flag) (the node's bundle hash depends on these files)")
            }
        }
        guard FileManager.default.isReadableFile(atPath: settings.departmentsFile.path) else {
            throw CommandFailure(
                "no departments file at \(settings.departmentsFile.path): give --departments with {\"departments\": [{\"id\", \"name\", \"publicKey\", \"tlsCertificate\"}]} (README, Running a node)"
            )
        }
        do { _ = try Node.loadDepartments(settings, suite: try suite.makeSuite()) } catch { throw CommandFailure("\(error)") }
        if let problem = await Database.probe(url: settings.databaseURL, logger: makeLogger("probe", level: .critical)) {
            throw CommandFailure(problem)
        }
        if settings.port != 0 {
            // The port, before any key is generated (the server binds it again at once; a race only delays the message).
            do {
                let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1).bind(host: settings.host, port: settings.port).get()
                try await channel.close()
            } catch let error as IOError where error.errnoCode == EADDRINUSE {
                throw CommandFailure(
                    "cannot listen on \(settings.host):\(settings.port): the address is in use; stop what listens there or give another --port")
            } catch {
                throw CommandFailure("cannot listen on \(settings.host):\(settings.port): \(error); check --host and --port")
            }
        }
        if source.flag("insecureHTTP", flag: insecureHTTP) {
            note("WARNING: --insecure-http: this node serves plain HTTP; requests, responses and citizens' records cross the network unencrypted")
        } else {
            let certificate = URL(
                fileURLWithPath: source.path(
                    "tlsCertificate", flag: tlsCertificate, default: dataDirectory.appendingPathComponent(TLSFiles.certificate).path))
            let key = URL(fileURLWithPath: source.path("tlsKey", flag: tlsKey, default: dataDirectory.appendingPathComponent(TLSFiles.key).path))
            let manager = FileManager.default
            if !manager.fileExists(atPath: certificate.path) && !manager.fileExists(atPath: key.path) {
                try manager.createDirectory(at: certificate.deletingLastPathComponent(), withIntermediateDirectories: true)
                try manager.createDirectory(at: key.deletingLastPathComponent(), withIntermediateDirectories: true)
                let identity = try TLSIdentity.generate(name: settings.nodeID, hosts: ["localhost", "127.0.0.1", settings.host])
                try identity.write(certificate: certificate, key: key)
                note("created this node's TLS identity: \(certificate.path) (pin \(identity.pin)); clients pin this certificate")
            }
            do { settings.tls = try TLSIdentity.load(certificate: certificate, key: key) } catch { throw CommandFailure("\(error)") }
        }
        if let listen = settings.peerListen, ChainService.parseAddress(listen) == nil {
            throw CommandFailure("--peer-listen must be host:port, not \(listen)")
        }
        let configuration = settings
        let logger = makeLogger("datagateway", level: level)
        let node: Node
        do {
            node = try Node.assemble(configuration, logger: logger, progress: note)
        } catch {
            throw CommandFailure("\(error)")
        }
        let app = try GatewayServer.makeApplication(node: node) { port in
            logger.info("listening", metadata: ["address": "\(configuration.host):\(port)", "node": "\(configuration.nodeID)"])
            // Lines for scripts that start the node on port 0: LISTENING as soon as the port is open (health answers),
            // READY once the chain is verified and data requests are served.
            say("LISTENING \(configuration.host):\(port)")
            Task {
                guard (try? await node.chain.waitUntilReady()) != nil else { return }
                say("READY \(configuration.host):\(port) height \(await node.chain.height)")
            }
        }
        var groupConfiguration = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // Services still running when the graceful shutdown has had most of its time are cancelled.
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(max(1, shutdownTimeout * 2 / 3))
        let group = ServiceGroup(configuration: groupConfiguration)
        deadline.startServing()
        do {
            try await group.run()
        } catch let error as IOError where error.errnoCode == EADDRINUSE {
            throw CommandFailure(
                "cannot listen on \(configuration.host):\(configuration.port): the address is in use; stop what listens there or give another --port")
        }
    }
}
