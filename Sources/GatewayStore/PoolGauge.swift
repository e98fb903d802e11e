import Logging
import NIOConcurrencyHelpers

/// The database pool's open connections, for `/metrics`. PostgresNIO's pool reports its connections' lives only to
/// its background logger (at debug level: a connection started, failed, closed), so the node's pool gets a logger whose
/// handler counts them here and passes every message at the node's own level on to the node's handler. (The pool does
/// not report leases, so how many connections are busy is not known here.)
package final class PoolGauge: Sendable {
    private let counts = NIOLockedValueBox((started: 0, failed: 0, closed: 0))
    package let maximum: Int

    package init(maximum: Int) { self.maximum = maximum }

    /// Connections open now, or being established.
    package var open: Int { counts.withLockedValue { max(0, $0.started - $0.failed - $0.closed) } }

    func note(_ message: String) {
        counts.withLockedValue { counts in
            switch message {
            case "Creating new connection": counts.started += 1
            case "Connection creation failed": counts.failed += 1
            case "Connection closed": counts.closed += 1
            default: break
            }
        }
    }

    /// A logger for the pool: everything at debug reaches the gauge; what is at `logger`'s level or above goes on.
    package func logger(wrapping logger: Logger) -> Logger {
        var wrapped = Logger(label: logger.label) { _ in Handler(gauge: self, next: logger.handler, passLevel: logger.logLevel) }
        wrapped.logLevel = .debug
        return wrapped
    }

    struct Handler: LogHandler {
        let gauge: PoolGauge
        var next: any LogHandler
        let passLevel: Logger.Level

        var metadata: Logger.Metadata {
            get { next.metadata }
            set { next.metadata = newValue }
        }
        var logLevel: Logger.Level {
            get { .debug }
            set {}
        }
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { next[metadataKey: key] }
            set { next[metadataKey: key] = newValue }
        }

        func log(event: LogEvent) {
            gauge.note(event.message.description)
            if event.level >= passLevel { next.log(event: event) }
        }
    }
}
