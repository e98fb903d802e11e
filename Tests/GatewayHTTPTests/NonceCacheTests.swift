@testable import GatewayHTTP
import Testing

/// The in-memory nonce cache: single use inside the window, forgotten after it, and bounded (full: refused, never
/// grown).
@Suite struct NonceCacheTests {
    @Test func aNonceIsUsedOnceUntilItExpiresAndTheCacheIsBounded() async {
        let cache = NonceCache(windowSeconds: 300, entriesMax: 3)
        #expect(await cache.use("housing:a", now: 1_000) == .fresh)
        #expect(await cache.use("housing:a", now: 1_200) == .replayed)
        #expect(await cache.use("statistics:a", now: 1_200) == .fresh, "nonces are per department")
        #expect(await cache.use("housing:b", now: 1_201) == .fresh)
        #expect(await cache.use("housing:c", now: 1_202) == .full)
        // Past twice the window the oldest are swept, and room comes back.
        #expect(await cache.use("housing:c", now: 1_000 + 601) == .fresh)
        #expect(await cache.use("housing:a", now: 1_602) == .full, "three live nonces again: bounded")
        #expect(await cache.use("housing:a", now: 1_802) == .fresh, "an expired nonce is forgotten, and its room reused")
        let purges = [await cache.durablePurgeDue(now: 2_000), await cache.durablePurgeDue(now: 2_030), await cache.durablePurgeDue(now: 2_061)]
        #expect(purges == [true, false, true], "the durable store is purged about once a minute")
    }
}
