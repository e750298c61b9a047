#pragma once
// sage-bench's TW: a tumbling event-time window count per key. Record i has key
// mix64(i) % 10000 and event time i / 1000 ms (1 s windows of 1 M records); an
// `aggregate` counts per key and window, a sink sums (key + 1) * count. Against
// a loop that counts the same way, one hash map per open window.

#include <cstdint>

#include "bench_common.hpp"

namespace sage::bench {

/// TW over `records` records, best of `runs`; adds tw_* pairs to `out` and `extra`.
void tw_figures(uint64_t records, int runs, Output& out, Output& extra);

}  // namespace sage::bench
