#pragma once
/// @file plan.hpp
/// The physical plan: the logical graph compiled into task instances (chains of
/// fused operators, one per parallel instance) and the channels between them.

#include <string>
#include <vector>

#include <sage/config.hpp>
#include <sage/detail/graph.hpp>

namespace sage::detail {

/// One output edge of a task: the writer for `edge` sends to these output slots,
/// one per target instance (a single slot for a forward edge).
struct TaskOutput {
  int edge = -1;
  std::vector<int> slots;
};

/// One input slot of a task: a channel from one upstream instance on one edge.
struct TaskInput {
  int edge = -1;
  int channel = -1;
};

struct TaskPlan {
  int id = -1;
  int chain = -1;    ///< index into `PhysicalPlan::chains`
  int instance = 0;  ///< index among the chain's parallel instances
  int parallelism = 1;
  std::vector<TaskInput> inputs;    ///< by input slot
  std::vector<TaskOutput> outputs;  ///< by out edge; slots number the task's output channels
  int output_slot_count = 0;
  /// The feedback loop it belongs to (an index into `PhysicalPlan::loops`), or -1.
  int loop = -1;
};

/// A channel joins one upstream task to one downstream task.
struct ChannelPlan {
  int id = -1;
  int edge = -1;
  int from_task = -1;
  int from_slot = -1;  ///< output slot at the upstream task
  int to_task = -1;
  int to_slot = -1;  ///< input slot at the downstream task
  /// It runs inside a feedback loop (both its tasks are in loop `loop`): its
  /// messages are counted for the loop's termination; -1 otherwise.
  int loop = -1;
  /// It carries a loop's feedback edge back to its future: it never waits for
  /// credit (a cycle of bounded channels can deadlock).
  bool feedback = false;
};

/// A feedback loop: the tasks of operators that lie on a cycle through a
/// future (a strongly connected component of the graph). It ends once its
/// inputs from outside have ended and no message is left inside it.
struct LoopPlan {
  std::vector<int> tasks;
  std::vector<int> heads;  ///< the tasks of its futures, told when the loop has ended
  std::string futures;     ///< its futures' names, for messages
};

/// Operators fused into one task: connected by forward edges of equal parallelism.
struct ChainPlan {
  std::vector<int> nodes;  ///< topological order, head first
  int parallelism = 1;
  std::string name;  ///< "source -> map -> filter"
};

struct PhysicalPlan {
  std::vector<int> parallelism;  ///< by node
  int max_parallelism = 128;     ///< `state.max_parallelism`: key groups of keyed streams
  std::vector<Routing> routing;  ///< by edge, resolved (never `unset`)
  std::vector<bool> chained;     ///< by edge
  std::vector<ChainPlan> chains;
  std::vector<TaskPlan> tasks;
  std::vector<ChannelPlan> channels;
  std::vector<int> chain_of_node;  ///< by node
  std::vector<std::vector<int>> tasks_of_chain;
  std::vector<LoopPlan> loops;
};

/// What the runtime a plan is compiled for asks of it.
struct PlanOptions {
  /// A cluster runs `collect()` sinks in the submitting program: they are not
  /// fused with their upstream operators, which then run on the cluster's nodes.
  bool collect_apart = false;
};

/// Compiles `graph`: resolves parallelism and routing, fuses chains, lays out
/// tasks and channels. Throws `GraphError` for an invalid graph (no operators,
/// a forward edge between different parallelisms, ...).
PhysicalPlan compile_plan(const Graph& graph, const Config& config,
                          const PlanOptions& options = {});

}  // namespace sage::detail
