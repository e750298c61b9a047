#pragma once
// sage-bench --only svc: service calls from one operator instance, synchronous
// (calls/s, p50 and p99 latency) and through map_async with capacity 100
// (calls/s), in one process and across two nodes (an actor system of its own on
// loopback TCP); and, as the hand-written baseline of the same run, a round trip
// between two threads through a mutex and a condition variable.

#include <cstdint>

#include "bench_common.hpp"

namespace sage::bench {

/// `sync_calls` synchronous and `async_calls` asynchronous calls per
/// measurement, best of `runs`; adds the svc_* pairs to `out` and `extra`.
void service_figures(uint64_t sync_calls, uint64_t async_calls, int runs, Output& out,
                     Output& extra);

}  // namespace sage::bench
