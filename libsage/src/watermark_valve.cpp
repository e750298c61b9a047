#include <sage/detail/watermark_valve.hpp>

namespace sage::detail {

std::optional<EventTime> WatermarkValve::on_watermark(size_t channel, EventTime watermark) {
  auto& c = channels_.at(channel);
  c.idle = false;
  if (watermark > c.watermark) c.watermark = watermark;
  if (!c.aligned && c.watermark >= forwarded_) c.aligned = true;
  return advance();
}

std::optional<EventTime> WatermarkValve::on_idle(size_t channel) {
  channels_.at(channel).idle = true;
  return advance();
}

void WatermarkValve::on_active(size_t channel) {
  auto& c = channels_.at(channel);
  if (!c.idle) return;
  c.idle = false;
  c.aligned = c.watermark >= forwarded_;
}

bool WatermarkValve::idle() const {
  for (const auto& c : channels_)
    if (!c.idle) return false;
  return true;
}

std::optional<size_t> WatermarkValve::holding_back() const {
  std::optional<size_t> lowest;
  for (size_t i = 0; i < channels_.size(); ++i) {
    const auto& c = channels_[i];
    if (c.idle || !c.aligned) continue;
    if (!lowest || c.watermark < channels_[*lowest].watermark) lowest = i;
  }
  return lowest;
}

std::optional<EventTime> WatermarkValve::advance() {
  const auto lowest = holding_back();
  if (!lowest) return std::nullopt;
  const EventTime candidate = channels_[*lowest].watermark;
  if (candidate <= forwarded_) return std::nullopt;
  forwarded_ = candidate;
  return forwarded_;
}

}  // namespace sage::detail
