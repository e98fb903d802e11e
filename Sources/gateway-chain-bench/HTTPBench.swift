import AsyncHTTPClient
import Foundation
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewayStore
import GatewayTLS
import GatewayWire
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore

/// bench/http, our side:
///
///   gateway-chain-bench http <database-url> <runs> <seconds> <work-dir> <sm|intl>
///
/// The main job end to end: a department's signed `GET /v1/records/citizen/{id}?purpose=…` — RFC 9421 check, policy
/// decision, the access event committed on chain before the answer, PostgreSQL read, decryption, hash and anchor
/// checks, masking, and the node's signature on the answer — over mutual TLS, against a solo node of this build in
/// this process. The reference, in the same process and run: a bare Hummingbird route (`GET /bare`, a fixed small JSON
/// body) behind the same TLS configuration. The load comes from a second process (this executable, `http-load`), which
/// signs every request for both (the same client work): closed loop at 64 connections for the maximum rate, then an
/// open loop at half of our maximum for latency (measured from each request's scheduled time). Also: one request for
/// 100 ids, 30 times; and the node process's resident memory after the runs. Prints one JSON object.
func httpBench(_ arguments: [String]) async throws {
    guard arguments.count == 7, let runs = Int(arguments[3]), runs >= 1, let seconds = Int(arguments[4]), (1...120).contains(seconds),
        let suiteName = SuiteName(rawValue: arguments[6])
    else {
        FileHandle.standardError.write(Data("usage: gateway-chain-bench http <database-url> <runs> <seconds 1…120> <work-dir> <sm|intl>\n".utf8))
        exit(2)
    }
    let work = URL(fileURLWithPath: arguments[5])
    let connections = Int(ProcessInfo.processInfo.environment["CONNECTIONS"] ?? "") ?? 64
    try? FileManager.default.removeItem(at: work)
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    var logger = Logger(label: "bench-http")
    logger.logLevel = .critical
    guard var components = URLComponents(string: arguments[2]) else { throw NodeError("bad database URL \(arguments[2])") }
    components.path = "/dg_bench_http"
    let url = components.string!
    try await Database.recreate(url: url, logger: logger)
    let suite = try suiteName.makeSuite()
    let consortium = try DemoConsortium.create(in: work.appendingPathComponent("departments"), suite: suite)
    let identity = try TLSIdentity.generate(name: "bench-http")
    var configuration = NodeConfiguration(
        host: "127.0.0.1", port: 0, databaseURL: url, dataDirectory: work.appendingPathComponent("node"), suite: suiteName,
        logLevel: .critical, policiesDirectory: URL(fileURLWithPath: "Policies"), schemasDirectory: URL(fileURLWithPath: "Schemas"),
        departmentsFile: consortium.departmentsFile, nodeID: "bench-http", department: DemoConsortium.registry, paillierBits: 1024,
        paillierPoolSize: 0)
    configuration.tls = identity
    progress("starting the node (\(suiteName.rawValue) suite, TLS 1.3, mutual)")
    let node = try await RunningNode.start(configuration, logger: logger)
    let registry = try consortium.client(DemoConsortium.registry, baseURL: node.baseURL, suite: suite, nodeCertificate: identity.certificatePEM)
    let citizens = SyntheticCitizens.generate(count: 2_000, seed: 16)
    for start in stride(from: 0, to: citizens.count, by: 500) {
        let batch = Array(citizens[start..<min(start + 500, citizens.count)])
        let published = try await registry.send("POST", "/v1/records/citizen", json: API.PublishRequest(records: batch))
        guard published.status == 201 else { throw NodeError("publishing failed: \(published.status)") }
    }
    progress("published \(citizens.count) citizen records")
    let ids = citizens.compactMap { $0["citizen_id"]?.stringValue }
    let idsFile = work.appendingPathComponent("ids.txt")
    try Data(ids.joined(separator: "\n").utf8).write(to: idsFile)

    // The reference: a bare route behind the same TLS configuration.
    let router = Router()
    let bareBody = ByteBuffer(string: #"{"ok":true}"#)
    router.get("bare") { _, _ in Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: bareBody)) }
    let (portStream, portContinuation) = AsyncStream<Int>.makeStream()
    let bare = Application(
        router: router,
        server: try .tls(
            .http1(),
            configuration: TLSChannelConfiguration(
                tlsConfiguration: try PinnedTLS.serverConfiguration(identity), customVerificationCallback: PinnedTLS.verifier())),
        configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
        logger: logger)
    let bareTask = Task { try await bare.runService() }
    var portIterator = portStream.makeAsyncIterator()
    guard let barePort = await portIterator.next() else { throw NodeError("the bare route did not start") }
    let bareURL = "https://127.0.0.1:\(barePort)"

    // The load generator's files: the registry's key and TLS identity, the server certificate.
    let keys = consortium.departmentsFile.deletingLastPathComponent()
    let serverCertificate = work.appendingPathComponent("server-cert.pem")
    try Data(identity.certificatePEM.utf8).write(to: serverCertificate)
    func load(_ base: String, _ target: String, _ mode: String) throws -> LoadResult {
        let output = try run(
            CommandLine.arguments[0],
            [
                "http-load", base, target, suiteName.rawValue, keys.appendingPathComponent("\(DemoConsortium.registry)-key.pem").path,
                keys.appendingPathComponent("\(DemoConsortium.registry)-tls-cert.pem").path,
                keys.appendingPathComponent("\(DemoConsortium.registry)-tls-key.pem").path, serverCertificate.path, idsFile.path, mode,
                String(seconds),
            ])
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
            let result = try? JSONDecoder().decode(LoadResult.self, from: Data(line.utf8))
        else { throw NodeError("the load generator printed no result:\n\(output.suffix(2_000))") }
        return result
    }
    var results: [String: [Double]] = [:]
    let ours = "/v1/records/citizen/{id}?purpose=registry_update"
    /// The node's unlabelled metrics (blocks stored, commit latency sum and count), for what the chain did in a run.
    func scrape() async throws -> [String: Double] {
        let text = String(decoding: try await registry.sendRaw("GET", "/metrics", headers: []).body, as: UTF8.self)
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.contains("{") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = Double(parts[1]) { values[String(parts[0])] = value }
        }
        return values
    }
    for run in 1...runs {
        let reference = try load(bareURL, "/bare", "closed:\(connections)")
        let before = try await scrape()
        let maximum = try load(node.baseURL, ours, "closed:\(connections)")
        let after = try await scrape()
        func delta(_ name: String) -> Double { (after[name] ?? 0) - (before[name] ?? 0) }
        let blocks = delta("datagateway_blocks_stored_total")
        let commitMs = 1_000 * delta("datagateway_commit_latency_seconds_sum") / max(1, delta("datagateway_commit_latency_seconds_count"))
        results["blocks_per_s_at_max", default: []].append(blocks / Double(seconds))
        results["commit_latency_mean_ms_at_max", default: []].append(commitMs)
        progress(
            String(
                format: "run %d: the chain stored %.0f blocks/s at our maximum, commit latency %.1f ms on average", run, blocks / Double(seconds),
                commitMs))
        let half = try load(node.baseURL, ours, "open:\(Int(max(1, maximum.rps / 2)))")
        // The floor: 20 requests a second, where no queue forms and the cores are mostly idle.
        let floor = try load(node.baseURL, ours, "open:20")
        results["floor_p50_ms", default: []].append(floor.p50Ms)
        results["floor_p99_ms", default: []].append(floor.p99Ms)
        results["bare_rps", default: []].append(reference.rps)
        results["ours_rps", default: []].append(maximum.rps)
        results["ours_p50_ms_at_max", default: []].append(maximum.p50Ms)
        results["ours_p99_ms_at_max", default: []].append(maximum.p99Ms)
        results["half_offered_rps", default: []].append(half.offered ?? 0)
        results["half_rps", default: []].append(half.rps)
        results["half_p50_ms", default: []].append(half.p50Ms)
        results["half_p99_ms", default: []].append(half.p99Ms)
        results["errors", default: []].append(Double(reference.errors + maximum.errors + half.errors + floor.errors))
        progress(
            String(
                format: "run %d: bare %.0f req/s; ours %.0f req/s (%.1f%%), p99 %.1f ms at max; at half (%.0f/s offered) p50 %.1f ms, p99 %.1f ms",
                run, reference.rps, maximum.rps, 100 * maximum.rps / max(1, reference.rps), maximum.p99Ms, half.offered ?? 0, half.p50Ms,
                half.p99Ms))
        progress(String(format: "run %d: at 20/s p50 %.1f ms, p99 %.1f ms", run, floor.p50Ms, floor.p99Ms))
    }
    // One request for 100 ids (the records answered, each checked against its anchor), 30 times.
    var manyIDs: [Double] = []
    for index in 0..<30 {
        let chosen = (0..<100).map { ids[(index * 100 + $0 * 7) % ids.count] }
        let started = ContinuousClock.now
        let answer = try await registry.send(
            "POST", "/v1/requests", json: API.RecordsRequest(category: "citizen", ids: chosen, purpose: "registry_update"))
        let elapsed = ContinuousClock.now - started
        guard answer.status == 200, try answer.decode(API.RecordsResponse.self).records.count == 100 else {
            throw NodeError("the 100-id request failed: \(answer.status)")
        }
        manyIDs.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1_000)
    }
    manyIDs.sort()
    results["hundred_ids_ms"] = manyIDs
    let memory = residentMemory()
    progress(String(format: "100 ids: median %.1f ms; resident memory %.0f MB (peak %.0f MB)", manyIDs[15], memory.current, memory.peak))
    bareTask.cancel()
    try await node.stop()
    var output: [String: Any] = [
        "cores": ProcessInfo.processInfo.activeProcessorCount, "seconds": seconds, "connections": connections, "suite": suiteName.rawValue,
        "records": citizens.count, "rss_mb": memory.current, "rss_peak_mb": memory.peak,
    ]
    for (key, values) in results { output[key] = values }
    FileHandle.standardOutput.write(try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys]))
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// This process's resident memory now and at its peak, in MB (/proc/self/status VmRSS, VmHWM).
func residentMemory() -> (current: Double, peak: Double) {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    func value(_ key: String) -> Double {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key + ":") }),
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes / 1_024
    }
    return (value("VmRSS"), value("VmHWM"))
}

