import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A TCP proxy in front of a real server (PostgreSQL) that can stall: the sockets stay open and nothing more crosses
/// them, which is what a database lost behind a dead route or a frozen host looks like to a node. Connections beyond
/// `passing` are stalled from their first byte; `stall()` stalls every connection from then on.
package final class StallingProxy: Sendable {
    let channel: any Channel
    let state: NIOLockedValueBox<(stalled: Bool, accepted: Int)>
    package var port: Int { channel.localAddress?.port ?? 0 }

    package init(upstreamHost: String, upstreamPort: Int, passing: Int = .max) async throws {
        let state = NIOLockedValueBox((stalled: false, accepted: 0))
        self.state = state
        channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { inbound in
                let stalledFromStart = state.withLockedValue { value -> Bool in
                    value.accepted += 1
                    return value.accepted > passing
                }
                let gate: @Sendable () -> Bool = { stalledFromStart || state.withLockedValue(\.stalled) }
                let toClient = Relay(gate: gate)
                toClient.peer = inbound
                return ClientBootstrap(group: inbound.eventLoop)
                    .channelInitializer { outbound in outbound.pipeline.addHandler(toClient) }
                    .connect(host: upstreamHost, port: upstreamPort)
                    .flatMap { outbound in
                        let toServer = Relay(gate: gate)
                        toServer.peer = outbound
                        return inbound.pipeline.addHandler(toServer)
                    }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    /// From now on nothing crosses any connection, old or new.
    package func stall() { state.withLockedValue { $0.stalled = true } }

    package func close() async throws { try await channel.close() }

    /// Forwards what one side reads to the other, unless the gate says the link is stalled (then it is dropped).
    final class Relay: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let gate: @Sendable () -> Bool
        var peer: (any Channel)?
        init(gate: @escaping @Sendable () -> Bool) { self.gate = gate }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !gate(), let peer else { return }
            peer.writeAndFlush(unwrapInboundIn(data), promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            if !gate() { peer?.close(promise: nil) }
            context.fireChannelInactive()
        }
    }
}
