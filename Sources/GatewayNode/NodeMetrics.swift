import CoreMetrics
import Foundation
import Prometheus

/// The node's operational metrics, in the Prometheus text format at `GET /metrics`: recorded through the swift-metrics
/// API into a registry of this node's own (several nodes in one process — the tests — keep theirs apart). Labels carry
/// route patterns, statuses, outcomes and table names only: never a department's request content, never personal data.
package final class NodeMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    package init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // Request latencies from a millisecond to ten seconds; commits from 10 ms to a minute.
        factory.defaultDurationHistogramBuckets = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000].map { .milliseconds($0) }
        factory.durationHistogramBuckets["datagateway_commit_latency_seconds"] = [10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 60_000]
            .map { .milliseconds($0) }
        self.factory = factory
    }

    /// One HTTP request: its route pattern (not its path: ids stay out), method and status.
    package func request(route: String, method: String, status: Int, nanoseconds: Int64) {
        Timer(
            label: "datagateway_http_request_duration_seconds", dimensions: [("route", route), ("method", method), ("status", String(status))],
            factory: factory
        ).recordNanoseconds(nanoseconds)
    }

    /// One access decision logged on chain, by outcome (allow, deny).
    package func decision(_ outcome: String) {
        Counter(label: "datagateway_decisions_total", dimensions: [("outcome", outcome)], factory: factory).increment()
    }

    /// A block stored: from its proposer's timestamp to this node's durable copy.
    package func committed(height: UInt64, latencyMs: Int64) {
        Timer(label: "datagateway_commit_latency_seconds", factory: factory).recordMilliseconds(max(0, latencyMs))
        Counter(label: "datagateway_blocks_stored_total", factory: factory).increment()
    }

    /// Values read when scraped.
    package struct Snapshot: Sendable {
        package var height: UInt64
        package var mempool: Int
        package var outbox: Int
        package var validatorsReachable: Int
        package var validators: Int
        package var integrityFailures: Int
        package var ready: Bool
        /// The database pool: connections open (or being established), and the pool's maximum.
        package var poolOpen = 0
        package var poolMaximum = 0

        package init(height: UInt64, mempool: Int, outbox: Int, validatorsReachable: Int, validators: Int, integrityFailures: Int, ready: Bool) {
            self.height = height
            self.mempool = mempool
            self.outbox = outbox
            self.validatorsReachable = validatorsReachable
            self.validators = validators
            self.integrityFailures = integrityFailures
            self.ready = ready
        }
    }

    /// The text exposition, with the gauges set from `snapshot` first.
    package func render(_ snapshot: Snapshot) -> [UInt8] {
        func gauge(_ name: String, _ value: Double) { Gauge(label: name, factory: factory).record(value) }
        gauge("datagateway_chain_height", Double(snapshot.height))
        gauge("datagateway_mempool_transactions", Double(snapshot.mempool))
        gauge("datagateway_outbox_transactions", Double(snapshot.outbox))
        gauge("datagateway_validators_reachable", Double(snapshot.validatorsReachable))
        gauge("datagateway_validators", Double(snapshot.validators))
        gauge("datagateway_integrity_failures", Double(snapshot.integrityFailures))
        gauge("datagateway_ready", snapshot.ready ? 1 : 0)
        gauge("datagateway_db_pool_connections", Double(snapshot.poolOpen))
        gauge("datagateway_db_pool_connections_max", Double(snapshot.poolMaximum))
        return registry.emitToBuffer()
    }
}
