import Foundation
import HTTPTypes

/// Where a request path leads.
enum Route: Equatable {
    /// A Provisioning call (with its project id) or the OAuth2 token call (no project).
    case endpoint(FakeSinchEndpoint, project: String?)
    /// `/_fake/...`: the path components after `_fake`.
    case admin([String])
    case notFound

    init(path: String) {
        let parts = path.split(separator: "/")
        switch parts.count {
        case 2 where parts[0] == "oauth2" && parts[1] == "token":
            self = .endpoint(.oauthToken, project: nil)
        case 5 where parts[0] == "v1" && parts[1] == "projects" && parts[3] == "whatsapp":
            guard let endpoint = FakeSinchEndpoint(rawValue: String(parts[4])), endpoint.isProvisioning else {
                self = .notFound
                return
            }
            let project = String(parts[2])
            self = .endpoint(endpoint, project: project.removingPercentEncoding ?? project)
        case 1... where parts[0] == "_fake":
            self = .admin(parts.dropFirst().map(String.init))
        default:
            self = .notFound
        }
    }
}

extension FakeSinchEndpoint {
    /// The one method the call accepts.
    var method: HTTPRequest.Method {
        self == .enableTemplateAnalytics ? .put : .post
    }
}
