#pragma once
/// @file job.hpp
/// Job identity and status, as `Environment::submit` and `status` report them.

#include <chrono>
#include <cstdint>
#include <limits>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace sage {

/// The id of a submitted job: a 128-bit random value written as 32 hex digits.
class JobId {
 public:
  JobId() = default;
  explicit JobId(std::string value) : value_(std::move(value)) {}
  /// A fresh random id.
  static JobId generate();
  [[nodiscard]] const std::string& str() const { return value_; }
  [[nodiscard]] bool empty() const { return value_.empty(); }
  friend bool operator==(const JobId&, const JobId&) = default;
  friend auto operator<=>(const JobId&, const JobId&) = default;
  friend std::ostream& operator<<(std::ostream& os, const JobId& id) { return os << id.value_; }

 private:
  std::string value_;
};

/// The life of a job (Flink's job states, reduced to what SAGE has).
enum class JobState {
  created,    ///< built, not yet submitted
  running,    ///< tasks deployed and running
  paused,     ///< sources paused (cluster jobs)
  finished,   ///< every sink saw end-of-stream on every input, or a graceful stop drained
  failed,     ///< a user function threw or a task was lost; `JobStatus::error` says which
  cancelled,  ///< stopped without draining (`close()` while running, a second Ctrl-C)
};

/// `"running"` etc.
std::string_view to_string(JobState s);

/// Whether the state is final.
constexpr bool is_terminal(JobState s) {
  return s == JobState::finished || s == JobState::failed || s == JobState::cancelled;
}

/// Records in and out of one operator, summed over its instances; its event
/// time (the lowest of its instances') and what holds that back.
struct OperatorStatus {
  std::string name;
  int parallelism = 1;
  uint64_t records_in = 0;
  uint64_t records_out = 0;
  /// Records that came later than a window's allowed lateness and had no side output.
  uint64_t records_late_dropped = 0;
  /// `map_async`: replies that came after their call had timed out (dropped).
  uint64_t late_replies = 0;
  /// The watermark the operator has reached: its slowest instance's, the
  /// minimum over that instance's active inputs. `INT64_MIN` before the first.
  int64_t watermark = std::numeric_limits<int64_t>::min();
  /// The upstream instance whose watermark holds this one back ("parser_2"),
  /// if one does: where to look when windows do not fire.
  std::string watermark_held_by;
};

/// A service the job registered: calls its instances served, and how often
/// one of them was started again after it died.
struct ServiceStatus {
  std::string name;
  int parallelism = 1;
  uint64_t calls = 0;
  uint64_t restarts = 0;
};

/// A snapshot of a job.
struct JobStatus {
  JobId id;
  std::string name;
  JobState state = JobState::created;
  std::string error;  ///< set when `state == failed`
  std::vector<OperatorStatus> operators;
  std::vector<ServiceStatus> services;
  std::chrono::milliseconds run_time{0};
};

}  // namespace sage
