import GatewayCrypto
import GatewaySchema

/// Generates synthetic citizens (no real personal data) for the `citizen` category, from a fixed seed.
/// Coloane is deliberately sparse (fewer than 10 citizens) so that statistics must suppress it.
package enum SyntheticCitizens {
    package static let commonDistricts = ["fatima", "santo_antonio", "sao_lazaro", "se", "sao_lourenco", "taipa"]
    package static let sparseDistrict = "coloane"

    static let givenNames = [
        "Ana", "Bruno", "Carla", "Chan", "Daniel", "Filipa", "Hou", "Iris", "Joao", "Kin", "Lei", "Maria",
        "Nuno", "Pedro", "Sam", "Sofia", "Tiago", "Wai", "Wong", "Yan",
    ]
    static let familyNames = [
        "Au", "Chan", "Cheang", "Costa", "Fong", "Ho", "Lam", "Leong", "Lopes", "Ng", "Pereira", "Sou",
        "Tam", "Vong", "Wong",
    ]

    package static func generate(count: Int, seed: UInt64) -> [JSONValue] {
        var random = SplitMix64(seed: seed)
        var records: [JSONValue] = []
        records.reserveCapacity(count)
        // A random permutation offset keeps ids unique but not sequential.
        let stride = 7_919
        for index in 0..<count {
            let id = "C" + pad((index * stride + 1_000_003) % 10_000_000, width: 7)
            let year = 1935 + Int(random.next() % 86)
            let month = 1 + Int(random.next() % 12)
            let day = 1 + Int(random.next() % 28)
            let age = 2026 - year
            let band = age < 18 ? "0-17" : age < 35 ? "18-34" : age < 65 ? "35-64" : "65+"
            let district = index % 200 == 7 ? sparseDistrict : commonDistricts[Int(random.next() % UInt64(commonDistricts.count))]
            let income = age < 18 ? 0 : 8_000 + Int(random.next() % 60_000)
            let name =
                givenNames[Int(random.next() % UInt64(givenNames.count))] + " "
                + familyNames[Int(random.next() % UInt64(familyNames.count))]
            records.append(
                .object([
                    "citizen_id": .string(id),
                    "full_name": .string(name),
                    "birth_date": .string("\(year)-\(pad(month, width: 2))-\(pad(day, width: 2))"),
                    "sex": .string(["F", "M", "X"][Int(random.next() % 100) < 49 ? 0 : Int(random.next() % 100) < 98 ? 1 : 2]),
                    "district": .string(district),
                    "age_band": .string(band),
                    "phone": .string("+853 6" + pad(Int(random.next() % 10_000_000), width: 7)),
                    "monthly_income": .integer(Int64(income)),
                    "household_size": .integer(Int64(1 + random.next() % 6)),
                ]))
        }
        return records
    }

    static func pad(_ value: Int, width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
