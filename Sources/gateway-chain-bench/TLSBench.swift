import Foundation
import GatewayCrypto
import GatewayDemo
import GatewayNode
import GatewayStore
import GatewayTLS
import Logging

/// bench/tls, our side:
///
///   gateway-chain-bench tls <database-url> <runs> <seconds> <work-dir>
///
/// Two solo nodes in this process, the same build and route: one serving HTTPS (TLS 1.3, its P-256 certificate, client
/// certificates asked for), one plain HTTP (`--insecure-http`). wrk (one thread, 16 connections) loads `GET /v1/health`
/// on each for `seconds`: over kept-alive connections, and with `Connection: close` (a new connection, so a full TLS
/// handshake, per request). `openssl s_time -new` counts full handshakes per second. The two
/// nodes alternate, `runs` times. Prints one JSON object.
func tlsBench(_ arguments: [String]) async throws {
    guard arguments.count == 6, let runs = Int(arguments[3]), runs >= 1, let seconds = Int(arguments[4]), (1...120).contains(seconds) else {
        FileHandle.standardError.write(Data("usage: gateway-chain-bench tls <database-url> <runs> <seconds 1…120> <work-dir>\n".utf8))
        exit(2)
    }
    let work = URL(fileURLWithPath: arguments[5])
    try? FileManager.default.removeItem(at: work)
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    var logger = Logger(label: "bench-tls")
    logger.logLevel = .critical
    guard let base = URLComponents(string: arguments[2]) else { throw NodeError("bad database URL \(arguments[2])") }
    var nodes: [(name: String, node: RunningNode)] = []
    for name in ["tls", "plain"] {
        var components = base
        components.path = "/dg_bench_tls_\(name)"
        let url = components.string!
        try await Database.recreate(url: url, logger: logger)
        let consortium = try DemoConsortium.create(in: work.appendingPathComponent("\(name)-departments"), suite: NationalSuite())
        var configuration = NodeConfiguration(
            host: "127.0.0.1", port: 0, databaseURL: url, dataDirectory: work.appendingPathComponent("\(name)-node"), suite: .sm,
            logLevel: .critical, policiesDirectory: URL(fileURLWithPath: "Policies"), schemasDirectory: URL(fileURLWithPath: "Schemas"),
            departmentsFile: consortium.departmentsFile, nodeID: "bench-\(name)", department: DemoConsortium.registry, paillierBits: 1024,
            paillierPoolSize: 0)
        if name == "tls" { configuration.tls = try TLSIdentity.generate(name: "bench-tls") }
        progress("starting the \(name) node")
        nodes.append((name, try await RunningNode.start(configuration, logger: logger)))
    }
    var results: [String: [Double]] = [:]
    for run in 1...runs {
        for (name, node) in nodes {
            let url = node.baseURL + "/v1/health"
            let kept = try wrk(url, seconds: seconds, close: false)
            let fresh = try wrk(url, seconds: seconds, close: true)
            results["\(name)_keepalive_rps", default: []].append(kept)
            results["\(name)_new_connection_rps", default: []].append(fresh)
            var line = String(format: "run %d, %@: %.0f requests/s kept alive, %.0f/s with a new connection each", run, name, kept, fresh)
            if name == "tls" {
                let handshakes = try sTime(port: node.port, seconds: seconds)
                results["tls_full_handshakes_per_s", default: []].append(handshakes)
                line += String(format: ", %.0f full handshakes/s (openssl s_time -new)", handshakes)
            }
            progress(line)
        }
    }
    for (_, node) in nodes { try await node.stop() }
    var output: [String: Any] = ["cores": ProcessInfo.processInfo.activeProcessorCount, "seconds": seconds, "connections": 16]
    for (key, values) in results { output[key] = values }
    FileHandle.standardOutput.write(try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys]))
    FileHandle.standardOutput.write(Data("\n".utf8))
}

/// Requests per second wrk measured (one thread, 16 connections).
func wrk(_ url: String, seconds: Int, close: Bool) throws -> Double {
    let output = try run("/usr/bin/wrk", ["-t1", "-c16", "-d\(seconds)s"] + (close ? ["-H", "Connection: close"] : []) + [url])
    guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("Requests/sec:") }),
        let value = Double(line.split(separator: " ").last ?? "")
    else { throw NodeError("wrk printed no rate:\n\(output)") }
    if let errors = output.split(separator: "\n").first(where: { $0.contains("Non-2xx") || $0.contains("Socket errors") }) {
        progress("wrk: \(errors)")
    }
    return value
}

/// Full TLS handshakes per second (real time), from `openssl s_time -new`.
func sTime(port: Int, seconds: Int) throws -> Double {
    // Handshakes alone (no -www: an HTTP/1.0 request would wait for a close the server leaves to the client).
    let output = try run("/usr/bin/openssl", ["s_time", "-connect", "127.0.0.1:\(port)", "-new", "-time", "\(seconds)"])
    // "1234 connections in 5 real seconds, 567 bytes read per connection"
    guard let line = output.split(separator: "\n").first(where: { $0.contains("connections in") && $0.contains("real seconds") }) else {
        throw NodeError("openssl s_time printed no rate:\n\(output)")
    }
    let words = line.split(separator: " ")
    guard let count = Double(words[0]), let index = words.firstIndex(of: "in"), let real = Double(words[index + 1]), real > 0 else {
        throw NodeError("cannot read \(line)")
    }
    return count / real
}

func run(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}
