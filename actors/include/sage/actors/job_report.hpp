#pragma once
/// @file job_report.hpp
/// What is reported about a job: its state, error and counters by task and by
/// operator (`sage job status`, the end a listener learns), its logs, and what
/// the submitting program saw of earlier jobs (replayed to later task hosts).

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

#include <sage/actors/job_plan.hpp>

namespace sage::actors {

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
  uint64_t records_late_dropped = 0;
  int64_t watermark = std::numeric_limits<int64_t>::min();  ///< of its slowest instance
  std::string watermark_held_by;  ///< the upstream instance that holds it back, if one does
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, OperatorReport& x) {
  return f(caf::meta::type_name("sage.operator_report"), x.name, x.parallelism, x.records_in,
           x.records_out, x.records_late_dropped, x.watermark, x.watermark_held_by);
}

/// A service of the job: its instances, where they run, the calls they served
/// and how often one was started again.
struct ServiceReport {
  std::string name;
  int32_t parallelism = 0;
  std::vector<std::string> nodes;  ///< by instance
  uint64_t calls = 0;
  uint64_t restarts = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ServiceReport& x) {
  return f(caf::meta::type_name("sage.service_report"), x.name, x.parallelism, x.nodes, x.calls,
           x.restarts);
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
  std::vector<ServiceReport> services;
  /// Records in and out of every operator instance, flattened as
  /// `JobHandle::counter_values()` has them; empty when not gathered.
  std::vector<uint64_t> counters;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, JobReport& x) {
  return f(caf::meta::type_name("sage.job_report"), x.id, x.name, x.state, x.error, x.submitted_ms,
           x.run_time_ms, x.operators, x.tasks, x.services, x.counters);
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
/// task t running on `node_of_task[t]`, service instance s on
/// `node_of_service[s]`, after `run_time_ms`.
JobReport make_report(const JobPlan& plan, const std::vector<uint64_t>& counters,
                      const std::vector<std::string>& node_of_task, int64_t run_time_ms,
                      const std::vector<std::string>& node_of_service = {});

}  // namespace sage::actors
