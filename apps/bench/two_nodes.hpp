#pragma once
// Two actor systems of one process that talk through CAF's network layer: this
// process's runtime and a node server, for the node-to-node figures of
// sage-bench (--only remote).

#include <functional>

#include <sage/config.hpp>

namespace sage::bench {

/// Runs `job` (which builds its jobs with a LocalEnvironment) on this process's
/// runtime with a node server added to it, both made from `cfg`: plain, or TLS
/// when `cfg` names `cluster.secret-file`. Returns what `job` returns, once the
/// runtime and the node server are gone, so that the next call makes them anew
/// (the runtime is the process's one, and a job's listener holds it a moment
/// after the job ends).
double on_two_nodes(const sage::Config& cfg, const std::function<double()>& job);

}  // namespace sage::bench
