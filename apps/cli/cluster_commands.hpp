#pragma once
// `sage cluster start|status|stop` (../shared/spec/CLI.md): start a head or a worker
// (in the background, or --foreground), ask the head about its nodes and jobs, stop it.

#include "head_flags.hpp"

namespace sage::cli {

/// Adds `cluster` and its subcommands to `app`; their --address and credentials go
/// to `head`, the rest to state the returned Dispatch owns (keep both until it ran).
Dispatch add_cluster_commands(CLI::App& app, HeadFlags& head);

}  // namespace sage::cli
