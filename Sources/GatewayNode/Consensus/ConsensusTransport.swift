import Foundation
import GatewayChain
import GatewayCrypto
import GatewayTLS
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// Consensus messages between nodes over TCP. A frame is
///
///     u32 length ‖ u16 signature length ‖ signature ‖ u16 sender length ‖ sender node id ‖ u64 epoch ‖ encoded message
///
/// and the signature (suite key of the sender, over everything after it) is checked against the directory's key for
/// the claimed sender before the message is decoded. The directory holds every member this node knows of (genesis,
/// then those governance added), so a joining node's frames are accepted once its admission is committed. A frame
/// over `frameBytesMax`, a bad signature, an unknown sender or undecodable bytes close the connection; the node
/// carries on. Sending never blocks consensus: a message to an unreachable peer is dropped (the protocol tolerates
/// loss) and the connection is retried on the next send.
///
/// With a TLS identity, every link is TLS 1.3 with certificates on both sides: the listener accepts a peer whose
/// certificate is pinned in the member entry of a current member, and a dialler accepts only the certificate pinned for
/// the member it dials. Frames are signed as before, inside.
package final class ConsensusTransport: Sendable {
    package static let frameBytesMax = ConsensusCodec.messageBytesMax + 4_096

    /// A member as the transport knows it: its key, and where to reach it (nil for a member without an address).
    package struct Peer: Sendable {
        package let key: any VerifyingKey
        package let address: (host: String, port: Int)?
        /// The pin of the TLS certificate in its member entry (nil: none).
        package let tlsPin: String?

        package init(key: any VerifyingKey, address: (host: String, port: Int)?, tlsCertificate: String? = nil) {
            self.key = key
            self.address = address
            self.tlsPin = tlsCertificate.flatMap { try? TLSIdentity.pin(ofCertificatePEM: $0) }
        }
    }

    let me: String
    let key: any SigningKey
    let hash: @Sendable ([UInt8]) -> [UInt8]
    let group: any EventLoopGroup
    let logger: Logger
    let onMessage: @Sendable (String, UInt64, ConsensusMessage) -> Void
    let state: NIOLockedValueBox<State>
    /// TLS contexts (nil: plain TCP, for chains founded without TLS certificates).
    let serverTLS: NIOSSLContext?
    let clientTLS: NIOSSLContext?

    struct State {
        var directory: [String: Peer]
        var listener: (any Channel)?
        var peers: [String: any Channel] = [:]
        var connecting: Set<String> = []
        /// Pins of the current members' TLS certificates: who may open a connection.
        var admittedPins: Set<String> = []
        /// The validators this node keeps a connection to (redialled every second while down), so that reachability
        /// is known on an idle chain too.
        var kept: [String] = []
        var keeper: RepeatedTask?
    }

    package init(
        me: String, directory: [String: Peer], key: any SigningKey, hash: @escaping @Sendable ([UInt8]) -> [UInt8], tls: TLSIdentity? = nil,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger,
        onMessage: @escaping @Sendable (_ sender: String, _ epoch: UInt64, ConsensusMessage) -> Void
    ) throws {
        self.me = me
        self.key = key
        self.hash = hash
        self.group = group
        self.logger = logger
        self.onMessage = onMessage
        self.state = NIOLockedValueBox(State(directory: directory))
        if let tls {
            var server = try PinnedTLS.serverConfiguration(tls)
            // Every peer is a member: its certificate is required, and judged by the callback below.
            server.certificateVerification = .noHostnameVerification
            serverTLS = try NIOSSLContext(configuration: server)
            clientTLS = try NIOSSLContext(configuration: try PinnedTLS.clientConfiguration(identity: tls, trusting: []))
        } else {
            serverTLS = nil
            clientTLS = nil
        }
    }

    /// The members whose certificates may open a TLS connection now (current members; a removed one is refused).
    package func admitTLS(members: [String]) {
        state.withLockedValue { state in
            state.admittedPins = Set(members.compactMap { state.directory[$0]?.tlsPin })
        }
    }

    /// Keeps a connection open to each of `members` (the validators): redialled every second while it is down.
    package func keepConnected(to members: [String]) {
        let start = state.withLockedValue { state -> Bool in
            state.kept = members.filter { $0 != me }
            return state.keeper == nil
        }
        guard start else { return }
        let task = group.next().scheduleRepeatedTask(initialDelay: .zero, delay: .seconds(1)) { [weak self] _ in self?.redial() }
        state.withLockedValue { $0.keeper = task }
    }

    func redial() {
        let down = state.withLockedValue { state in
            state.kept.filter { peer in
                // Over TLS a member without a pinned certificate cannot be reached; it is not dialled (nor warned about) here.
                state.peers[peer]?.isActive != true && (clientTLS == nil || state.directory[peer]?.tlsPin != nil)
            }
        }
        for peer in down { connect(peer) }
    }

    /// The kept members this node has an open connection to now.
    package func reachable() -> [String] {
        state.withLockedValue { state in state.kept.filter { state.peers[$0]?.isActive == true } }
    }

    /// Adds or replaces members (governance admitted a node, or changed its address).
    package func update(directory additions: [String: Peer]) {
        state.withLockedValue { state in
            for (id, peer) in additions { state.directory[id] = peer }
        }
    }

    /// Listens on `host:port` (0 picks a port) and returns the bound port.
    package func listen(host: String, port: Int) async throws -> Int {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let serverTLS {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLServerHandler(
                                context: serverTLS,
                                customVerificationCallback: PinnedTLS.verifier(registered: { [state] pin in
                                    state.withLockedValue { $0.admittedPins.contains(pin) }
                                })))
                    }
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
        guard let signatureLength = frame.readInteger(as: UInt16.self), let signature = frame.readBytes(length: Int(signatureLength)) else {
            return false
        }
        let signed = Array(frame.readableBytesView)
        guard let senderLength = frame.readInteger(as: UInt16.self), senderLength <= 256,
            let senderBytes = frame.readBytes(length: Int(senderLength)),
            let epoch = frame.readInteger(as: UInt64.self), Bounded.epoch.contains(epoch)
        else { return false }
        let sender = String(decoding: senderBytes, as: UTF8.self)
        guard sender != me, let peer = state.withLockedValue({ $0.directory[sender] }), peer.key.isValidSignature(signature, for: signed) else {
            logger.warning("closing a consensus connection: unknown sender or bad frame signature", metadata: ["claimed": "\(sender)"])
            return false
        }
        guard let message = try? ConsensusCodec.decode(Array(frame.readableBytesView), hash: hash) else {
            logger.warning("closing a consensus connection: undecodable message", metadata: ["peer": "\(sender)"])
            return false
        }
        onMessage(sender, epoch, message)
        return true
    }

    /// Signs once and sends to the given peers, tagged with the sender's epoch.
    package func send(_ message: ConsensusMessage, epoch: UInt64, to peers: [String]) {
        var body = ByteBuffer()
        let id = Array(me.utf8)
        body.writeInteger(UInt16(id.count))
        body.writeBytes(id)
        body.writeInteger(epoch)
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

    func connect(_ peer: String) {
        let target = state.withLockedValue { state -> (address: (host: String, port: Int), pin: String?)? in
            guard let entry = state.directory[peer], let address = entry.address, !state.connecting.contains(peer) else { return nil }
            state.connecting.insert(peer)
            return (address, entry.tlsPin)
        }
        guard let target else { return }
        let address = target.address
        if clientTLS != nil && target.pin == nil {
            // A member without a pinned certificate cannot be reached over TLS, and plaintext is not an option.
            state.withLockedValue { _ = $0.connecting.remove(peer) }
            logger.warning("not connecting to a member without a TLS certificate in its member entry", metadata: ["peer": "\(peer)"])
            return
        }
        ClientBootstrap(group: group)
            .connectTimeout(.seconds(2))
            .channelInitializer { [clientTLS] channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let clientTLS, let pin = target.pin else { return }
                    // Only the certificate pinned for the member dialled (and within its validity) is accepted.
                    try channel.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(
                            context: clientTLS, serverHostname: nil,
                            customVerificationCallback: PinnedTLS.verifier(registered: { $0 == pin })))
                }
            }
            .connect(host: address.host, port: address.port)
            .whenComplete { [self] result in
                state.withLockedValue { state in
                    state.connecting.remove(peer)
                    if case .success(let channel) = result { state.peers[peer] = channel }
                }
            }
    }

    package func shutdown() async {
        let channels = state.withLockedValue { state -> [any Channel] in
            state.keeper?.cancel()
            defer { state.peers = [:]; state.listener = nil; state.keeper = nil; state.kept = [] }
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
