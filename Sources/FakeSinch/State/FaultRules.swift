/// The injected fault rules, checked in the order they were added.
struct FaultRules {
    private var rules: [FakeSinchFaultRule] = []

    var isEmpty: Bool { rules.isEmpty }

    mutating func add(_ rule: FakeSinchFaultRule) {
        guard rule.count.map({ $0 > 0 }) ?? true else { return }
        rules.append(rule)
    }

    mutating func removeAll() {
        rules.removeAll()
    }

    /// The fault for one request, if a rule matches and wins its draw; a rule with a count is
    /// used up by it.
    mutating func take(
        endpoint: FakeSinchEndpoint,
        project: String?,
        lineage: String?,
        random: inout FakeRandom
    ) -> FakeSinchFault? {
        for index in rules.indices
        where rules[index].matches(endpoint: endpoint, project: project, lineage: lineage) {
            let rate = rules[index].rate
            if rate < 1 {
                guard rate > 0, Double.random(in: 0..<1, using: &random) < rate else { continue }
            }
            let fault = rules[index].fault
            if let count = rules[index].count {
                if count <= 1 {
                    rules.remove(at: index)
                } else {
                    rules[index].count = count - 1
                }
            }
            return fault
        }
        return nil
    }
}
