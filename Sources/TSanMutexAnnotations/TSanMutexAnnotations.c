// Makes Synchronization.Mutex visible to ThreadSanitizer; linked only into a `scripts/tsan` build
// (TOKENKEEPER_TSAN=1, see Package.swift), never into a release.
//
// On Linux, Mutex.withLock is inlined into the caller: its fast path is one compare-and-swap of the
// lock word, which TSan instruments like any atomic (an acquire on lock, a release on unlock). When
// the lock is contended it calls _lockSlow, _tryLockSlow or _unlockSlow in libswiftSynchronization.so,
// which is not built with TSan: they spin with a plain `lock cmpxchg` and hand the lock over in the
// kernel (futex FUTEX_LOCK_PI / FUTEX_UNLOCK_PI). TSan sees neither, so the thread that gets a
// contended lock has no happens-before edge from the one that let it go, and TSan reports the data
// the lock protects as a race (Swift 6.3.1; seen on FakeSinch's state and swift-subprocess's monitor
// state, both only ever touched inside withLock).
//
// These definitions take the place of the library's for every caller in the binary (the static
// linker binds the executable's own definition first). Each calls the library's function (dlsym
// RTLD_NEXT) and adds the edge TSan misses, on the lock word itself, the same address as the fast
// path's atomics: __tsan_release before a slow unlock, __tsan_acquire after a slow lock. Nothing is
// ignored or suppressed: an access outside the lock is still a race.
//
// The three are swiftcc methods of Synchronization._MutexHandle: self (the lock word's address) is
// in the Swift context register (`swift_context` in clang), _lockSlow's argument is the caller's
// thread id. Their mangled names are ABI, as inlined callers link against them; if a toolchain drops
// one, dlsym fails and this aborts loudly rather than testing without the edges.
#include "TSanMutexAnnotations.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SWIFTCC __attribute__((swiftcall))
#define SWIFT_SELF __attribute__((swift_context))

#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define TRY_LOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"

// The TSan runtime's annotations (compiler-rt tsan_interface.h).
void __tsan_acquire(void *address);
void __tsan_release(void *address);

typedef SWIFTCC void (*tk_lock_slow)(uint32_t thread, void *SWIFT_SELF handle);
typedef SWIFTCC bool (*tk_try_lock_slow)(void *SWIFT_SELF handle);
typedef SWIFTCC void (*tk_unlock_slow)(void *SWIFT_SELF handle);

static tk_lock_slow tk_library_lock_slow;
static tk_try_lock_slow tk_library_try_lock_slow;
static tk_unlock_slow tk_library_unlock_slow;
static pthread_once_t tk_resolve_once = PTHREAD_ONCE_INIT;

static void *tk_resolve_one(const char *symbol) {
    void *function = dlsym(RTLD_NEXT, symbol);
    if (function == NULL) {
        fprintf(stderr, "TSanMutexAnnotations: libswiftSynchronization has no %s\n", symbol);
        abort();
    }
    return function;
}

static void tk_resolve(void) {
    *(void **)(&tk_library_lock_slow) = tk_resolve_one(LOCK_SLOW);
    *(void **)(&tk_library_try_lock_slow) = tk_resolve_one(TRY_LOCK_SLOW);
    *(void **)(&tk_library_unlock_slow) = tk_resolve_one(UNLOCK_SLOW);
}

SWIFTCC void tk_lock_slow_annotated(uint32_t thread, void *SWIFT_SELF handle) __asm__(LOCK_SLOW);
SWIFTCC void tk_lock_slow_annotated(uint32_t thread, void *SWIFT_SELF handle) {
    pthread_once(&tk_resolve_once, tk_resolve);
    tk_library_lock_slow(thread, handle);
    __tsan_acquire(handle);
}

SWIFTCC bool tk_try_lock_slow_annotated(void *SWIFT_SELF handle) __asm__(TRY_LOCK_SLOW);
SWIFTCC bool tk_try_lock_slow_annotated(void *SWIFT_SELF handle) {
    pthread_once(&tk_resolve_once, tk_resolve);
    bool locked = tk_library_try_lock_slow(handle);
    if (locked) __tsan_acquire(handle);
    return locked;
}

SWIFTCC void tk_unlock_slow_annotated(void *SWIFT_SELF handle) __asm__(UNLOCK_SLOW);
SWIFTCC void tk_unlock_slow_annotated(void *SWIFT_SELF handle) {
    pthread_once(&tk_resolve_once, tk_resolve);
    __tsan_release(handle);
    tk_library_unlock_slow(handle);
}
