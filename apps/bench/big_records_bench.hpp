#pragma once
// The big-record workload of sage-bench (--only remote): 16 KB documents across
// two actor systems on loopback TCP, against plain loopback TCP in the same run.

#include <cstdint>
#include <string>

#include <sage/config.hpp>

namespace sage::bench {

struct BigRecordFigures {
  double sage_mb_per_s = 0;           ///< documents' bytes per second through SAGE, node to node
  double authenticated_mb_per_s = 0;  ///< the same over TLS with a cluster secret
  double tcp_mb_per_s = 0;            ///< the same bytes through one loopback TCP socket
};

/// Sends `records` documents of `bytes` each from this process's node to a
/// node server over loopback (best of `runs`), in plain and over TLS with the
/// cluster secret `secret_file` by turns; checks every byte arrived.
BigRecordFigures big_records_remote(uint64_t records, uint64_t bytes, int runs,
                                    const sage::Config& base, const std::string& secret_file);

}  // namespace sage::bench
