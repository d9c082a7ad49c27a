import CCurl

/// An easy handle and its error buffer, reused from one transfer to the next.
final class CurlEasyHandle {
    let easy: UnsafeMutableRawPointer
    let errorBuffer: UnsafeMutablePointer<CChar>

    init?() {
        guard let easy = tk_curl_easy_init() else { return nil }
        self.easy = easy
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        tk_curl_easy_cleanup(easy)
        errorBuffer.deallocate()
    }
}

/// Loads libcurl and runs `curl_global_init`, once per process and before the first handle
/// (neither is thread-safe itself; a Swift global's initializer runs exactly once).
enum CurlGlobal {
    /// Nil once libcurl is ready, else why it is not.
    static let failure: String? = {
        guard tk_curl_load_once() == 1 else {
            return "libcurl could not be loaded (\(String(cString: tk_curl_load_error()))); "
                + "install it (Debian: apt-get install libcurl4)"
        }
        guard tk_curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK else { return "curl_global_init failed" }
        return nil
    }()
}
