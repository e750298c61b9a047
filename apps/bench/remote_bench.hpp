#pragma once
// sage-bench --only remote: MFK and 16 KB documents across two actor systems of this
// process on loopback TCP, in plain and over TLS with a cluster secret.

#include <cstdint>

#include "bench_common.hpp"

namespace sage::bench {

/// MFK with `gen -> map -> filter` on this process's node and `count -> sink` on a
/// node server, best of `runs`, plain and authenticated by turns; then `docs`
/// documents of 16 KB the same way. Adds mfk_remote_* and big_records_* pairs to
/// `extra`. Makes and ends the runtime per run: call it with no runtime kept.
void remote_figures(uint64_t mfk_n, uint64_t docs, int runs, Output& extra);

}  // namespace sage::bench
