import NIOPosix

/// CPU-heavy work of a request — hashing and parsing a large body, validating and sealing records — runs on NIO's
/// blocking thread pool, not on Swift's cooperative pool: that pool has one thread per core and answers every other
/// request (`/v1/health` included), so a few large bodies parsed on it would leave the node unanswering.
package enum HeavyWork {
    /// Bodies smaller than this are handled where they are (a hop to another thread costs more than the work).
    package static let inlineBytesMax = 64 * 1024

    package static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }

    /// Runs `body` on the pool when `bytes` is large, inline otherwise.
    package static func run<T: Sendable>(forBytes bytes: Int, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        bytes < inlineBytesMax ? try body() : try await run(body)
    }
}
