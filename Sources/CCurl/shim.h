#ifndef TOKENKEEPER_CCURL_SHIM_H
#define TOKENKEEPER_CCURL_SHIM_H

// libcurl's setopt/getinfo/multi_setopt are variadic, which Swift cannot call. Each wrapper below
// fixes one argument type so the compiler checks what we pass for each option.

#include <curl/curl.h>

typedef size_t (*tk_curl_data_callback)(char *data, size_t size, size_t count, void *context);

static inline CURLcode tk_curl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode tk_curl_easy_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode tk_curl_easy_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode tk_curl_easy_setopt_bytes(CURL *handle, CURLoption option, const void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode tk_curl_easy_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode tk_curl_easy_setopt_data_callback(
    CURL *handle, CURLoption option, tk_curl_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode tk_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode tk_curl_easy_getinfo_pointer(CURL *handle, CURLINFO info, void **value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLMcode tk_curl_multi_setopt_long(CURLM *handle, CURLMoption option, long value) {
    return curl_multi_setopt(handle, option, value);
}

#endif
