#pragma once
/// @file joins.hpp
/// The joins of two keyed streams on event time (API.md section 3.1):
/// `window_join` (every pair of one key in the same window, a window operator
/// whose contents are both sides' records) and `interval_join` (every pair
/// within a time interval of each other, buffered per key until the watermark
/// passes them). Both keep what they buffer in the keyed state backend.

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include <sage/detail/multi_input.hpp>
#include <sage/detail/time_operators.hpp>

namespace sage::detail {

// -- window join ----------------------------------------------------------------------

/// A record of either side of a join as a window operator sees it: a view,
/// never stored.
template <class L, class R>
struct JoinSide {
  const L* left = nullptr;
  const R* right = nullptr;
};

/// The records of both sides of one window of one key.
template <class L, class R>
struct JoinBuffers {
  std::vector<L> left;
  std::vector<R> right;
};

template <class Inspector, class L, class R>
requires(has_codec<L>&& has_codec<R>) auto inspect(Inspector& f, JoinBuffers<L, R>& b) {
  return f(b.left, b.right);
}

/// The window function of a window join: buffers both sides; a window that
/// fires emits `f(l, r)` for every pair, left records in arrival order, then
/// right ones.
template <class L, class R, class Out_, class F>
struct WindowJoinFunction {
  using Acc = JoinBuffers<L, R>;
  using Out = Out_;
  static constexpr bool can_merge = true;
  F f;
  Acc create() { return {}; }
  void add(const JoinSide<L, R>& x, Acc& acc) {
    if (x.left != nullptr)
      acc.left.push_back(*x.left);
    else
      acc.right.push_back(*x.right);
  }
  void merge(Acc& into, Acc&& from) {
    into.left.insert(into.left.end(), std::make_move_iterator(from.left.begin()),
                     std::make_move_iterator(from.left.end()));
    into.right.insert(into.right.end(), std::make_move_iterator(from.right.begin()),
                      std::make_move_iterator(from.right.end()));
  }
  template <class K>
  void emit(const K&, const Window&, const Acc& acc, Collector<Out>& out) {
    for (const auto& l : acc.left)
      for (const auto& r : acc.right) out.collect(f(l, r));
  }
};

/// `ka.window_join(kb, assigner, f)`: a window operator over both inputs.
template <class K, class L, class R, class Out, class F>
class WindowJoinInstance final
    : public WindowInstance<JoinSide<L, R>, K, WindowJoinFunction<L, R, Out, F>>,
      public MultiInput<L, R> {
  using Base = WindowInstance<JoinSide<L, R>, K, WindowJoinFunction<L, R, Out, F>>;

 public:
  WindowJoinInstance(F f, WindowSpec spec)
      : Base(WindowJoinFunction<L, R, Out, F>{std::move(f)}, std::move(spec)) {
    this->bind_inputs(this);
  }

  template <size_t I, class T>
  void push_input(T&& x) {
    ++this->records_in;
    CurrentRecord current(this->ctx_, &x);  // the key is read from the record itself
    JoinSide<L, R> side;
    if constexpr (I == 0)
      side.left = &x;
    else
      side.right = &x;
    this->assign(side);
  }
};

// -- interval join -------------------------------------------------------------------

/// The records of one key an interval join still needs, each with its event
/// time, sorted by it.
template <class L, class R>
struct IntervalBuffers {
  std::vector<std::pair<int64_t, L>> left;
  std::vector<std::pair<int64_t, R>> right;
};

template <class Inspector, class L, class R>
requires(has_codec<L>&& has_codec<R>) auto inspect(Inspector& f, IntervalBuffers<L, R>& b) {
  return f(b.left, b.right);
}

/// `ka.interval_join(kb, lower, upper, f)`: emits `f(l, r)` for every pair of
/// one key with `l.ts + lower <= r.ts <= l.ts + upper`, at the later of the
/// two times. A left record is kept until the watermark passes `ts + upper`
/// (no right record that matches it can come after), a right one until it
/// passes `ts - lower`; a record at or below the watermark when it arrives is
/// late: dropped and counted in `records_late_dropped`.
template <class K, class L, class R, class Out, class F>
class IntervalJoinInstance final : public OperatorInstance,
                                   public MultiInput<L, R>,
                                   public Emitter<Out> {
 public:
  using Buffers = IntervalBuffers<L, R>;
  using Table = HeapTable<Buffers, StateKind::windows>;

  IntervalJoinInstance(F f, int64_t lower, int64_t upper)
      : f_(std::move(f)), lower_(lower), upper_(upper) {
    this->bind_inputs(this);
  }

  void open() override {
    auto& state = ContextAccess::state(ctx_);
    table_ = &state.template internal_table<Table>("sage.interval-join");
    timers_ = &state.timers();
    time_ = &ContextAccess::time(ctx_);
  }
  void close() override {}

  template <size_t I, class T>
  void push_input(T&& x) {
    ++records_in;
    const int64_t ts = time_->record_timestamp;
    const int64_t wm = ctx_.current_watermark();
    if (wm != min_watermark && ts <= wm) {
      ++records_late_dropped;
      return;
    }
    guarded(ctx_, [&] {
      CurrentRecord current(ctx_, &x);
      auto& buffers = table_->get_or_create();
      if constexpr (I == 0) {
        // Right records in [ts + lower, ts + upper].
        join_range(buffers.right, add(ts, lower_), add(ts, upper_),
                   [&](int64_t rts, const R& r) { emit(x, r, std::max(ts, rts)); });
        insert_sorted(buffers.left, ts, std::move(x));
        timers_->add(HeapTimers::event_time, add(ts, upper_));
      } else {
        // Left records in [ts - upper, ts - lower].
        join_range(buffers.left, add(ts, -upper_), add(ts, -lower_),
                   [&](int64_t lts, const L& l) { emit(l, x, std::max(ts, lts)); });
        insert_sorted(buffers.right, ts, std::move(x));
        timers_->add(HeapTimers::event_time, add(ts, -lower_));
      }
    });
  }

  WatermarkStatus advance_time(WatermarkStatus in) override {
    fire_timers(ctx_, *timers_, HeapTimers::event_time, in.watermark, [&](int64_t) {
      auto* buffers = table_->find_mutable();
      if (buffers == nullptr) return;
      const int64_t wm = in.watermark;
      std::erase_if(buffers->left, [&](const auto& e) { return add(e.first, upper_) <= wm; });
      std::erase_if(buffers->right, [&](const auto& e) { return add(e.first, -lower_) <= wm; });
      if (buffers->left.empty() && buffers->right.empty()) table_->erase();
    });
    return in;
  }

 private:
  /// `a + b`, saturated at the ends of event time.
  static int64_t add(int64_t a, int64_t b) {
    int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r))
      return b > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
    return r;
  }

  template <class V, class Fn>
  static void join_range(const std::vector<std::pair<int64_t, V>>& side, int64_t from, int64_t to,
                         Fn&& fn) {
    auto it = std::lower_bound(side.begin(), side.end(), from,
                               [](const auto& e, int64_t t) { return e.first < t; });
    for (; it != side.end() && it->first <= to; ++it) fn(it->first, it->second);
  }

  template <class V>
  static void insert_sorted(std::vector<std::pair<int64_t, V>>& side, int64_t ts, V&& x) {
    auto it = std::upper_bound(side.begin(), side.end(), ts,
                               [](int64_t t, const auto& e) { return t < e.first; });
    side.emplace(it, ts, std::move(x));
  }

  void emit(const L& l, const R& r, int64_t ts) {
    const int64_t record_ts = time_->record_timestamp;
    time_->record_timestamp = ts;
    ++records_out;
    this->out_.push(Out(f_(l, r)));
    time_->record_timestamp = record_ts;
  }

  F f_;
  int64_t lower_;
  int64_t upper_;
  Table* table_ = nullptr;
  HeapTimers* timers_ = nullptr;
  TaskTime* time_ = nullptr;
};

}  // namespace sage::detail
