#pragma once
/// @file restart_policy.hpp (internal)
/// When a failed job is started again (issue 11, docs/fault-tolerance.md):
/// `restart.strategy` and its settings, as Flink's restart strategies.
///
///   none               a failure ends the job (the default without checkpoints)
///   fixed-delay        up to `restart.attempts` restarts, `restart.delay` apart (the default
///                      with checkpoints: unlimited attempts, 1 s apart, as Flink's)
///   exponential-delay  `restart.delay`, times `restart.multiplier` after each restart, at most
///                      `restart.max_delay`; unlimited unless `restart.attempts` is set
///   failure-rate       restarts `restart.delay` apart while fewer than `restart.attempts`
///                      failures fall within `restart.failure_interval`
///
/// Durations are `250ms`, `1s`, `2m`, `1h`, or a number of milliseconds.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include <sage/config.hpp>

namespace sage::detail {

/// `text` as milliseconds (`250ms`, `1.5s`, `2m`, `1h`, `100`); nullopt if it is not a duration.
std::optional<int64_t> parse_duration_ms(std::string_view text);

struct RestartPolicy {
  enum class Kind { none, fixed_delay, exponential_delay, failure_rate };
  Kind kind = Kind::none;
  /// Restarts allowed (fixed-delay, exponential-delay), or failures per interval (failure-rate);
  /// negative: unlimited.
  int64_t attempts = -1;
  int64_t delay_ms = 1000;
  int64_t max_delay_ms = 60'000;
  double multiplier = 2.0;
  int64_t failure_interval_ms = 60'000;

  /// The policy `cfg` configures (`checkpoints` says whether the job takes
  /// checkpoints: it sets the default). Throws `std::invalid_argument` naming
  /// the key of a value that does not parse or makes no sense.
  static RestartPolicy from(const Config& cfg, bool checkpoints);
  [[nodiscard]] std::string describe() const;
};

/// A job's failures under its policy.
class RestartTracker {
 public:
  explicit RestartTracker(RestartPolicy policy) : policy_(policy) {}
  /// The job failed at `now_ms`: the pause before it starts again, or nullopt
  /// if the policy lets it fail for good.
  std::optional<int64_t> on_failure(int64_t now_ms);
  [[nodiscard]] int64_t restarts() const { return restarts_; }
  [[nodiscard]] const RestartPolicy& policy() const { return policy_; }

 private:
  RestartPolicy policy_;
  int64_t restarts_ = 0;
  std::deque<int64_t> failures_;  ///< failure-rate: the times within the interval
};

}  // namespace sage::detail
