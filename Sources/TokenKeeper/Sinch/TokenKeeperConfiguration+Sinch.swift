import Foundation
import Logging
import SinchProvisioning

extension TokenKeeperConfiguration {
    /// The Sinch client this configuration describes, over a new libcurl transport.
    ///
    /// Fails with a configuration error (exit 64) naming the settings when the key is missing.
    package func sinchClient(logger: Logger) throws -> SinchClient {
        guard let keyID = sinch.keyID, let keySecret = sinch.keySecret else {
            let missing = [
                sinch.keyID == nil ? "SINCH_KEY_ID (sinch.key_id)" : nil,
                sinch.keySecret == nil ? "SINCH_KEY_SECRET (sinch.key_secret)" : nil,
            ].compactMap { $0 }
            throw TokenKeeperError(
                .configuration,
                "this command calls Sinch and needs an access key: set \(missing.joined(separator: " and "))"
            )
        }
        try refuseCleartext(logger: logger)
        if let bundle = sinch.caBundle, !FileManager.default.isReadableFile(atPath: bundle) {
            throw TokenKeeperError(
                .configuration,
                "the CA bundle \(bundle) (SINCH_CA_BUNDLE, sinch.ca_bundle) is missing or not readable"
            )
        }
        let transport: CurlTransport
        do {
            transport = try CurlTransport(
                configuration: CurlTransportConfiguration(
                    connectTimeout: min(.seconds(10), httpTimeout),
                    timeout: httpTimeout,
                    userAgent: "tokenkeeper/\(TokenKeeperVersion.current)",
                    caBundle: sinch.caBundle
                )
            )
        } catch {
            throw TokenKeeperError(.sinchUnavailable, "cannot start the HTTP client: \(error)")
        }
        let configuration = SinchConfiguration(
            provisioningURL: sinch.provisioningURL,
            authURL: sinch.authURL,
            credentials: SinchCredentials(keyID: keyID, keySecret: keySecret, source: sinch.credentialSource),
            authentication: sinch.auth == .basic ? .basic : .oauth2
        )
        return SinchClient(configuration: configuration, transport: transport, logger: logger)
    }

    /// Refuses (exit 64) a plain `http://` Sinch or auth URL whose traffic would leave this
    /// machine, before anything is sent: the access key and every token would cross the network
    /// in clear. A loopback host (``isLoopback(_:)``) stays on the machine unless libcurl would
    /// send it through a proxy (`http_proxy` or `all_proxy`, the host not in `no_proxy`). With
    /// `sinch.allow_insecure_http` such a URL is used, with a warning at every start.
    package func refuseCleartext(
        logger: Logger,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        for (key, variable, url) in [
            ("sinch.provisioning_url", "SINCH_PROVISIONING_URL", sinch.provisioningURL),
            ("sinch.auth_url", "SINCH_AUTH_URL", sinch.authURL),
        ] {
            let parsed = URL(string: url)
            guard parsed?.scheme?.lowercased() != "https" else { continue }
            let host = parsed?.host ?? ""
            let proxied = Self.proxy(for: host, environment: environment)
            guard !Self.isLoopback(host) || proxied != nil else { continue }
            let route = proxied.map { " through the proxy \($0)" } ?? ""
            guard sinch.allowInsecureHTTP else {
                throw TokenKeeperError(
                    .configuration,
                    "refusing plain http:// to \(host.isEmpty ? url : host)\(route) in \(key) (\(variable)): the Sinch "
                        + "access key and the tokens would travel in clear; use https://, or set "
                        + "sinch.allow_insecure_http: true (SINCH_ALLOW_INSECURE_HTTP=true) to send them anyway"
                )
            }
            logger.warning(
                "sending the Sinch access key and tokens in clear: \(key) is plain http:// to \(host)\(route) and sinch.allow_insecure_http is set"
            )
        }
    }

    /// `localhost`, `127.0.0.0/8` (four decimal octets) or `::1`: a host whose traffic never
    /// leaves the machine.
    static func isLoopback(_ host: String) -> Bool {
        let bare = unbracketed(host)
        if bare.lowercased() == "localhost" || bare == "::1" { return true }
        let octets = bare.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127"
            && octets.allSatisfy {
                !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) && Int($0)! <= 255
            }
    }

    /// The proxy libcurl would send a plain-HTTP request for `host` through, nil when none: the
    /// lowercase `http_proxy` (libcurl ignores `HTTP_PROXY`), else `all_proxy`/`ALL_PROXY`, unless
    /// `no_proxy`/`NO_PROXY` names the host, a domain above it, or `*`.
    static func proxy(for host: String, environment: [String: String]) -> String? {
        let bare = unbracketed(host).lowercased()
        let proxy = [environment["http_proxy"], environment["all_proxy"], environment["ALL_PROXY"]]
            .compactMap { $0?.trimmingCharacters(in: .whitespaces) }.first { !$0.isEmpty }
        guard let proxy else { return nil }
        let exempt = (environment["no_proxy"] ?? environment["NO_PROXY"] ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        for entry in exempt where !entry.isEmpty {
            if entry == "*" { return nil }
            let name = unbracketed(entry.hasPrefix(".") ? String(entry.dropFirst()) : entry)
            if bare == name || bare.hasSuffix("." + name) { return nil }
        }
        // The proxy's address only, never credentials it may carry (`http://user:pass@proxy`).
        guard let url = URL(string: proxy.contains("://") ? proxy : "http://" + proxy), let proxyHost = url.host else {
            return "(set in the environment)"
        }
        return url.port.map { "\(proxyHost):\($0)" } ?? proxyHost
    }

    /// An IPv6 literal without its URL brackets (`[::1]` is `::1`); any other host as it is.
    private static func unbracketed(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }
}
