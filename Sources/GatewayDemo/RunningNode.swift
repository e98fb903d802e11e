import Foundation
import GatewayHTTP
import GatewayNode
import Logging
import ServiceLifecycle

/// A node running in this process (HTTP server + chain + database pool), for the demo and the tests.
package final class RunningNode: Sendable {
    package let node: Node
    package let port: Int
    let group: ServiceGroup
    let task: Task<Void, any Error>

    package var baseURL: String { "\(node.configuration.tls == nil ? "http" : "https")://\(node.configuration.host):\(port)" }

    init(node: Node, port: Int, group: ServiceGroup, task: Task<Void, any Error>) {
        self.node = node
        self.port = port
        self.group = group
        self.task = task
    }

    /// Starts the node and returns once its HTTP server listens and its chain is loaded and verified.
    package static func start(_ configuration: NodeConfiguration, logger: Logger, progress: (String) -> Void = { _ in }) async throws -> RunningNode {
        let node = try Node.assemble(configuration, logger: logger, progress: progress)
        let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
        let app = try GatewayServer.makeApplication(node: node) { port in portContinuation.yield(port) }
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        let task = Task {
            defer { portContinuation.finish() }
            try await group.run()
        }
        for await port in portStream {
            let running = RunningNode(node: node, port: port, group: group, task: task)
            do {
                try await node.chain.waitUntilReady()
            } catch {
                try? await running.stop()
                throw error
            }
            return running
        }
        // The stream ended without a port: the node failed to start. Surface its error.
        try await task.value
        throw NodeError("node stopped before its HTTP server started")
    }

    /// Graceful shutdown: stop accepting requests, drain the chain outbox, close the database pool.
    package func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}
