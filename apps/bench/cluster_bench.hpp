#pragma once
// sage-bench --only cluster: MFK as a cluster job on a head and a worker started with
// the `sage` command, on an --insecure cluster and an authenticated one.

#include <cstdint>

#include "bench_common.hpp"

namespace sage::bench {

/// Best of `runs` on each cluster, their runs alternating; adds mfk_cluster_*
/// pairs to `extra`. Starts and ends the clusters' processes.
void mfk_cluster_figures(uint64_t mfk_n, int runs, Output& extra);

/// In a task host the cluster started from this program: submits what
/// mfk_cluster_figures submits, in the same order; serves this task host's job of
/// them and does not return from it.
void mfk_cluster_task_host(uint64_t mfk_n, int runs);

}  // namespace sage::bench
