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

namespace sage::detail {
struct JobSpec;
}

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
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, PlannedTask& x) {
  return f(caf::meta::type_name("sage.planned_task"), x.chain, x.instance, x.is_source,
           x.at_submitter, x.input_slots, x.output_slots, x.cpus, x.memory_mb, x.gpus, x.labels,
           x.operators);
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
  std::string placement = "local";  ///< local | spread | cluster
  uint64_t fingerprint = 0;         ///< of the tasks and channels (see `fingerprint`)
  std::vector<PlannedTask> tasks;
  std::vector<PlannedChannel> channels;
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
           x.channels, x.operators, x.contents, x.program, x.submitter_address);
}

/// Where one task instance runs, and its records in (at its first operator)
/// and out (at its last).
struct TaskReport {
  std::string chain;
  int32_t instance = 0;
  std::string node;
  uint64_t records_in = 0;
  uint64_t records_out = 0;
  /// Backpressure: the share of the job's run time this task waited for credit
  /// from downstream (0 to 1; Flink's back-pressured time, over the whole run).
  double backpressure = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, TaskReport& x) {
  return f(caf::meta::type_name("sage.task_report"), x.chain, x.instance, x.node, x.records_in,
           x.records_out, x.backpressure);
}

struct OperatorReport {
  std::string name;
  int32_t parallelism = 0;
  uint64_t records_in = 0;
  uint64_t records_out = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, OperatorReport& x) {
  return f(caf::meta::type_name("sage.operator_report"), x.name, x.parallelism, x.records_in,
           x.records_out);
}

/// A job as `sage job status` shows it; also what its end is reported with.
struct JobReport {
  std::string id;
  std::string name;
  int32_t state = 0;  ///< a `sage::JobState`
  std::string error;
  int64_t submitted_ms = 0;  ///< Unix time
  int64_t run_time_ms = 0;
  std::vector<OperatorReport> operators;
  std::vector<TaskReport> tasks;
  /// Records in and out of every operator instance, flattened as
  /// `JobHandle::counter_values()` has them; empty when not gathered.
  std::vector<uint64_t> counters;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, JobReport& x) {
  return f(caf::meta::type_name("sage.job_report"), x.id, x.name, x.state, x.error, x.submitted_ms,
           x.run_time_ms, x.operators, x.tasks, x.counters);
}

/// A piece of a job's logs from every node, for `sage job logs`: node i's log
/// text from the offset asked for, and the offset to ask for next.
struct LogChunk {
  std::vector<std::string> nodes;
  std::vector<std::string> texts;
  std::vector<uint64_t> next;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, LogChunk& x) {
  return f(caf::meta::type_name("sage.log_chunk"), x.nodes, x.texts, x.next);
}

/// What the submitting program saw of one of its earlier cluster jobs
/// (`detail::SubmissionRecord`), sent to the task hosts of a later job.
struct ReplayedJob {
  std::string job_id;
  std::string refusal;  ///< non-empty: submit() threw SubmitError with this text
  bool ended = false;   ///< it had ended when the asking job was submitted
  int32_t state = 0;    ///< a `sage::JobState`
  std::string error;
  std::vector<uint64_t> counters;
  int64_t run_time_ms = 0;
  /// Per collect() sink, in the order of the calls: its record type, and how
  /// many records it collected (-1: they have no codec and cannot be sent).
  std::vector<std::string> output_types;
  std::vector<int64_t> output_sizes;
  std::vector<std::string> plan_lines;  ///< see `describe_lines`
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ReplayedJob& x) {
  return f(caf::meta::type_name("sage.replayed_job"), x.job_id, x.refusal, x.ended, x.state,
           x.error, x.counters, x.run_time_ms, x.output_types, x.output_sizes, x.plan_lines);
}

/// Encoded records of a collect() sink of an earlier job, a chunk at a time.
struct RecordChunk {
  std::vector<std::string> records;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, RecordChunk& x) {
  return f(caf::meta::type_name("sage.record_chunk"), x.records);
}

/// A report of `plan` with the counters `counters` (flattened, may be empty),
/// task t running on `node_of_task[t]`, after `run_time_ms`.
JobReport make_report(const JobPlan& plan, const std::vector<uint64_t>& counters,
                      const std::vector<std::string>& node_of_task, int64_t run_time_ms);

/// The plan of a compiled job.
JobPlan describe_job(const detail::JobSpec& job);

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

/// "worker 10.0.0.2:4711", for messages.
std::string describe(const NodeInfo& info);

/// Why a plan received from a peer cannot be a job's ("" if it can): ids,
/// sizes, and every index (tasks, slots, operators) in range.
std::string validate(const JobPlan& plan);

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
