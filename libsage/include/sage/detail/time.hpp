#pragma once
/// @file time.hpp
/// Time inside a task: event time, the in-band markers that travel with the
/// batches (watermarks, idleness, end-of-stream), a stream's watermark status,
/// and `TaskTime`, what a task's operators share about the record being
/// processed and the clock (docs/state-and-time.md).

#include <chrono>
#include <cstdint>
#include <limits>

namespace sage::detail {

/// Event time, in milliseconds since the epoch.
using EventTime = int64_t;
inline constexpr EventTime min_watermark = std::numeric_limits<EventTime>::min();
inline constexpr EventTime max_watermark = std::numeric_limits<EventTime>::max();

/// What travels on a channel besides batches: in order with them, and without
/// credit. A watermark W says that no record with a timestamp <= W follows on
/// that channel (Flink's convention).
struct Marker {
  enum class Kind : uint8_t {
    watermark = 1,      ///< `value` is the channel's new watermark
    idle = 2,           ///< the channel sends nothing for a while: hold nobody back
    active = 3,         ///< the channel sends again
    end_of_stream = 4,  ///< nothing follows on the channel
  };
  Kind kind = Kind::watermark;
  EventTime value = 0;

  friend bool operator==(const Marker&, const Marker&) = default;
};

/// The time a stream has reached: its watermark, and whether it is idle.
struct WatermarkStatus {
  EventTime watermark = min_watermark;
  bool idle = false;
  friend bool operator==(const WatermarkStatus&, const WatermarkStatus&) = default;
};

/// Shared by the operators of one task (one thread): the timestamp of the
/// record being processed (set by the input port from the batch, by a
/// timestamp assigner, or by a window or timer that fires) and the processing
/// time of the current step.
struct TaskTime {
  /// The event time of the record being processed (`min_watermark`: none).
  EventTime record_timestamp = min_watermark;
  /// Processing time (wall clock, ms since the epoch), read once per step.
  int64_t now_ms = 0;
  /// Set by an operator whose output status changed outside the periodic
  /// tick (an idle stream that got a record): the task re-evaluates time soon.
  bool status_changed = false;

  static int64_t wall_clock_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace sage::detail
