#pragma once
// sage-bench's latency: source -> map -> key_by -> map -> sink at a fixed rate, the
// time from the source's emit to the sink (default config, buffer.timeout 0, no chaining).

#include <cstdint>

#include "bench_common.hpp"

namespace sage::bench {

/// `rate` records per second for `seconds`, once per config variant; adds
/// latency_* pairs to `out` (the default config's p50 and p99) and `extra`.
void latency_figures(uint64_t rate, double seconds, Output& out, Output& extra);

}  // namespace sage::bench
