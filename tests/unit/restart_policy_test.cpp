// Restart strategies (issue 11): restart.strategy and its settings from the
// config, and the pauses and the final failure they give.

#include <doctest/doctest.h>

#include <stdexcept>

#include <sage/config.hpp>
#include <sage/detail/restart_policy.hpp>

using sage::Config;
using sage::detail::parse_duration_ms;
using sage::detail::RestartPolicy;
using sage::detail::RestartTracker;

TEST_CASE("restart policy: durations") {
  CHECK(parse_duration_ms("250ms") == 250);
  CHECK(parse_duration_ms("1s") == 1000);
  CHECK(parse_duration_ms("1.5s") == 1500);
  CHECK(parse_duration_ms("2m") == 120'000);
  CHECK(parse_duration_ms("1h") == 3'600'000);
  CHECK(parse_duration_ms("100") == 100);
  CHECK_FALSE(parse_duration_ms("soon").has_value());
  CHECK_FALSE(parse_duration_ms("10 parsecs").has_value());
  CHECK_FALSE(parse_duration_ms("").has_value());
}

TEST_CASE("restart policy: the defaults follow Flink's") {
  CHECK(RestartPolicy::from(Config{}, false).kind == RestartPolicy::Kind::none);
  const auto with_checkpoints = RestartPolicy::from(Config{}, true);
  CHECK(with_checkpoints.kind == RestartPolicy::Kind::fixed_delay);
  RestartTracker t(with_checkpoints);
  for (int i = 0; i < 1000; ++i) CHECK(t.on_failure(i) == 1000);  // unlimited, 1 s apart
  RestartTracker none(RestartPolicy::from(Config{}, false));
  CHECK_FALSE(none.on_failure(0).has_value());
}

TEST_CASE("restart policy: fixed-delay allows restart.attempts restarts") {
  const auto p = RestartPolicy::from(
      Config{
          {"restart.strategy", "fixed-delay"}, {"restart.attempts", "2"}, {"restart.delay", "3s"}},
      false);
  RestartTracker t(p);
  CHECK(t.on_failure(0) == 3000);
  CHECK(t.on_failure(1) == 3000);
  CHECK_FALSE(t.on_failure(2).has_value());
  CHECK(t.restarts() == 2);
}

TEST_CASE("restart policy: exponential-delay grows to its maximum") {
  const auto p = RestartPolicy::from(Config{{"restart.strategy", "exponential-delay"},
                                            {"restart.delay", "100ms"},
                                            {"restart.multiplier", "3"},
                                            {"restart.max_delay", "1s"}},
                                     false);
  RestartTracker t(p);
  CHECK(t.on_failure(0) == 100);
  CHECK(t.on_failure(0) == 300);
  CHECK(t.on_failure(0) == 900);
  CHECK(t.on_failure(0) == 1000);
  CHECK(t.on_failure(0) == 1000);
}

TEST_CASE("restart policy: failure-rate fails the job at too many failures in the interval") {
  const auto p = RestartPolicy::from(Config{{"restart.strategy", "failure-rate"},
                                            {"restart.attempts", "2"},
                                            {"restart.failure_interval", "10s"},
                                            {"restart.delay", "50ms"}},
                                     false);
  RestartTracker t(p);
  CHECK(t.on_failure(0) == 50);
  CHECK(t.on_failure(5'000) == 50);
  CHECK(t.on_failure(12'000) == 50);  // the one at 0 is out of the interval
  CHECK_FALSE(t.on_failure(13'000).has_value());
}

TEST_CASE("restart policy: a bad setting names its key") {
  CHECK_THROWS_WITH_AS(RestartPolicy::from(Config{{"restart.strategy", "sometimes"}}, false),
                       doctest::Contains("restart.strategy"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(RestartPolicy::from(Config{{"restart.delay", "soon"}}, true),
                       doctest::Contains("restart.delay"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(RestartPolicy::from(Config{{"restart.multiplier", "0.5"}}, true),
                       doctest::Contains("restart.multiplier"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(RestartPolicy::from(Config{{"restart.attempts", "-1"}}, true),
                       doctest::Contains("restart.attempts"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      RestartPolicy::from(Config{{"restart.delay", "2s"}, {"restart.max_delay", "1s"}}, true),
      doctest::Contains("restart.max_delay"), std::invalid_argument);
}
