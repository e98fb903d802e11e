import GatewayCrypto
@testable import GatewayNode
import ServiceLifecycle
import Testing

/// The node refills the (passive) Paillier randomness pool when values are taken — woken by the pool, not by a
/// timer — and stops on shutdown.
@Suite struct RandomnessPoolServiceTests {
    @Test func takenValuesAreReplacedAndTheServiceStopsOnShutdown() async throws {
        let key = try PaillierPrivateKey.generate(bits: 512)
        let encryptor = PaillierEncryptor(publicKey: key.publicKey)
        let pool = RandomnessPool(encryptor: encryptor, capacity: 8)
        let (fulls, full) = AsyncStream.makeStream(of: Void.self)
        let service = RandomnessPoolService(pool, onFull: { full.yield() })
        let group = ServiceGroup(services: [service], logger: .init(label: "pool-test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var events = fulls.makeAsyncIterator()
            _ = await events.next()  // filled from empty at start
            #expect(pool.count == 8)
            for value in 1...5 { #expect(try key.decrypt(encryptor.encrypt(value, pool: pool)) == GMPInteger(value)) }
            _ = await events.next()  // refilled after the takes
            #expect(pool.count == 8)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
