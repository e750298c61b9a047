#pragma once
// What a cluster's client (remote_runtime.cpp) and a task host
// (task_host_runtime.cpp) share: the count of cluster jobs this process has
// submitted, and the environment a task host is started with (node_actor.cpp
// sets it).

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <sage/detail/environment_variables.hpp>  // env_or

namespace sage::detail {

/// The cluster jobs this process has submitted, in order: a task host serves
/// the one with its number (`ProgramLaunch::submission`).
inline std::atomic<uint32_t> cluster_submissions{0};

}  // namespace sage::detail
