#pragma once
/// @file watermark_valve.hpp (internal: not installed)
/// Combines the watermarks of a task's input channels into the task's one
/// watermark, as Flink's `StatusWatermarkValve` does: the minimum over the
/// active channels, forwarded only when it advances. A plain class, without
/// actors or clocks, so that its rules are tested on their own.
///
/// Rules:
/// - a channel's watermark only rises (a lower one than it had is ignored);
/// - an idle channel does not hold the others back; when every channel is idle,
///   nothing advances (and `idle()` says so);
/// - a channel that becomes active again below the watermark already forwarded
///   does not pull it back: it counts again once it has caught up;
/// - end-of-stream on a channel is its maximal watermark, so once every channel
///   has ended the task forwards `max_watermark`.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include <sage/detail/time.hpp>

namespace sage::detail {

class WatermarkValve {
 public:
  explicit WatermarkValve(size_t channels) : channels_(channels) {}

  /// A watermark arrived on `channel` (which is active from now on). Returns
  /// the task's new watermark if it advanced.
  std::optional<EventTime> on_watermark(size_t channel, EventTime watermark);
  /// `channel` went idle: it holds nobody back until it sends again.
  std::optional<EventTime> on_idle(size_t channel);
  /// `channel` is active again (a record or a watermark came).
  void on_active(size_t channel);
  /// End-of-stream on `channel`: its watermark is the maximal one.
  std::optional<EventTime> on_end(size_t channel) { return on_watermark(channel, max_watermark); }

  /// The last watermark forwarded (`min_watermark` before the first).
  [[nodiscard]] EventTime current() const { return forwarded_; }
  /// Whether every channel is idle.
  [[nodiscard]] bool idle() const;
  /// The active channel with the lowest watermark, which holds the task's back
  /// (what `status()` shows); none if every channel is idle or there are none.
  [[nodiscard]] std::optional<size_t> holding_back() const;

 private:
  struct Channel {
    EventTime watermark = min_watermark;
    bool idle = false;
    bool aligned = true;  ///< counts for the minimum (not behind what was forwarded)
  };
  std::optional<EventTime> advance();

  std::vector<Channel> channels_;
  EventTime forwarded_ = min_watermark;
};

}  // namespace sage::detail
