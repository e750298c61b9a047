#pragma once
/// @file node_runtime.hpp
/// The runtime of `sage::Node` (sage/caf.hpp): the embedded runtime's
/// JobManager, node and service router, on an actor system the application owns.

#include <memory>

#include <caf/actor_system.hpp>

#include <sage/detail/runtime.hpp>

namespace sage::detail {

/// A runtime on `system`, which must outlive it and have SAGE's message types.
std::shared_ptr<Runtime> runtime_on(caf::actor_system& system);

}  // namespace sage::detail
