#pragma once
/// @file run_record.hpp
/// What the submitting program saw of each of its cluster jobs, so that a task
/// host, which runs the program from its start, sees every earlier job exactly
/// as the submitter did: `submit()` throws what it threw, `collect()` yields
/// the records it yielded, `status()` gives its final figures
/// (docs/operations.md, "Programs of several jobs").

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sage/collected.hpp>
#include <sage/job.hpp>

namespace sage::detail {

class JobHandle;

/// One cluster submission of this program, as the submitter saw it when a
/// later job was submitted.
struct SubmissionRecord {
  std::string job_id;
  /// Non-empty: `submit()` threw a `SubmitError` with this text.
  std::string refusal;
  /// Whether the job had ended when the asking job was submitted; if not, a
  /// task host cannot know what the program saw of it (its state and records
  /// depended on timing).
  bool ended = false;
  JobState state = JobState::running;
  std::string error;
  std::vector<uint64_t> counters;  ///< in `JobHandle::counter_values()` layout
  int64_t run_time_ms = 0;
  /// The records of the job's `collect()` sinks, in the order of the calls.
  std::vector<std::shared_ptr<const RecordedOutput>> outputs;
  /// The job's plan described line by line (see `describe_lines` in job_plan.hpp).
  std::vector<std::string> plan_lines;
};

/// The process's record of its cluster submissions, numbered from 0 in order.
class RunRecord {
 public:
  /// Starts the record of submission `seq` (its job, its collect() outputs,
  /// which from now on keep their records, and its plan's description).
  void begin(uint32_t seq, const std::string& job_id, std::shared_ptr<JobHandle> handle,
             const std::vector<std::shared_ptr<JobEndListener>>& outputs,
             std::vector<std::string> plan_lines);
  /// Submission `seq` was refused: `submit()` threw `SubmitError(what)`.
  void refused(uint32_t seq, std::string what);
  /// Submission `seq` as the submitter saw it when it submitted `asking`;
  /// `nullopt` if there is no such submission (yet).
  [[nodiscard]] std::optional<SubmissionRecord> as_seen_by(uint32_t seq, uint32_t asking) const;

 private:
  struct Entry;
  std::vector<std::shared_ptr<Entry>> entries_;  // by seq
  mutable std::mutex mutex_;
};

RunRecord& run_record();

}  // namespace sage::detail
