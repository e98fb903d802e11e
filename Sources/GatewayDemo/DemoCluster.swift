import Foundation
import GatewayChain
import GatewayCrypto
import GatewayFiles
import GatewayNode
import GatewayTLS
import Logging

/// The demo's consortium: four department nodes in this process (registry, social security, housing, statistics),
/// each with its own database, talking consensus over real TCP on 127.0.0.1, founded with a 3-of-4 aggregation key.
package struct DemoCluster: Sendable {
    package let layout: ClusterLayout
    package let nodes: [RunningNode]
    package let consortium: DemoConsortium

    /// Lays out the cluster in `directory` (databases `<database>_node_k`, recreated) on free ports and starts its nodes.
    package static func start(
        in directory: URL, databaseURL: String, suite: SuiteName, policies: URL, schemas: URL, aggregationBits: Int, logLevel: Logger.Level,
        logger: Logger, progress: @escaping @Sendable (String) -> Void, revealingFactorsTo factors: ((GMPInteger, GMPInteger) -> Void)? = nil
    ) async throws -> DemoCluster {
        let (httpBase, peerBase) = try freePortRanges(count: 4)
        let layout = try await ClusterLayout.create(
            in: directory, validators: 4, suite: suite, httpBasePort: httpBase, peerBasePort: peerBase, databaseURL: databaseURL,
            policies: policies, schemas: schemas, logLevel: logLevel.rawValue, aggregationThreshold: 3, aggregationBits: aggregationBits,
            logger: logger, progress: progress, revealingFactorsTo: factors)
        var nodes: [RunningNode] = []
        for entry in layout.nodes {
            var configuration = NodeConfiguration(
                host: "127.0.0.1", port: entry.httpPort, databaseURL: entry.databaseURL, dataDirectory: URL(fileURLWithPath: entry.dataDirectory),
                suite: suite, logLevel: logLevel, policiesDirectory: policies, schemasDirectory: schemas,
                departmentsFile: URL(fileURLWithPath: layout.departmentsFile), nodeID: entry.nodeID, department: entry.department,
                paillierPoolSize: 256)
            configuration.tls = try TLSIdentity.load(
                certificate: entry.tlsCertificateFile, key: URL(fileURLWithPath: entry.dataDirectory).appendingPathComponent(TLSFiles.key))
            for other in layout.nodes where other.nodeID != entry.nodeID {
                configuration.peerAPIs[other.nodeID] = other.baseURL
            }
            do {
                nodes.append(try await RunningNode.start(configuration, logger: logger))
            } catch {
                for node in nodes { try? await node.stop() }
                throw error
            }
        }
        return DemoCluster(layout: layout, nodes: nodes, consortium: try layout.consortium())
    }

    package func stop() async {
        for node in nodes.reversed() { try? await node.stop() }
    }

    /// The node of a department.
    package func node(of department: String) -> RunningNode? {
        nodes.first { $0.node.configuration.department == department }
    }

    /// Two ranges of `count` consecutive ports, each free now (bound and released), below the ephemeral range.
    static func freePortRanges(count: Int) throws -> (Int, Int) {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<200 {
            let http = Int.random(in: 20_000...31_000, using: &random)
            let peer = http + 100
            if (0..<count).allSatisfy({ isFree(http + $0) && isFree(peer + $0) }) { return (http, peer) }
        }
        throw NodeError("no free ports for the demo's four nodes between 20000 and 31200")
    }

    static func isFree(_ port: Int) -> Bool {
        let socket = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { return false }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr = in_addr(s_addr: inet_addr("127.0.0.1"))
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
