#pragma once
/// @file event_time.hpp
/// Event time and windows (API.md section 3.2): watermark strategies for
/// `assign_timestamps`, window assigners, `sage::Window`, output tags for side
/// outputs, and the timers of a `KeyedProcessFunction`.

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include <sage/error.hpp>

namespace sage {

/// How `assign_timestamps` derives watermarks from the timestamps it sees.
struct WatermarkStrategy {
  /// How far out of order records may come: the watermark is the highest
  /// timestamp seen minus this, minus 1 ms (a watermark W says that no record
  /// with a timestamp <= W follows, as in Flink).
  std::chrono::milliseconds out_of_orderness{0};
  /// 0: never idle. Otherwise an input instance that sends nothing for this
  /// long is idle: it stops holding the watermark back until its next record.
  std::chrono::milliseconds idleness{0};

  /// The same strategy, with idleness detection.
  [[nodiscard]] WatermarkStrategy with_idleness(std::chrono::milliseconds d) const {
    if (d.count() <= 0) throw GraphError("with_idleness: the idle timeout must be positive");
    WatermarkStrategy s = *this;
    s.idleness = d;
    return s;
  }
};

/// Records at most `d` late: watermark = highest timestamp seen - d.
inline WatermarkStrategy bounded_out_of_order(std::chrono::milliseconds d) {
  if (d.count() < 0) throw GraphError("bounded_out_of_order: the bound must not be negative");
  return WatermarkStrategy{d, std::chrono::milliseconds{0}};
}
/// Timestamps that never decrease.
inline WatermarkStrategy monotonous() { return WatermarkStrategy{}; }

/// A window of time `[start, end)`, in ms (for count windows: the positions of
/// the key's records it holds, `[first, last + 1)`).
struct Window {
  int64_t start = 0;
  int64_t end = 0;
  /// The last instant inside the window.
  [[nodiscard]] int64_t max_timestamp() const { return end - 1; }
  friend bool operator==(const Window&, const Window&) = default;
  friend auto operator<=>(const Window&, const Window&) = default;
};

template <class Inspector>
auto inspect(Inspector& f, Window& w) {
  return f(w.start, w.end);
}

/// Which windows a record belongs to (`KeyedStream::window`).
struct WindowAssigner {
  enum class Kind : uint8_t { tumbling, sliding, session };
  Kind kind = Kind::tumbling;
  int64_t size_ms = 0;   ///< tumbling and sliding
  int64_t slide_ms = 0;  ///< sliding
  int64_t gap_ms = 0;    ///< session
};

namespace detail {
template <class Rep, class Period>
int64_t to_ms(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}
}  // namespace detail

/// Fixed windows of `size`, one after the other: `[k * size, (k + 1) * size)`.
template <class Rep, class Period>
WindowAssigner tumbling(std::chrono::duration<Rep, Period> size) {
  return {WindowAssigner::Kind::tumbling, detail::to_ms(size), 0, 0};
}
/// Windows of `size` starting every `slide`: a record is in `size / slide` of them.
template <class Rep1, class Period1, class Rep2, class Period2>
WindowAssigner sliding(std::chrono::duration<Rep1, Period1> size,
                       std::chrono::duration<Rep2, Period2> slide) {
  return {WindowAssigner::Kind::sliding, detail::to_ms(size), detail::to_ms(slide), 0};
}
/// One window per burst of a key's records: it closes after `gap` without one.
template <class Rep, class Period>
WindowAssigner session(std::chrono::duration<Rep, Period> gap) {
  return {WindowAssigner::Kind::session, 0, 0, detail::to_ms(gap)};
}

/// Names a side output of records of type `T` (`ctx().output(tag, value)`,
/// `WindowedStream::side_output_late(tag)`, `result.side_output(tag)`).
template <class T>
class OutputTag {
 public:
  using value_type = T;
  explicit OutputTag(std::string name) : name_(std::move(name)) {
    if (name_.empty()) throw GraphError("an OutputTag needs a name");
  }
  [[nodiscard]] const std::string& name() const { return name_; }

 private:
  std::string name_;
};

/// The timers of the current key, in a `KeyedProcessFunction` (`ctx().timers()`):
/// `on_timer(ts, out)` is called once per key and time, event-time timers when
/// the watermark passes `ts`, processing-time timers when the clock does.
/// Registering the same timer again changes nothing.
class TimerService {
 public:
  virtual ~TimerService() = default;
  virtual void at_event_time(int64_t ts) = 0;
  virtual void at_processing_time(int64_t ts) = 0;
  /// Removes a timer registered before (nothing if there is none).
  virtual void delete_event_time(int64_t ts) = 0;
  virtual void delete_processing_time(int64_t ts) = 0;
};

}  // namespace sage
