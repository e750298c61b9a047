#pragma once
/// @file job_plan.hpp
/// What the runtime's control plane knows about a job: its tasks and channels,
/// with what placement needs (resources, which operators must run at the
/// submitter, whether records crossing a channel have a codec). It is plain
/// data: a cluster's head receives it from the submitting program, which alone
/// has the graph and the user's functions. A process that hosts tasks builds
/// the graph itself from the same program (docs/operations.md, "How a job is
/// shipped") and checks that its plan has the same fingerprint.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include <sage/actors/cluster.hpp>
#include <sage/detail/job_spec.hpp>

namespace sage::actors {

/// One task: an instance of a chain of fused operators.
struct PlannedTask {
  std::string chain;  ///< "source -> map -> filter"
  int32_t instance = 0;
  bool is_source = false;     ///< its chain starts with a source (a graceful stop ends it)
  bool at_submitter = false;  ///< it must run in the submitting program (a `collect()` sink)
  uint32_t input_slots = 0;
  uint32_t output_slots = 0;
  double cpus = 0;  ///< the sum of what its operators ask for
  int64_t memory_mb = 0;
  int32_t gpus = 0;
  std::map<std::string, std::string> labels;  ///< a node must carry every one
  std::vector<int32_t> operators;             ///< its operators (graph nodes), head first
  /// The feedback loop it belongs to (-1: none), and whether it runs the loop's
  /// future (told when the loop has ended): the Dispatcher detects the end.
  int32_t loop = -1;
  bool loop_head = false;
  /// An instance of a service (`chain` is its name): the index of its
  /// registration in the job's graph; -1 for a task of the pipeline.
  int32_t service = -1;
  /// It is part of a pipeline service: it serves while the rest of the job
  /// runs, and its source stops once the rest is done (or when the job is
  /// stopped, if there is no rest).
  bool serves = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PlannedTask& x) {
  return f(caf::meta::type_name("sage.planned_task"), x.chain, x.instance, x.is_source,
           x.at_submitter, x.input_slots, x.output_slots, x.cpus, x.memory_mb, x.gpus, x.labels,
           x.operators, x.loop, x.loop_head, x.service, x.serves);
}

/// One channel: from an output slot of one task to an input slot of another.
struct PlannedChannel {
  int32_t from_task = -1;
  uint32_t from_slot = 0;
  int32_t to_task = -1;
  uint32_t to_slot = 0;
  std::string producer;   ///< the operator whose records it carries
  std::string type_name;  ///< their type
  bool has_codec = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PlannedChannel& x) {
  return f(caf::meta::type_name("sage.planned_channel"), x.from_task, x.from_slot, x.to_task,
           x.to_slot, x.producer, x.type_name, x.has_codec);
}

/// How a cluster starts the program of a job on a node (a task host).
struct ProgramLaunch {
  std::string digest;  ///< SHA-256 of the binary, hex: the name it is stored under
  std::string file_name;
  std::vector<std::string> args;  ///< argv[1..]
  std::string working_dir;        ///< the submitter's; used where it exists on the node
  /// Which of the program's cluster jobs this is (0, 1, ...): a task host runs
  /// the program from its start and serves that one.
  uint32_t submission = 0;
  /// The program ran under `sage job submit`: its LocalEnvironments submitted to
  /// the cluster too (and count).
  bool under_job_submit = false;
  /// Where the submitting program's node listens ("host:port"): a task host
  /// asks it what the program's earlier jobs did (`RunRecord`).
  std::string submitter_address;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ProgramLaunch& x) {
  return f(caf::meta::type_name("sage.program_launch"), x.digest, x.file_name, x.args,
           x.working_dir, x.submission, x.under_job_submit, x.submitter_address);
}

struct JobPlan {
  std::string id;
  std::string name;
  detail::PlacementMode placement = detail::PlacementMode::local;
  uint64_t fingerprint = 0;  ///< of the tasks and channels (see `fingerprint`)
  std::vector<PlannedTask> tasks;
  std::vector<PlannedChannel> channels;
  /// The instances of its services, placed as tasks are (no operators, no slots).
  std::vector<PlannedTask> services;
  std::vector<std::string> operators;  ///< names, by graph node
  /// What each operator holds of its own (a `from_batch` source's items, as a
  /// digest), by graph node; "" if nothing.
  std::vector<std::string> contents;
  ProgramLaunch program;  ///< empty digest: the job runs where it was submitted
  /// Where the submitting program's node listens ("host:port"), for task hosts
  /// to connect to directly (collect() sinks run there); empty: not published.
  std::string submitter_address;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, JobPlan& x) {
  return f(caf::meta::type_name("sage.job_plan"), x.id, x.name, x.placement, x.fingerprint, x.tasks,
           x.channels, x.services, x.operators, x.contents, x.program, x.submitter_address);
}

/// The plan of a compiled job.
JobPlan make_job_plan(const detail::JobSpec& job);

/// What makes two plans the same job, a line each: the job's name, its
/// operators with what they hold (a source's items), its tasks and channels.
std::vector<std::string> describe_lines(const JobPlan& plan);

/// A digest of `describe_lines`. A task host refuses to serve a job whose
/// fingerprint differs from the submitter's (the program built another graph).
uint64_t fingerprint(const JobPlan& plan);

/// The first difference between two plans' `describe_lines` (here: a task
/// host's, there: the submitter's), for the error that refuses the job.
std::string first_difference(const std::vector<std::string>& here,
                             const std::vector<std::string>& there);

/// Why a plan received from a peer cannot be a job's ("" if it can): ids,
/// sizes, and every index (tasks, slots, operators) in range.
std::string validate(const JobPlan& plan);

}  // namespace sage::actors
