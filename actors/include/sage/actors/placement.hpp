#pragma once
/// @file placement.hpp
/// Where a job's tasks run: plain data and one function, tested without actors.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <sage/actors/job_plan.hpp>

namespace sage::actors {

/// A node as placement sees it.
struct PlacementNode {
  NodeInfo info;
  bool alive = true;
  bool is_submitter = false;  ///< the submitting program's own node
  int32_t running_tasks = 0;  ///< of other jobs
  double used_cpus = 0;       ///< by other jobs
  int64_t used_memory_mb = 0;
  int32_t used_gpus = 0;
};

/// Where each task runs, by index into `nodes`; or why the job cannot be placed.
struct Placement {
  std::vector<size_t> node_of_task;
  std::string error;  ///< empty when placed
};

/// Places `plan`'s tasks. `local` puts every task on the first node, `spread`
/// puts chain c on node c mod n (tests and benchmarks). `cluster` honours each
/// task's resources and labels, keeps `collect()` sinks at the submitter, and
/// otherwise picks the node with the least load (running tasks per cpu).
Placement place_tasks(const JobPlan& plan, const std::vector<PlacementNode>& nodes);

}  // namespace sage::actors
