// Nothing to import: the target only defines the three symbols of TSanMutexAnnotations.c, which
// take the place of libswiftSynchronization's in a `scripts/tsan` build (TOKENKEEPER_TSAN=1).
