import Foundation
import GatewayChain
import GatewayClient
import GatewayCrypto
import GatewayDemo
import GatewayFiles
import GatewayNode
import GatewayStore
import GatewayWire
import Logging

/// bench/statistics, our side:
///
///   gateway-chain-bench statistics <database-url> <values> <runs> <work-dir>
///
/// A four-node consortium in this process (3-of-4 key, 2048 bits). Three departments' nodes hold `values` encrypted
/// incomes between them, in ten districts, as running sums written the way publishes of 10,000 records write
/// them (tagged with each node's key). Timed: `POST /v1/statistics` at the statistics office's node, from request to
/// released result (each holder's decision on chain, the decryption request, three share holders' partial
/// decryptions with proofs, the combination), `runs` times; and the full recomputation of the same statistic from
/// every ciphertext (homomorphic sums per group, then threshold decryption: three partials with proofs, combined).
/// Writes the values, the ciphertexts' obfuscators and the key's factors to <work-dir> for the reference
/// (bench/statistics_reference.py), and prints one JSON object.
func statisticsBench(_ arguments: [String]) async throws {
    guard arguments.count == 6, let count = Int(arguments[3]), count >= 1_000, let runs = Int(arguments[4]), runs >= 1 else {
        FileHandle.standardError.write(Data("usage: gateway-chain-bench statistics <database-url> <values> <runs> <work-dir>\n".utf8))
        exit(2)
    }
    let work = URL(fileURLWithPath: arguments[5])
    try? FileManager.default.removeItem(at: work)
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    var logger = Logger(label: "bench-statistics")
    logger.logLevel = .critical
    // The demo schema with ten districts (three more than the demo's seven), so that the statistic has exactly the
    // ten groups of the target; the nodes load policies and schemas from this copy.
    let districts = ["fatima", "santo_antonio", "sao_lazaro", "se", "sao_lourenco", "taipa", "coloane", "nam_van", "areia_preta", "cotai"]
    let schemas = work.appendingPathComponent("schemas")
    try FileManager.default.createDirectory(at: schemas, withIntermediateDirectories: true)
    for file in try FileManager.default.contentsOfDirectory(atPath: "Schemas") {
        try FileManager.default.copyItem(atPath: "Schemas/" + file, toPath: schemas.appendingPathComponent(file).path)
    }
    let citizen = schemas.appendingPathComponent("citizen.schema.json")
    let original = try String(contentsOf: citizen, encoding: .utf8)
    let widened = original.replacingOccurrences(
        of: "\"taipa\", \"coloane\"]", with: "\"taipa\", \"coloane\", \"nam_van\", \"areia_preta\", \"cotai\"]")
    guard widened != original else { throw NodeError("the district enum of Schemas/citizen.schema.json was not found") }
    try widened.write(to: citizen, atomically: true, encoding: .utf8)
    let factors = FactorBox()
    progress("starting four nodes in this process (3-of-4 aggregation key, 2048-bit modulus: safe primes take a while)")
    let cluster = try await DemoCluster.start(
        in: work.appendingPathComponent("cluster"), databaseURL: arguments[2], suite: .intl,
        policies: URL(fileURLWithPath: "Policies").standardizedFileURL, schemas: schemas.standardizedFileURL,
        aggregationBits: 2_048, logLevel: .critical, logger: logger, progress: { progress($0) }, revealingFactorsTo: { factors.set($0, $1) })
    let holders = [DemoConsortium.registry, DemoConsortium.socialSecurity, DemoConsortium.housing].compactMap { cluster.node(of: $0) }
    guard let office = cluster.node(of: DemoConsortium.statistics), holders.count == 3, let (p, q) = factors.value else {
        throw NodeError("the bench cluster lacks a node or the key's factors")
    }
    let key = office.node.aggregation
    let publicKey = key.publicKey
    let bands = ["0-17", "18-34", "35-64", "65+"]
    // GROUP_BY=district (10 groups, the default) or district,age_band (40 groups).
    let byBand = ProcessInfo.processInfo.environment["GROUP_BY"] == "district,age_band"
    let groupCount = byBand ? 40 : 10

    // The values and their ciphertexts: (1 + m·n) · rⱼⁿ with 256 precomputed obfuscators (the same ciphertexts go to
    // the reference). Encrypting a million values the node's way would take longer than the benchmark.
    progress("encrypting \(count) incomes (256 precomputed obfuscators)")
    var random = SplitMix64(seed: 14)
    let obfuscators = (0..<256).map { _ in
        GMPInteger.random(below: publicKey.n, using: SystemRandom()).power(publicKey.n, modulo: publicKey.nSquared)
    }
    let values = (0..<count).map { _ in Int32(8_000 + random.next() % 60_000) }
    let ciphertexts = (0..<count).map { index in
        let gm = (GMPInteger(1) + GMPInteger(Int(values[index])) * publicKey.n).modulo(publicKey.nSquared)
        return PaillierCiphertext(value: gm.multiplied(by: obfuscators[index % 256], modulo: publicKey.nSquared))
    }
    func district(_ index: Int) -> Int { index % 10 }
    func band(_ index: Int) -> Int { (index / 30) % 4 }
    /// The group a value counts in under the requested grouping.
    func group(_ index: Int) -> Int { byBand ? district(index) * 4 + band(index) : district(index) }
    func holder(_ index: Int) -> Int { (index / 10) % 3 }

    // Running sums per holder: a row per 10,000 of its records per district, tagged with the holder's key.
    progress("writing each holder's running sums (a row per district per 10,000 records)")
    var expected = [Int64](repeating: 0, count: groupCount)
    for index in 0..<count { expected[group(index)] += Int64(values[index]) }
    for (number, node) in holders.enumerated() {
        let directory = node.node.configuration.dataDirectory
        let recordKey = Hex.decode(try String(contentsOf: directory.appendingPathComponent("record-key.hex"), encoding: .utf8).trimmed) ?? []
        let salt = Hex.decode(try String(contentsOf: directory.appendingPathComponent("salt.hex"), encoding: .utf8).trimmed) ?? []
        let writer = RecordVault(suite: node.node.suite, recordKey: recordKey, salt: salt).runningSums(publicKey)
        let mine = (0..<count).filter { holder($0) == number }
        var rows: [RunningSum] = []
        for start in stride(from: 0, to: mine.count, by: 10_000) {
            let batch = mine[start..<min(mine.count, start + 10_000)]
            var groups: [Int: [PaillierCiphertext]] = [:]
            for index in batch { groups[district(index) * 4 + band(index), default: []].append(ciphertexts[index]) }
            for (finest, list) in groups.sorted(by: { $0.key < $1.key }) {
                let groupKey = "{\"age_band\":\"\(bands[finest % 4])\",\"district\":\"\(districts[finest / 4])\"}"
                let product = publicKey.sum(list).value.bigEndianBytes(width: (publicKey.nSquared.bitWidth + 7) / 8)
                rows.append(
                    RunningSum(
                        id: 0, category: "citizen", field: "monthly_income", groupKey: groupKey, ciphertext: product, records: list.count,
                        cohort: list.count, tag: writer.tag("citizen", "monthly_income", groupKey, product, list.count, list.count)))
            }
        }
        try await RecordStore(database: node.node.database).insertRunningSums(rows)
    }

    // End to end, from the request at the office's node to the released result.
    let client = GatewayClient(
        baseURL: office.baseURL, department: DemoConsortium.statistics, key: cluster.consortium.keys[DemoConsortium.statistics]!,
        suite: office.node.suite)
    let request = API.StatisticsRequest(
        category: "citizen", field: "monthly_income", groupBy: byBand ? ["district", "age_band"] : ["district"], purpose: "official_statistics",
        holders: [DemoConsortium.registry, DemoConsortium.socialSecurity, DemoConsortium.housing])
    var endToEnd: [Double] = []
    for run in 0...runs {
        let started = ContinuousClock.now
        let response = try await client.send("POST", "/v1/statistics", json: request)
        let elapsed = ContinuousClock.now - started
        guard response.status == 200 else {
            throw NodeError("statistic failed: HTTP \(response.status) \(String(decoding: response.body.prefix(400), as: UTF8.self))")
        }
        let statistic = try response.decode(API.StatisticsResponse.self)
        for group in statistic.groups {
            guard let name = group.key["district"]?.stringValue, let index = districts.firstIndex(of: name) else {
                throw NodeError("unexpected group \(group.key)")
            }
            let position = byBand ? index * 4 + (bands.firstIndex(of: group.key["age_band"]?.stringValue ?? "") ?? 0) : index
            guard group.sum == expected[position] else { throw NodeError("statistic differs from the plaintext: \(group.key) \(group.sum ?? -1)") }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        // The first run warms connections and caches; it is reported apart.
        if run > 0 { endToEnd.append(seconds) }
        progress(String(format: "statistic %d: %.3f s end to end%@", run, seconds, run == 0 ? " (warm-up)" : ""))
    }

    // The full recomputation: every ciphertext summed per group, then decrypted by three shares with proofs.
    progress("full recomputation: \(count) ciphertexts summed per district, then threshold-decrypted")
    let shares = cluster.nodes.compactMap { $0.node.aggregation.share }.prefix(3)
    let scheme = key.scheme
    var recompute: [Double] = []
    var summing: [Double] = []
    var groups = [[PaillierCiphertext]](repeating: [], count: groupCount)
    for index in 0..<count { groups[group(index)].append(ciphertexts[index]) }
    func since(_ start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
    for _ in 0..<runs {
        let started = ContinuousClock.now
        let sums = groups.map { publicKey.sum($0) }
        let summed = since(started)
        // As the consortium decrypts: the groups packed into slots wide enough for any sum of 64-bit values (what a
        // field without schema bounds gets), each share holder's partials with proofs (the holders work at once, as
        // three nodes do), every proof checked, then combined and unpacked.
        let packing = PaillierPacking(
            publicKey: publicKey, slotBits: PaillierPacking.slotBits(magnitude: GMPInteger(count) * GMPInteger.powerOfTwo(63)))
        let packed = packing.pack(sums)
        let holders = Array(shares)
        let partials = try parallelMap(holders.count) { index in
            Result { try packed.map { try scheme.partialDecrypt($0, share: holders[index]) } }
        }.map { try $0.get() }
        let plaintexts = try packed.indices.map { index in try scheme.combine(partials.map { $0[index] }, for: packed[index]) }
        let decrypted = try packing.unpack(plaintexts, count: sums.count)
        let total = since(started)
        guard decrypted.map({ $0.intValue.map(Int64.init) }) == expected.map({ Optional($0) }) else {
            throw NodeError("the recomputation differs from the plaintext")
        }
        recompute.append(total)
        summing.append(summed)
        progress(String(format: "recomputation: %.3f s (sums %.3f s, threshold decryption with proofs %.3f s)", total, summed, total - summed))
    }
    await cluster.stop()

    // For the reference: the key's factors, the obfuscators and the values (binary, little-endian int32).
    let reference: [String: Any] = [
        "n": publicKey.n.toString(), "p": p.toString(), "q": q.toString(), "obfuscators": obfuscators.map { $0.toString() },
        "groups": groupCount, "expected": expected, "by_band": byBand,
    ]
    try JSONSerialization.data(withJSONObject: reference).write(to: work.appendingPathComponent("reference.json"))
    try values.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: work.appendingPathComponent("values.bin"))
    let output: [String: Any] = [
        "values": count, "groups": groupCount, "holders": 3, "threshold": key.summary, "bits": publicKey.bits,
        "cores": ProcessInfo.processInfo.activeProcessorCount,
        "end_to_end_s": endToEnd, "recompute_s": recompute, "sum_s": summing,
    ]
    FileHandle.standardOutput.write(try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys]))
    FileHandle.standardOutput.write(Data("\n".utf8))
}

final class FactorBox: @unchecked Sendable {
    // Safety: set once, during the deal, before it is read.
    var value: (GMPInteger, GMPInteger)?
    func set(_ p: GMPInteger, _ q: GMPInteger) { value = (p, q) }
}

extension String {
    var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
