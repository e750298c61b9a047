// Restart strategies (restart_policy.hpp).

#include <sage/detail/restart_policy.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

namespace sage::detail {

std::optional<int64_t> parse_duration_ms(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  size_t digits = 0;
  while (digits < text.size() &&
         ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.'))
    ++digits;
  if (digits == 0) return std::nullopt;
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, value);
  if (ec != std::errc() || end != text.data() + digits) return std::nullopt;
  const std::string_view unit = text.substr(digits);
  double scale = 0;
  if (unit.empty() || unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1000;
  else if (unit == "m" || unit == "min")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  else
    return std::nullopt;
  const double ms = value * scale;
  if (!std::isfinite(ms) || ms > 9.0e15) return std::nullopt;
  return static_cast<int64_t>(std::llround(ms));
}

namespace {

int64_t duration_key(const Config& cfg, std::string_view key, int64_t fallback) {
  const auto text = cfg.get(key);
  if (!text) return fallback;
  const auto ms = parse_duration_ms(*text);
  if (!ms)
    throw std::invalid_argument(std::string(key) + ": '" + *text +
                                "' is not a duration (250ms, 1s, 2m, 1h, or milliseconds)");
  return *ms;
}

}  // namespace

RestartPolicy RestartPolicy::from(const Config& cfg, bool checkpoints) {
  RestartPolicy p;
  const std::string strategy =
      cfg.get_string("restart.strategy", checkpoints ? "fixed-delay" : "none");
  if (strategy == "none" || strategy == "off" || strategy == "disable")
    p.kind = Kind::none;
  else if (strategy == "fixed-delay" || strategy == "fixeddelay")
    p.kind = Kind::fixed_delay;
  else if (strategy == "exponential-delay")
    p.kind = Kind::exponential_delay;
  else if (strategy == "failure-rate" || strategy == "failurerate")
    p.kind = Kind::failure_rate;
  else
    throw std::invalid_argument("restart.strategy: '" + strategy +
                                "' is none of none, fixed-delay, exponential-delay, failure-rate");
  p.attempts = cfg.get_int("restart.attempts", p.kind == Kind::failure_rate ? 3 : -1);
  if (cfg.contains("restart.attempts") && p.attempts < 0)
    throw std::invalid_argument("restart.attempts: must not be negative, got " +
                                std::to_string(p.attempts));
  p.delay_ms = duration_key(cfg, "restart.delay", 1000);
  p.max_delay_ms = duration_key(cfg, "restart.max_delay", 60'000);
  p.failure_interval_ms = duration_key(cfg, "restart.failure_interval", 60'000);
  if (const auto m = cfg.get("restart.multiplier")) {
    try {
      size_t used = 0;
      p.multiplier = std::stod(*m, &used);
      if (used != m->size()) throw std::invalid_argument("trailing text");
    } catch (const std::exception&) {
      throw std::invalid_argument("restart.multiplier: '" + *m + "' is not a number");
    }
  }
  if (p.multiplier < 1.0)
    throw std::invalid_argument("restart.multiplier: must be at least 1, got " +
                                std::to_string(p.multiplier));
  if (p.max_delay_ms < p.delay_ms)
    throw std::invalid_argument("restart.max_delay (" + std::to_string(p.max_delay_ms) +
                                " ms) is below restart.delay (" + std::to_string(p.delay_ms) +
                                " ms)");
  if (p.kind == Kind::failure_rate && p.failure_interval_ms <= 0)
    throw std::invalid_argument("restart.failure_interval: must be positive");
  return p;
}

std::string RestartPolicy::describe() const {
  const auto times = attempts < 0 ? std::string("unlimited") : std::to_string(attempts);
  switch (kind) {
    case Kind::none:
      return "none";
    case Kind::fixed_delay:
      return "fixed-delay: " + times + " restarts, " + std::to_string(delay_ms) + " ms apart";
    case Kind::exponential_delay:
      return "exponential-delay: from " + std::to_string(delay_ms) + " ms, x" +
             std::to_string(multiplier) + ", at most " + std::to_string(max_delay_ms) + " ms, " +
             times + " restarts";
    case Kind::failure_rate:
      return "failure-rate: fewer than " + std::to_string(attempts) + " failures in " +
             std::to_string(failure_interval_ms) + " ms, " + std::to_string(delay_ms) + " ms apart";
  }
  return "?";
}

std::optional<int64_t> RestartTracker::on_failure(int64_t now_ms) {
  const auto& p = policy_;
  switch (p.kind) {
    case RestartPolicy::Kind::none:
      return std::nullopt;
    case RestartPolicy::Kind::fixed_delay:
      if (p.attempts >= 0 && restarts_ >= p.attempts) return std::nullopt;
      ++restarts_;
      return p.delay_ms;
    case RestartPolicy::Kind::exponential_delay: {
      if (p.attempts >= 0 && restarts_ >= p.attempts) return std::nullopt;
      double d = static_cast<double>(p.delay_ms);
      for (int64_t i = 0; i < restarts_ && d < static_cast<double>(p.max_delay_ms); ++i)
        d *= p.multiplier;
      ++restarts_;
      return std::min<int64_t>(p.max_delay_ms, static_cast<int64_t>(d));
    }
    case RestartPolicy::Kind::failure_rate:
      failures_.push_back(now_ms);
      while (!failures_.empty() && failures_.front() <= now_ms - p.failure_interval_ms)
        failures_.pop_front();
      if (static_cast<int64_t>(failures_.size()) > p.attempts) return std::nullopt;
      ++restarts_;
      return p.delay_ms;
  }
  return std::nullopt;
}

}  // namespace sage::detail
