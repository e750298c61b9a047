// The rules by which a task combines its input channels' watermarks.

#include <doctest/doctest.h>

#include <optional>

#include <sage/detail/watermark_valve.hpp>

using sage::detail::max_watermark;
using sage::detail::min_watermark;
using sage::detail::WatermarkValve;

TEST_CASE("watermark valve: the minimum over the channels, forwarded when it advances") {
  WatermarkValve v(3);
  CHECK(v.current() == min_watermark);
  CHECK_FALSE(v.on_watermark(0, 10));  // channels 1 and 2 still at the minimum
  CHECK_FALSE(v.on_watermark(1, 20));
  CHECK(v.on_watermark(2, 15) == 10);
  CHECK(v.holding_back() == 0u);
  CHECK_FALSE(v.on_watermark(0, 5));  // a channel's watermark never falls
  CHECK(v.current() == 10);
  CHECK(v.on_watermark(0, 30) == 15);
  CHECK(v.holding_back() == 2u);
  CHECK_FALSE(v.on_watermark(1, 25));  // not the lowest: no change
  CHECK(v.on_watermark(2, 40) == 25);
}

TEST_CASE(
    "watermark valve: an idle channel holds nobody back, and when all are idle nothing moves") {
  WatermarkValve v(2);
  CHECK_FALSE(v.on_watermark(0, 100));
  CHECK(v.on_idle(1) == 100);  // channel 1 was holding back at the minimum
  CHECK_FALSE(v.idle());
  CHECK(v.on_watermark(0, 200) == 200);
  CHECK_FALSE(v.on_idle(0));
  CHECK(v.idle());
  CHECK_FALSE(v.holding_back());
  CHECK(v.current() == 200);
}

TEST_CASE(
    "watermark valve: a channel back from idleness below the watermark does not pull it "
    "back") {
  WatermarkValve v(2);
  v.on_watermark(0, 50);
  v.on_idle(1);
  CHECK(v.current() == 50);
  v.on_active(1);
  CHECK(v.holding_back() == 0u);  // channel 1 (at the minimum) is behind: it does not count yet
  CHECK(v.on_watermark(0, 80) == 80);
  CHECK_FALSE(v.on_watermark(1, 60));  // still behind what was forwarded
  CHECK(v.holding_back() == 0u);
  CHECK_FALSE(v.on_watermark(1, 90));  // caught up: counts again, and is not the lowest
  CHECK(v.holding_back() == 0u);
  CHECK(v.on_watermark(0, 120) == 90);
  CHECK(v.holding_back() == 1u);
}

TEST_CASE("watermark valve: end of stream is the maximal watermark") {
  WatermarkValve v(2);
  v.on_watermark(0, 7);
  CHECK(v.on_end(1) == 7);
  CHECK(v.on_end(0) == max_watermark);
  CHECK(v.current() == max_watermark);
}

TEST_CASE("watermark valve: a task without input channels forwards nothing") {
  WatermarkValve v(0);
  CHECK(v.idle());
  CHECK_FALSE(v.holding_back());
  CHECK(v.current() == min_watermark);
}
