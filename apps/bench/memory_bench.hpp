#pragma once
// sage-bench's memory under backpressure: a fast source into a sink that spins about
// 100 ns per record, and the peak RSS meanwhile (bounded channels keep it flat).

#include <cstdint>

#include "bench_common.hpp"

namespace sage::bench {

/// `n` records into a sink spinning `spin_ns` per record; adds backpressure_*
/// pairs to `mem_pairs`. Run it first: finished jobs' state inflates the baseline.
void memory_figures(uint64_t n, int64_t spin_ns, Output& mem_pairs);

}  // namespace sage::bench
