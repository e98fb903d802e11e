import Foundation
import GatewayFiles
import GatewayPolicy
import GatewayChain
import GatewayCrypto
import GatewayNode
import GatewayClient
import GatewayStore
import GatewayTLS
import Logging

/// A local consortium of validator nodes on 127.0.0.1: per node a data directory with its key and the shared
/// genesis, its own PostgreSQL database, an HTTP port and a peer port; plus the demo departments' keys. Joining
/// nodes are laid out the same way but are not in the genesis: they follow the chain until governance admits them
/// (`member` is what their admission proposal names). Written to a
/// directory (`cluster.json` lists every node and the exact `gateway serve` arguments that start it), so that the
/// same nodes can be started, killed and restarted by hand, by `gateway cluster` or by a test.
package struct ClusterLayout: Sendable, Codable {
    package struct NodeEntry: Sendable, Codable {
        package let nodeID: String
        package let department: String
        package let dataDirectory: String
        package let databaseURL: String
        package let httpPort: Int
        package let peerAddress: String
        /// Arguments of `gateway serve` for this node.
        package let serveArguments: [String]
        /// For a node that is not in the genesis: the member its admission proposal names (nil for genesis members).
        package let joining: Genesis.Member?

        /// The node's API (HTTPS; its certificate is `<data>/tls-cert.pem`, pinned in its member entry).
        package var baseURL: String { "https://127.0.0.1:\(httpPort)" }
        package var tlsCertificateFile: URL { URL(fileURLWithPath: dataDirectory).appendingPathComponent(TLSFiles.certificate) }
    }

    package let directory: String
    package let suite: SuiteName
    package let chainID: String
    package let departmentsFile: String
    package let nodes: [NodeEntry]

    static let departments = [DemoConsortium.registry, DemoConsortium.socialSecurity, DemoConsortium.housing, DemoConsortium.statistics]

    /// Creates the layout (fresh keys, genesis, departments) and recreates each node's database.
    /// `progress` hears about each step.
    package static func create(
        in directory: URL, validators: Int, joiners: Int = 0, suite name: SuiteName, httpBasePort: Int, peerBasePort: Int, databaseURL: String,
        policies: URL, schemas: URL, logLevel: String = "info", aggregationThreshold: Int? = nil, aggregationBits: Int = 2_048, logger: Logger,
        progress: (String) -> Void = { _ in }, revealingFactorsTo factors: ((GMPInteger, GMPInteger) -> Void)? = nil
    ) async throws -> ClusterLayout {
        guard (1...64).contains(validators), (0...16).contains(joiners) else {
            throw NodeError("a cluster has 1 to 64 validators and 0 to 16 joining nodes")
        }
        let suite = try name.makeSuite()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let consortium = try DemoConsortium.create(in: directory.appendingPathComponent("departments"), suite: suite)
        progress("departments' keys and departments.json written to \(directory.appendingPathComponent("departments").path)")
        var keys: [any SigningKey] = []
        var identities: [TLSIdentity] = []
        var members: [Genesis.Member] = []
        for index in 0..<(validators + joiners) {
            let key = suite.generateSigningKey()
            keys.append(key)
            // Each node's TLS identity is pinned in its member entry: peers and departments trust exactly it.
            let identity = try TLSIdentity.generate(name: "node-\(index + 1)")
            identities.append(identity)
            members.append(
                Genesis.Member(
                    nodeID: "node-\(index + 1)", department: departments[index % departments.count], role: .validator,
                    publicKey: key.publicKey.pemRepresentation, address: "127.0.0.1:\(peerBasePort + index)", tlsCertificate: identity.certificatePEM
                ))
        }
        let chainID = "datagateway-cluster-\(Hex.encode(SystemRandom().bytes(count: 4)))"
        // The consortium's founding policy bundle is approved in the genesis, so the nodes serve from the start.
        let bundle: PolicyBundle
        do { bundle = try PolicyBundle.load(from: policies, schemas: schemas) } catch {
            throw NodeError("cannot load policies from \(policies.path): \(error)")
        }
        let founding = Genesis(
            chainID: chainID, suite: name, members: Array(members.prefix(validators)), createdAtMs: Int64(Date().timeIntervalSince1970 * 1_000),
            policyBundles: [Hex.encode(suite.hash(bundle.canonicalBytes))]
        )
        // The key ceremony: one share per validator, sealed to its node key; by default any quorum (2f + 1) decrypts.
        let threshold = aggregationThreshold ?? founding.quorum
        let started = Date()
        let (genesis, shares) = try KeyCeremony.deal(
            genesis: founding, threshold: threshold, bits: aggregationBits, suite: suite,
            progress: { line in progress(String(format: "[%5.1f s] ", Date().timeIntervalSince(started)) + line) }, revealingFactorsTo: factors)
        progress("aggregation key: \(threshold) of \(validators) validators, \(aggregationBits)-bit modulus; each share sealed to its node's key")
        let genesisFile = directory.appendingPathComponent("genesis.json")
        try genesis.write(to: genesisFile)
        progress("genesis \(chainID): \(validators) validators, suite \(name.rawValue), written to \(genesisFile.path)")

        guard let base = URLComponents(string: databaseURL), !base.path.drop(while: { $0 == "/" }).isEmpty else {
            throw NodeError("database URL \(databaseURL) names no database")
        }
        var nodes: [NodeEntry] = []
        for (index, member) in members.enumerated() {
            let data = directory.appendingPathComponent(member.nodeID)
            try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
            try SecretFiles.write(Data(keys[index].pemRepresentation.utf8), to: data.appendingPathComponent("node-key.pem"))
            try identities[index].write(
                certificate: data.appendingPathComponent(TLSFiles.certificate), key: data.appendingPathComponent(TLSFiles.key), force: true)
            try genesis.write(to: data.appendingPathComponent("genesis.json"))
            if let share = shares.first(where: { $0.nodeID == member.nodeID }) {
                try SecretFiles.write(try NodeSecrets.encoded(share), to: data.appendingPathComponent(NodeSecrets.shareFileName))
            }
            var components = base
            components.path = "/" + base.path.drop(while: { $0 == "/" }) + "_" + member.nodeID.replacingOccurrences(of: "-", with: "_")
            let url = components.string!
            try await Database.recreate(url: url, logger: logger)
            let httpPort = httpBasePort + index
            nodes.append(
                NodeEntry(
                    nodeID: member.nodeID, department: member.department, dataDirectory: data.path, databaseURL: url, httpPort: httpPort,
                    peerAddress: member.address,
                    serveArguments: [
                        "serve", "--port", "\(httpPort)", "--database-url", url, "--data-dir", data.path, "--node-id", member.nodeID,
                        "--department", member.department, "--suite", name.rawValue, "--departments", consortium.departmentsFile.path,
                        "--policies", policies.path, "--schemas", schemas.path, "--log-level", logLevel,
                        "--tls-certificate", data.appendingPathComponent(TLSFiles.certificate).path,
                        "--tls-key", data.appendingPathComponent(TLSFiles.key).path,
                    ] + (index < validators ? [] : ["--peer-listen", member.address])
                        + members.indices.filter { $0 != index }.flatMap { other in
                            ["--peer-api", "\(members[other].nodeID)=https://127.0.0.1:\(httpBasePort + other)"]
                        },
                    joining: index < validators ? nil : member
                ))
            progress(
                "\(member.nodeID) (\(member.department)\(index < validators ? "" : ", joining")): http 127.0.0.1:\(httpPort), peers \(member.address), database \(components.path)"
            )
        }
        let layout = ClusterLayout(
            directory: directory.path, suite: name, chainID: chainID, departmentsFile: consortium.departmentsFile.path, nodes: nodes
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(layout).write(to: directory.appendingPathComponent("cluster.json"), options: .atomic)
        return layout
    }

    package static func load(from directory: URL) throws -> ClusterLayout {
        let file = directory.appendingPathComponent("cluster.json")
        guard let data = try? Data(contentsOf: file) else { throw NodeError("no cluster at \(directory.path): run `gateway cluster` to create one") }
        return try JSONDecoder().decode(ClusterLayout.self, from: data)
    }

    /// The demo departments' signing keys (written by `create`).
    package func departmentKey(_ department: String) throws -> any SigningKey {
        let file = URL(fileURLWithPath: departmentsFile).deletingLastPathComponent().appendingPathComponent("\(department)-key.pem")
        return try suite.makeSuite().signingKey(pem: String(decoding: try Data(contentsOf: file), as: UTF8.self))
    }

    /// The demo departments' TLS client identities (written by `create`).
    package func departmentTLS(_ department: String) throws -> TLSIdentity {
        let directory = URL(fileURLWithPath: departmentsFile).deletingLastPathComponent()
        return try TLSIdentity.load(
            certificate: directory.appendingPathComponent("\(department)-tls-cert.pem"),
            key: directory.appendingPathComponent("\(department)-tls-key.pem"))
    }

    /// The demo consortium as written: every department's signing key and TLS identity.
    package func consortium() throws -> DemoConsortium {
        var keys: [String: any SigningKey] = [:]
        var identities: [String: TLSIdentity] = [:]
        for member in DemoConsortium.members {
            keys[member.id] = try departmentKey(member.id)
            identities[member.id] = try departmentTLS(member.id)
        }
        return DemoConsortium(keys: keys, tls: identities, departmentsFile: URL(fileURLWithPath: departmentsFile))
    }

    /// A department's client of node `index` over mutual TLS (the node's pinned certificate, the department's).
    package func client(_ department: String, node index: Int, role: String? = nil) throws -> GatewayClient {
        let entry = nodes[index]
        let certificate = String(decoding: try Data(contentsOf: entry.tlsCertificateFile), as: UTF8.self)
        return try consortium().client(department, baseURL: entry.baseURL, suite: try suite.makeSuite(), role: role, nodeCertificate: certificate)
    }
}
