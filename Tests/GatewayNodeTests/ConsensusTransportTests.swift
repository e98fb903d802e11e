import Foundation
import GatewayChain
import GatewayCrypto
import GatewayNode
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

/// Four validators in one process, talking over real TCP on 127.0.0.1 with signed frames.
struct TCPCluster {
    let drivers: [ConsensusDriver]
    let transports: [ConsensusTransport]
    let ports: [Int]
    let keys: [any SigningKey]
    let commits: NIOLockedValueBox<[[ConsensusBlock]]>

    static func start(_ suiteName: SuiteName, replicas n: Int = 4) async throws -> TCPCluster {
        let suite = try suiteName.makeSuite()
        let keys = (0..<n).map { _ in suite.generateSigningKey() }
        let validators = keys.map(\.publicKey)
        let hash: @Sendable ([UInt8]) -> [UInt8] = { suite.hash($0) }
        var logger = Logger(label: "consensus-test")
        logger.logLevel = .error
        let commits = NIOLockedValueBox(Array(repeating: [ConsensusBlock](), count: n))
        // The driver's clock is milliseconds.
        var configuration = Replica.Configuration(replicas: n)
        configuration.roundTimeoutTicks = 500
        let names = (0..<n).map { "v\($0)" }
        let drivers = (0..<n).map { id in
            ConsensusDriver(
                me: names[id],
                setup: EpochSetup(epoch: 0, members: names, others: [], replica: Replica(
                    id: id, configuration: configuration, signer: SuiteConsensusSigner(replica: id, key: keys[id], validators: validators), hash: hash
                )),
                onCommit: { block, _, _, _ in
                    commits.withLockedValue { $0[id].append(block) }
                    return false
                }
            )
        }
        // Listen first (ports are picked by the OS), then give every transport the full address book.
        var ports: [Int] = []
        var transports: [ConsensusTransport] = []
        let keysOnly = Dictionary(uniqueKeysWithValues: (0..<n).map { (names[$0], ConsensusTransport.Peer(key: validators[$0], address: nil)) })
        for id in 0..<n {
            let driver = drivers[id]
            let transport = ConsensusTransport(
                me: names[id], directory: keysOnly, key: keys[id], hash: hash, logger: logger,
                onMessage: { sender, epoch, message in Task { await driver.deliver(message, from: sender, epoch: epoch) } }
            )
            ports.append(try await transport.listen(host: "127.0.0.1", port: 0))
            transports.append(transport)
        }
        let book = Dictionary(uniqueKeysWithValues: (0..<n).map {
            (names[$0], ConsensusTransport.Peer(key: validators[$0], address: (host: "127.0.0.1", port: ports[$0])))
        })
        for id in 0..<n {
            transports[id].update(directory: book)
            await drivers[id].attach(transports[id])
        }
        for driver in drivers { await driver.start() }
        return TCPCluster(drivers: drivers, transports: transports, ports: ports, keys: keys, commits: commits)
    }

    func stop() async {
        for driver in drivers { await driver.stop() }
        for transport in transports { await transport.shutdown() }
    }

    /// Waits until every replica has committed every item, up to `seconds`.
    func waitForItems(_ items: Set<[UInt8]>, seconds: Double) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let done = commits.withLockedValue { chains in chains.allSatisfy { items.isSubset(of: Set($0.flatMap(\.payload))) } }
            if done { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}

@Suite(.serialized) struct ConsensusTransportTests {
    @Test(arguments: SuiteName.allCases) func fourValidatorsCommitTheSameChainOverTCP(suite: SuiteName) async throws {
        let cluster = try await TCPCluster.start(suite)
        let items = Set((0..<40).map { Array("tx-\($0)".utf8) })
        for item in items.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            for driver in cluster.drivers { _ = await driver.submit([item]) }
        }
        let done = try await cluster.waitForItems(items, seconds: 30)
        await cluster.stop()
        #expect(done, "not every replica committed every item")
        let chains = cluster.commits.withLockedValue { $0 }
        let shortest = chains.map(\.count).min()!
        #expect(shortest > 0)
        for chain in chains { #expect(chain.prefix(shortest).map(\.id) == chains[0].prefix(shortest).map(\.id)) }
    }

    @Test func garbageOversizedAndForgedFramesCloseTheConnectionAndTheNodeCarriesOn() async throws {
        let cluster = try await TCPCluster.start(.intl)
        let port = cluster.ports[0]
        func sendRaw(_ bytes: [UInt8]) async throws -> Bool {
            // Returns true if the server closed the connection.
            let closed = NIOLockedValueBox(false)
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            channel.closeFuture.whenComplete { _ in closed.withLockedValue { $0 = true } }
            try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
            for _ in 0..<100 where !closed.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(20)) }
            let result = closed.withLockedValue { $0 }
            try? await channel.close()
            return result
        }
        // A frame claiming 4 GiB.
        #expect(try await sendRaw([0xff, 0xff, 0xff, 0xff, 1, 2, 3]))
        // A well-framed message of random bytes.
        #expect(try await sendRaw([0, 0, 0, 12] + [UInt8](repeating: 0x5a, count: 12)))
        // A real message, signed by validator 2's key but claiming to come from validator 1.
        var body: [UInt8] = withUnsafeBytes(of: UInt16(2).bigEndian, Array.init) + Array("v1".utf8)
        body += withUnsafeBytes(of: UInt64(0).bigEndian, Array.init)
        body += ConsensusCodec.encode(.fetch([1, 2, 3]))
        let signature = try cluster.keys[2].sign(body)
        let frameBody = withUnsafeBytes(of: UInt16(signature.count).bigEndian, Array.init) + signature + body
        #expect(try await sendRaw(withUnsafeBytes(of: UInt32(frameBody.count).bigEndian, Array.init) + frameBody))

        // The cluster still commits.
        let items: Set<[UInt8]> = [Array("after-garbage".utf8)]
        _ = await cluster.drivers[1].submit([Array("after-garbage".utf8)])
        let done = try await cluster.waitForItems(items, seconds: 30)
        await cluster.stop()
        #expect(done)
    }
}
