import Foundation
import GatewayCrypto
import GatewayTLS
import Logging

/// Everything a node needs to start, from flags or environment (see `gateway serve --help`).
package struct NodeConfiguration: Sendable {
    package var host: String
    package var port: Int
    package var databaseURL: String
    /// Holds the node key, record key, salt, aggregation key and genesis, created on first start.
    package var dataDirectory: URL
    /// PEM private key of the node; defaults to `<data>/node-key.pem`, generated if absent.
    package var nodeKeyPath: URL?
    package var suite: SuiteName
    package var logLevel: Logger.Level
    package var policiesDirectory: URL
    package var schemasDirectory: URL
    /// JSON list of departments and their package keys.
    package var departmentsFile: URL
    package var nodeID: String
    package var department: String
    /// Largest accepted request body, in bytes.
    package var requestBodyBytesMax: Int
    /// Bits of the Paillier aggregation modulus.
    package var paillierBits: Int
    /// Precomputed Paillier obfuscators kept ready by a background thread (0: none, compute on demand).
    package var paillierPoolSize: Int
    /// host:port to listen on for consensus peers; nil takes the node's address in the genesis. A node that joins
    /// after the genesis needs it (the address its admission proposal names).
    package var peerListen: String?
    /// Other member nodes' HTTP API base URLs by node id, for node-to-node statistics (`--peer-api node-2=http://…`).
    package var peerAPIs: [String: String] = [:]
    /// How long a statistic waits for t share holders to decrypt it before answering `decryption_pending`.
    package var decryptionTimeoutMs: Int64 = 30_000
    /// The node's TLS identity: with one, the API serves HTTPS (TLS 1.3) and department and node requests must come
    /// over a connection with the caller's registered client certificate; nil serves plain HTTP (`--insecure-http`).
    package var tls: TLSIdentity?

    package var consensusSettings: ConsensusSettings {
        var settings = ConsensusSettings()
        settings.listenAddress = peerListen.flatMap(ChainService.parseAddress)
        settings.tls = tls
        return settings
    }

    package init(
        host: String = "127.0.0.1", port: Int = 8080, databaseURL: String, dataDirectory: URL, nodeKeyPath: URL? = nil,
        suite: SuiteName = .sm, logLevel: Logger.Level = .info, policiesDirectory: URL, schemasDirectory: URL,
        departmentsFile: URL, nodeID: String = "node-1", department: String = "civil_registry",
        requestBodyBytesMax: Int = 8 * 1024 * 1024, paillierBits: Int = 2048, paillierPoolSize: Int = 2_048
    ) {
        self.host = host
        self.port = port
        self.databaseURL = databaseURL
        self.dataDirectory = dataDirectory
        self.nodeKeyPath = nodeKeyPath
        self.suite = suite
        self.logLevel = logLevel
        self.policiesDirectory = policiesDirectory
        self.schemasDirectory = schemasDirectory
        self.departmentsFile = departmentsFile
        self.nodeID = nodeID
        self.department = department
        self.requestBodyBytesMax = requestBodyBytesMax
        self.paillierBits = paillierBits
        self.paillierPoolSize = paillierPoolSize
    }
}
