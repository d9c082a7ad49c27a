import FakeSinch
import Foundation
import Testing
import TokenKeeperTesting

/// Two hosts on one machine: daemons in two network namespaces reach PostgreSQL and FakeSinch
/// over TCP on the host's side of a veth pair each, and share the work without a double refresh
/// (<doc:Architecture#The-store-seam>). Nothing may assume one machine. Needs root (`ip netns`).
@Suite(.enabled(if: TestBackend.all.contains(.postgres) && TestHosts.available))
struct TwoHostsCLITests {
    @Test(.timeLimit(.minutes(6)))
    func daemonsInTwoNetworkNamespacesExchangeEachTokenOnce() async throws {
        let hosts = try TestHosts.make(count: 2)
        defer { hosts.remove() }
        let server = try await PrivatePostgres.start(listen: [hosts.serverAddress], allow: [hosts.network])
        defer { server.stop() }
        try await SinchHarness.scene(host: hosts.serverAddress) { sinch in
            var sandbox = CLISandbox(uninitializedWith: [:])
            sandbox.usePostgres(url: server.url(host: hosts.serverAddress), password: server.password)
            sandbox.point(
                at: sinch,
                environment: [
                    "TOKENKEEPER_RATE": "1000", "TOKENKEEPER_CONCURRENCY": "4",
                    // FakeSinch is plain HTTP on the server address (this machine's own test
                    // network, not loopback: allowed on purpose), never through a proxy.
                    "no_proxy": hosts.serverAddress, "NO_PROXY": hosts.serverAddress,
                    "SINCH_ALLOW_INSECURE_HTTP": "true",
                ]
            )
            try await sandbox.initialize()
            sinch.fake.inject(FakeSinchFaultRule(.latency(.milliseconds(150)), endpoint: .longLivedAccessToken))

            let daemons = try hosts.namespaces.map { try sandbox.spawn(["daemon"], inNamespace: $0) }
            defer { for daemon in daemons where daemon.isRunning { kill(daemon.processIdentifier, SIGKILL) } }
            // Both listening, each from its own host's address, before any token is there.
            let clients = "SELECT client_addr FROM pg_stat_activity WHERE query LIKE 'LISTEN%' ORDER BY 1"
            try await waitUntil("both daemons to LISTEN from their namespaces", within: .seconds(60)) {
                try await sandbox.underTheSeam(clients) == hosts.clientAddresses.map { $0 + "\n" }.joined()
            }

            let tokens = (0..<40).map { _ in sinch.fake.issueToken() }
            let expires = ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400))
            for token in tokens { _ = try await sandbox.add(token, "--expires-at", expires) }
            try await waitUntil("every token exchanged", within: .seconds(90)) {
                guard sinch.fake.stats().count(.longLivedAccessToken, status: 201) >= tokens.count else { return false }
                return try await sandbox.auditJSON("--event", "refreshed").count >= tokens.count
            }
            for daemon in daemons { kill(daemon.processIdentifier, SIGTERM) }
            for daemon in daemons { try #require(try await daemon.exited(), "a daemon did not stop on SIGTERM") }

            try sinch.expectEachExchangedOnce(tokens)
            #expect(daemons.allSatisfy { $0.terminationStatus == 0 })
            #expect(try await sandbox.run("audit", "verify").status == 0)
            // Both hosts did part of it, each under an owner of its own (host:pid:nonce).
            let actors = Set(try await sandbox.auditJSON("--event", "refreshed").compactMap { $0["actor"]?.string })
            #expect(actors.count == 2, "refreshed by \(actors)")
            #expect(actors.allSatisfy { $0.wholeMatch(of: /[^:]+:[0-9]+:[0-9a-f]{8}/) != nil }, "\(actors)")
        }
    }
}

/// Test hosts on this machine: a network namespace each, joined to the host by a veth pair
/// whose host side has an address from 198.18.0.0/15 (the benchmarking range, never routed
/// elsewhere). ``remove()`` deletes the namespaces and links; call it in a `defer`.
struct TestHosts: Sendable {
    let namespaces: [String]
    private let links: [String]
    /// The host side's address of the first pair, where the servers listen; every namespace
    /// routes to it.
    let serverAddress: String
    /// Each namespace's own address, in order.
    let clientAddresses: [String]
    /// The block every address here comes from, for the server's allow list.
    let network: String

    /// Root with `ip netns`: the only way to make hosts here.
    static let available: Bool = geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip")

    /// Makes `count` namespaces; on any failure removes what it made and throws.
    static func make(count: Int) throws -> TestHosts {
        // One /24 of 198.18.0.0/15 for this run, a /30 per host: .4n+1 the host side, .4n+2 the namespace.
        let block = Int.random(in: 0..<256)
        let tag = String(Int.random(in: 0..<0x10000), radix: 16)
        let namespaces = (0..<count).map { "tk\(tag)n\($0)" }
        let links = (0..<count).map { "tk\(tag)h\($0)" }
        let hostSide = (0..<count).map { "198.18.\(block).\(4 * $0 + 1)" }
        let clients = (0..<count).map { "198.18.\(block).\(4 * $0 + 2)" }
        let hosts = TestHosts(
            namespaces: namespaces,
            links: links,
            serverAddress: hostSide[0],
            clientAddresses: clients,
            network: "198.18.\(block).0/24"
        )
        do {
            for index in 0..<count {
                let (namespace, link, peer) = (namespaces[index], links[index], "tk\(tag)p\(index)")
                try ip("netns", "add", namespace)
                try ip("link", "add", link, "type", "veth", "peer", "name", peer)
                try ip("link", "set", peer, "netns", namespace)
                try ip("addr", "add", hostSide[index] + "/30", "dev", link)
                try ip("link", "set", link, "up")
                try ip("-n", namespace, "addr", "add", clients[index] + "/30", "dev", peer)
                try ip("-n", namespace, "link", "set", peer, "up")
                try ip("-n", namespace, "link", "set", "lo", "up")
                // The servers listen on the first pair's host side: reached through this one's.
                try ip("-n", namespace, "route", "add", "default", "via", hostSide[index])
            }
        } catch {
            hosts.remove()
            throw error
        }
        return hosts
    }

    /// Deletes the namespaces (their ends of the pairs go with them) and any host side left.
    func remove() {
        for namespace in namespaces { try? Self.ip("netns", "del", namespace) }
        for link in links { try? Self.ip("link", "del", link) }
    }

    private static func ip(_ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = arguments
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        let problem = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CLITestFailure("ip \(arguments.joined(separator: " ")): \(problem)")
        }
    }
}

extension CLISandbox {
    /// ``spawn(_:stderrFile:importing:)`` in network namespace `namespace` (`ip netns exec`).
    func spawn(_ arguments: [String], inNamespace namespace: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        process.arguments = ["netns", "exec", namespace, cli.executable] + arguments
        process.environment = cli.environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}
