#pragma once
// sage-bench's WC: word count over generated lines of 8 words (10 k vocabulary), in
// SAGE with split/count parallelism 1 and 2, against the same as a loop.

#include <cstddef>

#include "bench_common.hpp"

namespace sage::bench {

/// WC over `lines` lines, best of `runs`; adds wc_* pairs to `out` and `extra`.
void wc_figures(size_t lines, int runs, Output& out, Output& extra);

}  // namespace sage::bench
