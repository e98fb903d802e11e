// Our side of bench/policy: loads a workload written by bench/policy_workload.py (policies, Cedar-JSON entities,
// requests), then measures decisions. Prints one JSON object on stdout; progress goes to stderr.
// Usage: gateway-policy-bench WORKLOAD.json [seconds]
import Foundation
import GatewayPolicy

func progress(_ message: String) { FileHandle.standardError.write(Data(("[bench] " + message + "\n").utf8)) }

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("gateway-policy-bench: \(message)\n".utf8))
    exit(1)
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else { fail("usage: gateway-policy-bench WORKLOAD.json [seconds]") }
let seconds = arguments.count >= 3 ? Double(arguments[2]) ?? 2 : 2

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

let data: Data
do { data = try Data(contentsOf: URL(fileURLWithPath: arguments[1])) } catch { fail("cannot read \(arguments[1]): \(error)") }
guard let workload = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
    let policyText = workload["policies"] as? String, let entityJSON = workload["entities"] as? [Any],
    let requestJSON = workload["requests"] as? [Any]
else { fail("\(arguments[1]) is not a bench/policy workload") }

let loadStart = now()
let policySet: PolicySet
var store = EntityStore()
let requests: [AuthorizationRequest]
do {
    policySet = try PolicySet(sources: [("workload.cedar", policyText)])
    for (index, item) in entityJSON.enumerated() { store.insert(try CedarJSON.entity(item, at: "entities[\(index)]")) }
    requests = try requestJSON.enumerated().map { try CedarJSON.request($1, at: "requests[\($0)]") }
} catch {
    fail("workload does not load: \(error)")
}
let loadMilliseconds = Double(now() - loadStart) / 1e6
progress(
    "\(policySet.policies.count) policies, \(store.entities.count) entities, \(requests.count) requests loaded in \(String(format: "%.1f", loadMilliseconds)) ms"
)

// The decisions, to compare with the reference engine's.
let decisions = requests.map { policySet.authorize($0, entities: store) }
var errors = 0
for decision in decisions { errors += decision.errors.count }

// Throughput: whole passes over the requests, no clock inside the loop.
var passes = 0
var allowed = 0
let throughputStart = now()
while Double(now() - throughputStart) / 1e9 < seconds / 2 {
    for request in requests where policySet.authorize(request, entities: store).effect == .allow { allowed += 1 }
    passes += 1
}
let throughputSeconds = Double(now() - throughputStart) / 1e9
let perSecond = Double(passes * requests.count) / throughputSeconds

// Latency: each decision timed on its own (the clock read costs ~25 ns, included).
var latencies: [UInt64] = []
latencies.reserveCapacity(1 << 20)
let latencyStart = now()
while Double(now() - latencyStart) / 1e9 < seconds / 2 {
    for request in requests {
        let start = now()
        let decision = policySet.authorize(request, entities: store)
        latencies.append(now() - start)
        if decision.effect == .allow { allowed += 1 }
    }
}
latencies.sort()
let p50 = Double(latencies[latencies.count / 2]) / 1000
let p99 = Double(latencies[min(latencies.count - 1, latencies.count * 99 / 100)]) / 1000

let output: [String: Any] = [
    "policies": policySet.policies.count,
    "requests": requests.count,
    "decisions": decisions.map { $0.effect == .allow },
    "determining": decisions.map { $0.determiningPolicies.sorted() },
    "errors": errors,
    "load_ms": loadMilliseconds,
    "per_s": perSecond,
    "p50_us": p50,
    "p99_us": p99,
    "samples": latencies.count,
    "checksum": allowed,
]
let json = try! JSONSerialization.data(withJSONObject: output, options: [.sortedKeys])
FileHandle.standardOutput.write(json + Data("\n".utf8))
