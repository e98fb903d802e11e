import Foundation
import GatewayChain
import GatewayCrypto
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Consensus messages between validators over TCP. A frame is
///
///     u32 length ‖ u16 signature length ‖ signature ‖ u64 sender ‖ encoded message
///
/// and the signature (suite key of the sender, over `u64 sender ‖ encoded message`) is checked against the genesis
/// key of the claimed sender before the message is decoded. A frame over `frameBytesMax`, a bad signature, an unknown
/// sender or undecodable bytes close the connection; the node carries on. Sending never blocks consensus: a message
/// to an unreachable peer is dropped (the protocol tolerates loss) and the connection is retried on the next send.
public final class ConsensusTransport: Sendable {
    public static let frameBytesMax = ConsensusCodec.messageBytesMax + 4_096

    let me: ReplicaID
    let addresses: [ReplicaID: (host: String, port: Int)]
    let key: any SigningKey
    let validators: [any VerifyingKey]
    let hash: @Sendable ([UInt8]) -> [UInt8]
    let group: any EventLoopGroup
    let logger: Logger
    let onMessage: @Sendable (ReplicaID, ConsensusMessage) -> Void
    let state = NIOLockedValueBox(State())

    struct State {
        var listener: (any Channel)?
        var peers: [ReplicaID: any Channel] = [:]
        var connecting: Set<ReplicaID> = []
    }

    public init(
        me: ReplicaID, addresses: [ReplicaID: (host: String, port: Int)], key: any SigningKey, validators: [any VerifyingKey],
        hash: @escaping @Sendable ([UInt8]) -> [UInt8], group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger, onMessage: @escaping @Sendable (ReplicaID, ConsensusMessage) -> Void
    ) {
        self.me = me
        self.addresses = addresses
        self.key = key
        self.validators = validators
        self.hash = hash
        self.group = group
        self.logger = logger
        self.onMessage = onMessage
    }

    /// Listens on `host:port` (0 picks a port) and returns the bound port.
    public func listen(host: String, port: Int) async throws -> Int {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder()))
                    try channel.pipeline.syncOperations.addHandler(FrameHandler { [self] frame in receive(frame) })
                }
            }
            .bind(host: host, port: port).get()
        state.withLockedValue { $0.listener = channel }
        return channel.localAddress?.port ?? port
    }

    /// Verifies and delivers one frame; false closes the connection.
    func receive(_ frame: ByteBuffer) -> Bool {
        var frame = frame
        guard let signatureLength = frame.readInteger(as: UInt16.self), let signature = frame.readBytes(length: Int(signatureLength)),
              let senderRaw = frame.getInteger(at: frame.readerIndex, as: UInt64.self), senderRaw < UInt64(validators.count)
        else { return false }
        let signed = Array(frame.readableBytesView)
        let sender = ReplicaID(senderRaw)
        guard sender != me, validators[sender].isValidSignature(signature, for: signed) else {
            logger.warning("closing a consensus connection: bad frame signature", metadata: ["claimed": "\(sender)"])
            return false
        }
        guard let message = try? ConsensusCodec.decode(Array(signed.dropFirst(8)), hash: hash) else {
            logger.warning("closing a consensus connection: undecodable message", metadata: ["peer": "\(sender)"])
            return false
        }
        onMessage(sender, message)
        return true
    }

    /// Signs once and sends to the given peers.
    public func send(_ message: ConsensusMessage, to peers: [ReplicaID]) {
        var body = ByteBuffer()
        body.writeInteger(UInt64(me))
        body.writeBytes(ConsensusCodec.encode(message))
        guard let signature = try? key.sign(Array(body.readableBytesView)) else { return }
        var frame = ByteBuffer()
        frame.writeInteger(UInt32(2 + signature.count + body.readableBytes))
        frame.writeInteger(UInt16(signature.count))
        frame.writeBytes(signature)
        frame.writeImmutableBuffer(body)
        for peer in peers where peer != me {
            if let channel = state.withLockedValue({ $0.peers[peer] }), channel.isActive {
                channel.writeAndFlush(frame, promise: nil)
            } else {
                connect(peer)
            }
        }
    }

    func connect(_ peer: ReplicaID) {
        guard let address = addresses[peer] else { return }
        let start = state.withLockedValue { state -> Bool in
            guard !state.connecting.contains(peer) else { return false }
            state.connecting.insert(peer)
            return true
        }
        guard start else { return }
        ClientBootstrap(group: group)
            .connectTimeout(.seconds(2))
            .connect(host: address.host, port: address.port)
            .whenComplete { [self] result in
                state.withLockedValue { state in
                    state.connecting.remove(peer)
                    if case .success(let channel) = result { state.peers[peer] = channel }
                }
            }
    }

    public func shutdown() async {
        let channels = state.withLockedValue { state -> [any Channel] in
            defer { state.peers = [:]; state.listener = nil }
            return Array(state.peers.values) + (state.listener.map { [$0] } ?? [])
        }
        for channel in channels { try? await channel.close() }
    }
}

/// Splits the byte stream into frames; an oversized length prefix is an error that closes the connection.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
        guard Int(length) <= ConsensusTransport.frameBytesMax, length >= 2 else { throw FrameError.invalidLength(Int(length)) }
        guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 4)
        context.fireChannelRead(wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
    }

    enum FrameError: Error { case invalidLength(Int) }
}

/// Hands each frame to the transport; closes the connection on a rejected frame or any error.
final class FrameHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let onFrame: (ByteBuffer) -> Bool

    init(onFrame: @escaping (ByteBuffer) -> Bool) { self.onFrame = onFrame }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !onFrame(unwrapInboundIn(data)) { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
