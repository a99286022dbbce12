// How many repetitions the concurrency tests run. A slow build (ThreadSanitizer runs code 5 to 15
// times slower) sets CREDSTORE_TEST_DIVISOR=N to divide them by N, keeping each race's thread
// count: contention comes from the threads, the repetitions only make a lost race more likely.
#ifndef CREDSTORE_TESTS_SUPPORT_TEST_SCALE_H_
#define CREDSTORE_TESTS_SUPPORT_TEST_SCALE_H_

namespace credstore::testing {

// `full` divided by CREDSTORE_TEST_DIVISOR (unset: 1), and never below `minimum`. A divisor that
// is not a whole number of at least 1 ends the process with a message, so that a typo in CI never
// quietly runs the full counts, nor none.
int ScaledCount(int full, int minimum = 1);

}  // namespace credstore::testing

#endif  // CREDSTORE_TESTS_SUPPORT_TEST_SCALE_H_
