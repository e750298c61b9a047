#pragma once
// `sage cluster start --head|--worker ...`: starts a node of a cluster, in the
// background (a daemon logging to its state dir) or --foreground.

#include "head_flags.hpp"

namespace sage::cli {

/// Adds `start` to the `cluster` command; its credential flags go to `head`, the
/// rest to state the returned Dispatch owns (keep both until it ran).
Dispatch add_cluster_start(CLI::App* cluster, HeadFlags& head);

}  // namespace sage::cli
