// An LD_PRELOAD shim that counts fsync(2) and fdatasync(2) calls, for rocksdb_tests.
//
// Preloaded into a child process, it wraps libc's functions (calls from librocksdb.so resolve to
// these first) and forwards every call unchanged. The child reads the counts through
// credstore_test_fsync_calls() and credstore_test_fdatasync_calls(), found with
// dlsym(RTLD_DEFAULT, ...), so it can tell the shim is really loaded.
#include <dlfcn.h>

#include <atomic>
#include <cerrno>

namespace {

using SyncFunction = int (*)(int);

std::atomic<unsigned long> fsync_calls{0};
std::atomic<unsigned long> fdatasync_calls{0};

SyncFunction Next(const char* name) {
  return reinterpret_cast<SyncFunction>(dlsym(RTLD_NEXT, name));
}

int Forward(SyncFunction function, int fd) {
  if (function == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return function(fd);
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int fsync(int fd) {
  static const SyncFunction next = Next("fsync");
  fsync_calls.fetch_add(1, std::memory_order_relaxed);
  return Forward(next, fd);
}

__attribute__((visibility("default"))) int fdatasync(int fd) {
  static const SyncFunction next = Next("fdatasync");
  fdatasync_calls.fetch_add(1, std::memory_order_relaxed);
  return Forward(next, fd);
}

__attribute__((visibility("default"))) unsigned long credstore_test_fsync_calls() {
  return fsync_calls.load(std::memory_order_relaxed);
}

__attribute__((visibility("default"))) unsigned long credstore_test_fdatasync_calls() {
  return fdatasync_calls.load(std::memory_order_relaxed);
}

}  // extern "C"