struct LoadResult: Codable {
    let rps: Double
    let offered: Double?
    let completed: Int
    let errors: Int
    let p50Ms: Double
    let p99Ms: Double
}

/// The load generator (a process of its own):
///
///   gateway-chain-bench http-load <base-url> <target> <suite> <key.pem> <tls-cert.pem> <tls-key.pem> <server-cert.pem>
///                                 <ids-file> <closed:N|open:RATE> <seconds>
///
/// Every request is signed (RFC 9421) as the registry; `{id}` in the target is replaced by a random id of the file.
/// Closed: N requests in flight, back to back. Open: RATE requests per second on a fixed schedule, latency counted
/// from each request's scheduled time (no coordinated omission). Prints one JSON line.
func httpLoad(_ arguments: [String]) async throws {
    guard arguments.count == 12, let suiteName = SuiteName(rawValue: arguments[4]), let seconds = Double(arguments[11]) else {
        FileHandle.standardError.write(Data("usage: see HTTPBench.swift\n".utf8))
        exit(2)
    }
    let base = arguments[2]
    let target = arguments[3]
    let suite = try suiteName.makeSuite()
    let key = try suite.signingKey(pem: try String(contentsOfFile: arguments[5], encoding: .utf8))
    let identity = try TLSIdentity(
        certificatePEM: try String(contentsOfFile: arguments[6], encoding: .utf8),
        privateKeyPEM: try String(contentsOfFile: arguments[7], encoding: .utf8))
    let server = try String(contentsOfFile: arguments[8], encoding: .utf8)
    let ids = try String(contentsOfFile: arguments[9], encoding: .utf8).split(separator: "\n").map(String.init)
    var configuration = HTTPClient.Configuration()
    configuration.tlsConfiguration = try PinnedTLS.clientConfiguration(identity: identity, trusting: [server])
    configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 128)
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    let client = GatewayClient(baseURL: base, department: DemoConsortium.registry, key: key, suite: suite, http: http)
    let mode = arguments[10].split(separator: ":")
    guard mode.count == 2, let amount = Double(mode[1]), amount >= 1 else { throw NodeError("mode must be closed:N or open:RATE") }
    func one(_ random: inout SystemRandomNumberGenerator) -> String {
        target.replacingOccurrences(of: "{id}", with: ids.randomElement(using: &random) ?? "C0000000")
    }
    // Warm-up: connections opened, first requests answered.
    var random = SystemRandomNumberGenerator()
    for _ in 0..<20 { _ = try? await client.send("GET", one(&random)) }
    let clock = ContinuousClock()
    let started = clock.now
    let deadline = started + .milliseconds(Int(seconds * 1_000))
    let latencies = LatencyBook()
    if mode[0] == "closed" {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<Int(amount) {
                group.addTask {
                    var random = SystemRandomNumberGenerator()
                    while clock.now < deadline {
                        let sent = clock.now
                        let ok = ((try? await client.send("GET", one(&random)))?.status ?? 0) == 200
                        await latencies.add(clock.now - sent, ok: ok)
                    }
                }
            }
        }
    } else {
        let interval = Duration.nanoseconds(Int64(1e9 / amount))
        await withTaskGroup(of: Void.self) { group in
            var scheduled = started
            var random = SystemRandomNumberGenerator()
            while scheduled < deadline {
                try? await clock.sleep(until: scheduled)
                let at = scheduled
                let request = one(&random)
                group.addTask {
                    let ok = ((try? await client.send("GET", request))?.status ?? 0) == 200
                    await latencies.add(clock.now - at, ok: ok, at: at - started)
                }
                scheduled += interval
            }
        }
    }
    let elapsed = clock.now - started
    let total = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let summary = await latencies.summary()
    if let path = ProcessInfo.processInfo.environment["HTTP_LOAD_TRACE"] {
        let lines = await latencies.trace.map {
            "\($0.0.components.seconds * 1000 + $0.0.components.attoseconds / 1_000_000_000_000_000) \($0.1.components.seconds * 1000 + $0.1.components.attoseconds / 1_000_000_000_000_000)"
        }
        try? lines.joined(separator: "\n").write(toFile: path + "-\(Int(amount))", atomically: true, encoding: .utf8)
    }
    let result = LoadResult(
        rps: Double(summary.completed) / total, offered: mode[0] == "open" ? amount : nil, completed: summary.completed, errors: summary.errors,
        p50Ms: summary.p50, p99Ms: summary.p99)
    FileHandle.standardOutput.write(try JSONEncoder().encode(result))
    FileHandle.standardOutput.write(Data("\n".utf8))
    try await http.shutdown()
}

actor LatencyBook {
    var milliseconds: [Double] = []
    var errors = 0

    var trace: [(Duration, Duration)] = []
    func add(_ duration: Duration, ok: Bool, at: Duration? = nil) {
        if let at { trace.append((at, duration)) }
        if !ok { errors += 1 }
        milliseconds.append(Double(duration.components.seconds) * 1_000 + Double(duration.components.attoseconds) / 1e15)
    }

    func summary() -> (completed: Int, errors: Int, p50: Double, p99: Double) {
        let sorted = milliseconds.sorted()
        guard !sorted.isEmpty else { return (0, errors, 0, 0) }
        func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
        return (sorted.count - errors, errors, at(0.5), at(0.99))
    }
}
