#pragma once
/// @file time_operators.hpp
/// The operator instances of event time: the timestamp assigner (which makes
/// watermarks), `KeyedProcessFunction` (timers), and the window operators
/// (tumbling, sliding, session, count). Their state (window contents, timers)
/// lives in the instance's state backend, so snapshots cover it
/// (docs/state-and-time.md).

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <sage/detail/operator_instances.hpp>
#include <sage/detail/state_backend.hpp>
#include <sage/detail/time.hpp>
#include <sage/detail/window_state.hpp>
#include <sage/error.hpp>
#include <sage/event_time.hpp>

namespace sage::detail {

/// The configured `watermark.interval` in ms (default 200).
int64_t watermark_interval_ms(const Config& config);

// -- timestamps and watermarks -----------------------------------------------------

/// `assign_timestamps(f, strategy)`: stamps each record with `f(record)` and
/// makes the stream's watermark (highest timestamp - bound - 1), every
/// `watermark.interval`; idle after `strategy.idleness` without a record.
template <class T, class F>
class TimestampsInstance final : public OperatorInstance, public Receiver<T>, public Emitter<T> {
 public:
  TimestampsInstance(F f, WatermarkStrategy strategy) : fn_(std::move(f)), strategy_(strategy) {}

  void open() override {
    time_ = &ContextAccess::time(ctx_);
    interval_ms_ = watermark_interval_ms(ctx_.config());
    last_record_ms_ = time_->now_ms;
    next_emit_ms_ = time_->now_ms + interval_ms_;
  }
  void close() override {}

  void push(T&& x) override {
    ++records_in;
    const EventTime ts = guarded(ctx_, [&] {
      CurrentRecord current(ctx_, &x);
      return static_cast<EventTime>(fn_(std::as_const(x)));
    });
    if (ts > max_seen_) max_seen_ = ts;
    time_->record_timestamp = ts;
    last_record_ms_ = time_->now_ms;
    if (idle_) {  // active again: the task tells downstream soon
      idle_ = false;
      time_->status_changed = true;
    }
    ++records_out;
    this->out_.push(std::move(x));
  }

  WatermarkStatus advance_time(WatermarkStatus in) override {
    if (in.watermark == max_watermark) {  // the input ended: so does event time
      ended_ = true;
      return {max_watermark, false};
    }
    const int64_t now = time_->now_ms;
    if (now >= next_emit_ms_) next_emit_ms_ = now + interval_ms_;
    if (strategy_.idleness.count() > 0 && now - last_record_ms_ >= strategy_.idleness.count())
      idle_ = true;
    const EventTime wm = max_seen_ == min_watermark
                             ? min_watermark
                             : max_seen_ - strategy_.out_of_orderness.count() - 1;
    return {wm, idle_};
  }

  [[nodiscard]] std::optional<int64_t> next_wakeup() const override {
    if (ended_) return std::nullopt;
    return next_emit_ms_;
  }

 private:
  F fn_;
  WatermarkStrategy strategy_;
  TaskTime* time_ = nullptr;
  int64_t interval_ms_ = 200;
  int64_t last_record_ms_ = 0;
  int64_t next_emit_ms_ = 0;
  EventTime max_seen_ = min_watermark;
  bool idle_ = false;
  bool ended_ = false;
};

// -- timers ---------------------------------------------------------------------------

/// Fires the due timers of `domain` up to `until`, each with its key current
/// and the task's record timestamp at the timer's time: `fire(ts)` per timer.
template <class Fire>
void fire_timers(RuntimeContext& ctx, HeapTimers& timers, HeapTimers::Domain domain, int64_t until,
                 Fire&& fire) {
  auto& time = ContextAccess::time(ctx);
  while (auto due = timers.pop_due(domain, until)) {
    ContextAccess::set_fixed_key(ctx, due->second);
    time.record_timestamp = due->first;
    try {
      fire(due->first);
    } catch (...) {
      ContextAccess::clear_fixed_key(ctx);
      throw;
    }
    ContextAccess::clear_fixed_key(ctx);
  }
}

/// `KeyedStream::process<F>()`: a `KeyedProcessFunction<K, In, Out>` per instance.
template <class K, class In, class Out, class F>
class KeyedProcessInstance final : public WithFunction<std::unique_ptr<F>>,
                                   public Receiver<In>,
                                   public Emitter<Out> {
 public:
  using WithFunction<std::unique_ptr<F>>::WithFunction;

  void push(In&& x) override {
    ++this->records_in;
    Collector<Out> out(this->out_, this->records_out);
    guarded(this->ctx_, [&] {
      CurrentRecord current(this->ctx_, &x);
      this->fn_->process(std::as_const(x), out);
    });
  }

  WatermarkStatus advance_time(WatermarkStatus in) override {
    auto& timers = ContextAccess::state(this->ctx_).timers();
    Collector<Out> out(this->out_, this->records_out);
    auto fire = [&](int64_t ts) { guarded(this->ctx_, [&] { this->fn_->on_timer(ts, out); }); };
    fire_timers(this->ctx_, timers, HeapTimers::event_time, in.watermark, fire);
    const int64_t now =
        in.watermark == max_watermark ? max_watermark : ContextAccess::time(this->ctx_).now_ms;
    fire_timers(this->ctx_, timers, HeapTimers::processing_time, now, fire);
    if (in.watermark == max_watermark) ended_ = true;
    return in;
  }

  [[nodiscard]] std::optional<int64_t> next_wakeup() const override {
    if (ended_) return std::nullopt;
    auto& timers = ContextAccess::state(const_cast<RuntimeContext&>(this->ctx_)).timers();
    return timers.next(HeapTimers::processing_time);
  }

 private:
  bool ended_ = false;
};

// -- windows ---------------------------------------------------------------------------

/// What a window operator computes per key and window, behind one interface:
/// `Acc create()`, `add(record, acc)`, `merge(into, from)` (session windows),
/// `emit(key, window, acc, out)`. Made per instance from the user's function.

/// `reduce(f)`: the value so far.
template <class T, class F>
struct ReduceWindowFunction {
  using Acc = std::optional<T>;
  using Out = T;
  static constexpr bool can_merge = true;
  F f;
  Acc create() { return std::nullopt; }
  void add(const T& x, Acc& acc) { acc = acc ? T(f(std::as_const(*acc), x)) : x; }
  void merge(Acc& into, Acc&& from) {
    if (!from) return;
    into = into ? T(f(std::as_const(*into), std::as_const(*from))) : std::move(from);
  }
  template <class K>
  void emit(const K&, const Window&, const Acc& acc, Collector<T>& out) {
    if (acc) out.collect(*acc);
  }
};

template <class A, class T>
using aggregate_acc_t = std::remove_cvref_t<decltype(std::declval<A&>().create())>;

/// The type `agg.result(...)` returns, in whichever form it has.
template <bool ThreeArg, class T, class K, class A>
struct aggregate_out {
  using type = std::remove_cvref_t<decltype(std::declval<A&>().result(
      std::declval<const aggregate_acc_t<A, T>&>()))>;
};
template <class T, class K, class A>
struct aggregate_out<true, T, K, A> {
  using type = std::remove_cvref_t<decltype(std::declval<A&>().result(
      std::declval<const K&>(), std::declval<const Window&>(),
      std::declval<const aggregate_acc_t<A, T>&>()))>;
};

/// `aggregate(agg)`: `create`, `add(record, acc)`, `result(acc)` or
/// `result(key, window, acc)`, and, if it has one, `merge(acc, acc)`.
template <class T, class K, class A>
struct AggregateWindowFunction {
  using Acc = aggregate_acc_t<A, T>;
  static constexpr bool three_arg_result =
      requires(A & a, const K& k, const Window& w, const Acc& acc) {
    a.result(k, w, acc);
  };
  using Out = typename aggregate_out<three_arg_result, T, K, A>::type;
  static constexpr bool can_merge = requires(A & a, Acc& x, const Acc& y) { a.merge(x, y); };
  A agg;
  Acc create() { return agg.create(); }
  void add(const T& x, Acc& acc) { agg.add(x, acc); }
  void merge(Acc& into, Acc&& from) {
    if constexpr (can_merge) agg.merge(into, std::as_const(from));
  }
  void emit(const K& key, const Window& w, const Acc& acc, Collector<Out>& out) {
    if constexpr (three_arg_result)
      out.collect(agg.result(key, w, acc));
    else
      out.collect(agg.result(acc));
  }
};

/// `process(f)`: every record of the window, handed to `f(key, window, records, out)`.
template <class T, class K, class Out_, class F>
struct ProcessWindowFunction {
  using Acc = std::vector<T>;
  using Out = Out_;
  static constexpr bool can_merge = true;
  F f;
  Acc create() { return {}; }
  void add(const T& x, Acc& acc) { acc.push_back(x); }
  void merge(Acc& into, Acc&& from) {
    into.insert(into.end(), std::make_move_iterator(from.begin()),
                std::make_move_iterator(from.end()));
  }
  void emit(const K& key, const Window& w, const Acc& acc, Collector<Out>& out) {
    f(key, w, acc, out);
  }
};

/// The contents of a window whose function cannot merge accumulators: the
/// accumulator, or (session windows, which merge) the records.
template <class FnAcc, class T>
struct UnmergedAcc {
  FnAcc acc{};
  std::vector<T> records;
};

template <class Inspector, class FnAcc, class T>
requires(has_codec<FnAcc>&& has_codec<T>) auto inspect(Inspector& f, UnmergedAcc<FnAcc, T>& a) {
  return f(a.acc, a.records);
}

/// How a window operator assigns records (`KeyedStream::window`, `count_window`).
struct WindowSpec {
  enum class Kind : uint8_t { tumbling, sliding, session, count };
  Kind kind = Kind::tumbling;
  int64_t size = 0;   ///< ms (time windows) or records (count windows)
  int64_t slide = 0;  ///< ms or records; 0: tumbling
  int64_t gap = 0;    ///< session windows, ms
  bool event_time = true;
  int64_t allowed_lateness = 0;  ///< ms
  std::string late_tag;          ///< the side output of late records; empty: dropped and counted
};

/// The windows of `a` (tumbling, sliding, session); a size, slide or gap that
/// is not positive is a `GraphError`.
inline WindowSpec time_window_spec(const WindowAssigner& a) {
  WindowSpec spec;
  switch (a.kind) {
    case WindowAssigner::Kind::tumbling:
      spec.kind = WindowSpec::Kind::tumbling;
      spec.size = a.size_ms;
      if (spec.size <= 0)
        throw GraphError("a tumbling window's size must be positive, got " +
                         std::to_string(spec.size) + " ms");
      break;
    case WindowAssigner::Kind::sliding:
      spec.kind = WindowSpec::Kind::sliding;
      spec.size = a.size_ms;
      spec.slide = a.slide_ms;
      if (spec.size <= 0 || spec.slide <= 0)
        throw GraphError("a sliding window's size and slide must be positive, got " +
                         std::to_string(spec.size) + " ms and " + std::to_string(spec.slide) +
                         " ms");
      break;
    case WindowAssigner::Kind::session:
      spec.kind = WindowSpec::Kind::session;
      spec.gap = a.gap_ms;
      if (spec.gap <= 0)
        throw GraphError("a session window's gap must be positive, got " +
                         std::to_string(spec.gap) + " ms");
      break;
  }
  return spec;
}

/// A keyed window operator: per key and window one accumulator (`Fn::Acc`),
/// kept in the keyed state backend (state "sage.windows", window_state.hpp):
/// aligned windows (tumbling, sliding) in one pane per window, which fires for
/// all its keys; session and count windows per key, with one timer per key
/// and window end (state "sage.timers"). Event-time windows fire when the
/// watermark passes their end, processing-time windows when the clock does,
/// count windows when they are full. The window join derives from it, with
/// records of either input as `T` (joins.hpp).
template <class T, class K, class Fn>
class WindowInstance : public OperatorInstance,
                       public Receiver<T>,
                       public Emitter<typename Fn::Out> {
 public:
  using Out = typename Fn::Out;
  /// Sessions whose function cannot merge accumulators keep their records
  /// instead (other windows never do: they do not merge).
  static constexpr bool keep_records = !Fn::can_merge;
  using Acc = std::conditional_t<keep_records, UnmergedAcc<typename Fn::Acc, T>, typename Fn::Acc>;
  using Entries = std::vector<WindowEntry<Acc>>;
  using Table = HeapTable<Entries, StateKind::windows>;
  /// Aligned windows never merge: their panes keep the function's accumulator.
  using Panes = PaneTable<K, typename Fn::Acc>;

  WindowInstance(Fn fn, WindowSpec spec) : fn_(std::move(fn)), spec_(std::move(spec)) {}

  void open() override {
    auto& state = ContextAccess::state(ctx_);
    state_ = &state;
    if (aligned()) {
      panes_ = &state.template internal_table<Panes>("sage.windows");
    } else {
      table_ = &state.template internal_table<Table>("sage.windows");
      timers_ = &state.timers();
    }
    if (spec_.kind == WindowSpec::Kind::count)
      counts_ =
          &state.template internal_table<HeapTable<int64_t, StateKind::value>>("sage.window-count");
    time_ = &ContextAccess::time(ctx_);
    open_user_fn(user_of(fn_), ctx_);
  }
  void close() override {
    guarded(ctx_, [&] { close_user_fn(user_of(fn_)); });
  }

  void push(T&& x) override {
    ++records_in;
    CurrentRecord current(ctx_, &x);
    assign(x);
  }

  WatermarkStatus advance_time(WatermarkStatus in) override {
    const bool end = in.watermark == max_watermark;
    if (spec_.kind == WindowSpec::Kind::count) return in;  // count windows do not use time
    if (aligned()) {
      fire_panes(spec_.event_time ? in.watermark : (end ? max_watermark : time_->now_ms));
    } else if (spec_.event_time) {
      fire_due(HeapTimers::event_time, in.watermark);
    } else {
      fire_due(HeapTimers::processing_time, end ? max_watermark : time_->now_ms);
    }
    if (end) ended_ = true;
    return in;
  }

  [[nodiscard]] std::optional<int64_t> next_wakeup() const override {
    if (ended_ || spec_.event_time || spec_.kind == WindowSpec::Kind::count) return std::nullopt;
    if (panes_ != nullptr) {
      if (panes_->panes().empty()) return std::nullopt;
      return panes_->panes().begin()->second.window.max_timestamp();
    }
    if (timers_ == nullptr) return std::nullopt;
    return timers_->next(HeapTimers::processing_time);
  }

 protected:
  /// Puts `x` into its windows; the context's current record is the one whose
  /// key is `x`'s.
  void assign(T& x) {
    guarded(ctx_, [&] {
      switch (spec_.kind) {
        case WindowSpec::Kind::count:
          add_counted(x);
          break;
        case WindowSpec::Kind::session:
          add_session(x);
          break;
        default:
          add_aligned(x);
      }
    });
  }

 private:
  template <class G>
  static auto& user_of(G& g) {
    if constexpr (requires { g.f; })
      return g.f;
    else
      return g.agg;
  }

  [[nodiscard]] bool aligned() const {
    return spec_.kind == WindowSpec::Kind::tumbling || spec_.kind == WindowSpec::Kind::sliding;
  }
  HeapTimers::Domain domain() const {
    return spec_.event_time ? HeapTimers::event_time : HeapTimers::processing_time;
  }
  /// The record's time: its event time, or now.
  [[nodiscard]] int64_t record_time() const {
    return spec_.event_time ? time_->record_timestamp : time_->now_ms;
  }
  [[nodiscard]] int64_t watermark() const {
    return spec_.event_time ? ctx_.current_watermark() : min_watermark;
  }
  [[nodiscard]] int64_t lateness() const { return spec_.event_time ? spec_.allowed_lateness : 0; }
  /// Past its allowed lateness: the window is gone.
  [[nodiscard]] bool expired(const Window& w) const {
    return w.max_timestamp() + lateness() <= watermark() && watermark() != min_watermark;
  }

  Acc fresh() {
    if constexpr (keep_records)
      return Acc{fn_.create(), {}};
    else
      return fn_.create();
  }
  void add_to(const T& x, Acc& acc) {
    if constexpr (keep_records) {
      if (spec_.kind == WindowSpec::Kind::session)
        acc.records.push_back(x);
      else
        fn_.add(x, acc.acc);
    } else {
      fn_.add(x, acc);
    }
  }

  /// Emits a window while a record is processed, at the window's time.
  void emit_now(const WindowEntry<Acc>& e) {
    const EventTime record_ts = time_->record_timestamp;
    time_->record_timestamp = e.window.max_timestamp();
    emit(ctx_.template key<K>(), e);
    time_->record_timestamp = record_ts;
  }

  void late(T& x) {
    if (!spec_.late_tag.empty())
      ContextAccess::side_output<T>(ctx_, spec_.late_tag).push(x);
    else
      ++records_late_dropped;
  }

  void add_aligned(T& x) {
    const int64_t ts = record_time();
    const int64_t size = spec_.size;
    const int64_t slide = spec_.slide > 0 ? spec_.slide : size;
    // The last window that starts at or before ts, then the earlier ones that still hold it.
    // (Records come mostly in time order: the last record's window start saves a
    // division. Unsigned: `ts - last_start_` in [0, slide), without overflow.)
    const bool same_slide = static_cast<uint64_t>(ts) - static_cast<uint64_t>(last_start_) <
                            static_cast<uint64_t>(slide);
    const int64_t last_start = same_slide ? last_start_ : (last_start_ = ts - floor_mod(ts, slide));
    const K key = ContextAccess::record_key<K>(ctx_);
    const uint64_t hash = key_index_hash(key);
    bool placed = false;
    for (int64_t start = last_start; start > ts - size; start -= slide) {
      const Window w{start, start + size};
      if (expired(w)) continue;
      add_to_pane(x, w, key, hash);
      placed = true;
    }
    if (!placed) late(x);
  }

  /// Adds `x` to the current key's accumulator in the pane of `w`; emits the
  /// key's result at once if the window's time has passed (a late record
  /// within the allowed lateness). Before that, the key's result (again
  /// unfired, if it had fired: a pane restored when the watermark starts
  /// anew) fires with the pane.
  void add_to_pane(const T& x, const Window& w, const K& key, uint64_t hash) {
    const bool passed = spec_.event_time && w.max_timestamp() <= watermark();
    auto& pane = panes_->pane(w, passed);
    const uint32_t slot = panes_->slot_for(
        pane, key, hash, [&] { return fn_.create(); }, [&] { return state_->current(); });
    auto& acc = pane.accs[slot];
    fn_.add(x, acc);
    if (!passed) {
      pane.fired_slots[slot] = 0;
      pane.fired = false;  // (it had not, live: a pane fires only once passed)
      return;
    }
    pane.fired_slots[slot] = 1;
    const EventTime record_ts = time_->record_timestamp;
    time_->record_timestamp = w.max_timestamp();
    Collector<Out> out(this->out_, records_out);
    fn_.emit(key, w, acc, out);
    time_->record_timestamp = record_ts;
  }

  /// Fires every pane whose last instant is at or before `until`, each key in
  /// the order of its id (as timers would), with that key current, at the
  /// window's time; drops the panes past their allowed lateness.
  void fire_panes(int64_t until) {
    const int64_t keep = lateness();
    auto& panes = panes_->panes();
    for (auto it = panes.begin(); it != panes.end();) {
      auto& pane = it->second;
      const int64_t t = pane.window.max_timestamp();
      if (t > until) break;  // panes are in the order of their ends
      if (!pane.fired) {
        pane.fired = true;
        fire_pane(pane);
      }
      if (until == max_watermark || t + keep <= until)
        it = panes_->erase(it);
      else
        ++it;
    }
  }

  void fire_pane(typename Panes::PaneType& pane) {
    std::vector<uint32_t> slots(pane.ids.size());
    std::iota(slots.begin(), slots.end(), uint32_t{0});
    std::sort(slots.begin(), slots.end(),
              [&](uint32_t a, uint32_t b) { return pane.ids[a] < pane.ids[b]; });
    time_->record_timestamp = pane.window.max_timestamp();
    Collector<Out> out(this->out_, records_out);
    for (uint32_t slot : slots) {
      if (pane.fired_slots[slot] != 0) continue;
      pane.fired_slots[slot] = 1;
      const uint32_t id = pane.ids[slot];
      ContextAccess::set_fixed_key(ctx_, id);
      try {
        guarded(ctx_, [&] { fn_.emit(panes_->key(id), pane.window, pane.accs[slot], out); });
      } catch (...) {
        ContextAccess::clear_fixed_key(ctx_);
        throw;
      }
      ContextAccess::clear_fixed_key(ctx_);
    }
  }

  void add_session(T& x) {
    const int64_t ts = record_time();
    Window merged{ts, ts + spec_.gap};
    if (expired(merged)) {
      late(x);
      return;
    }
    auto& entries = table_->get_or_create();
    Acc acc = fresh();
    add_to(x, acc);
    bool fired = false;
    // Every session of the key that touches the new one merges into it.
    for (size_t i = 0; i < entries.size();) {
      auto& e = entries[i];
      if (e.window.start <= merged.end && merged.start <= e.window.end) {
        merged = Window{std::min(merged.start, e.window.start), std::max(merged.end, e.window.end)};
        merge_into(acc, std::move(e.acc));
        fired = fired || e.fired;
        entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    entries.push_back(WindowEntry<Acc>{merged, std::move(acc), fired});
    timers_->add(domain(),
                 merged.max_timestamp());  // stale timers of merged sessions fire harmlessly
    if (spec_.event_time && merged.max_timestamp() <= watermark()) {
      entries.back().fired = true;
      emit_now(entries.back());
      timers_->add(domain(), merged.max_timestamp() + lateness());
    }
  }

  void merge_into(Acc& into, Acc&& from) {
    if constexpr (keep_records)
      into.records.insert(into.records.end(), std::make_move_iterator(from.records.begin()),
                          std::make_move_iterator(from.records.end()));
    else
      fn_.merge(into, std::move(from));
  }

  /// Count windows: tumbling (`size` records) or sliding (the last `size`
  /// records, every `slide` records, as Flink's `countWindow(size, slide)`:
  /// the first ones hold fewer). A window that is not full at the end of the
  /// stream does not fire (as in Flink).
  void add_counted(T& x) {
    int64_t& count = counts_->get_or_create();
    const int64_t pos = count++;
    const int64_t n = spec_.size;
    const int64_t slide = spec_.slide > 0 ? spec_.slide : n;
    auto& entries = table_->get_or_create();
    // The windows that end at the positions e with (e + 1) % slide == 0 in [pos, pos + n).
    for (int64_t e = (pos / slide + 1) * slide - 1; e < pos + n; e += slide) {
      const Window w{std::max<int64_t>(0, e - n + 1), e + 1};
      auto it = std::find_if(entries.begin(), entries.end(),
                             [&](const auto& en) { return en.window == w; });
      if (it == entries.end()) {
        entries.push_back(WindowEntry<Acc>{w, fresh(), false});
        it = entries.end() - 1;
      }
      add_to(x, it->acc);
    }
    // The window that ends here is complete.
    for (auto it = entries.begin(); it != entries.end(); ++it)
      if (it->window.end == pos + 1) {
        emit(ctx_.template key<K>(), *it);
        entries.erase(it);
        break;
      }
  }

  /// Fires every window whose timer is due at `until`, and drops those past
  /// their allowed lateness.
  void fire_due(HeapTimers::Domain d, int64_t until) {
    fire_timers(ctx_, *timers_, d, until, [&](int64_t) {
      auto* entries = table_->find_mutable();
      if (entries == nullptr) return;
      const K& key = ctx_.template key<K>();
      for (auto& e : *entries)
        if (!e.fired && e.window.max_timestamp() <= until) {
          e.fired = true;
          time_->record_timestamp = e.window.max_timestamp();
          guarded(ctx_, [&] { emit(key, e); });
        }
      const int64_t keep = d == HeapTimers::event_time ? lateness() : 0;
      std::erase_if(*entries, [&](const auto& e) {
        return e.fired && (until == max_watermark || e.window.max_timestamp() + keep <= until);
      });
      for (const auto& e : *entries)
        if (e.fired) timers_->add(d, e.window.max_timestamp() + keep);  // its cleanup
      if (entries->empty()) table_->erase();
    });
  }

  void emit(const K& key, const WindowEntry<Acc>& e) {
    Collector<Out> out(this->out_, records_out);
    if constexpr (keep_records) {
      if (spec_.kind != WindowSpec::Kind::session) {
        fn_.emit(key, e.window, e.acc.acc, out);
        return;
      }
      auto acc = fn_.create();
      for (const auto& x : e.acc.records) fn_.add(x, acc);
      fn_.emit(key, e.window, acc, out);
    } else {
      fn_.emit(key, e.window, e.acc, out);
    }
  }

  static int64_t floor_mod(int64_t a, int64_t b) {
    const int64_t m = a % b;
    return m < 0 ? m + b : m;
  }

  Fn fn_;
  WindowSpec spec_;
  StateBackend* state_ = nullptr;
  Panes* panes_ = nullptr;  // aligned windows
  Table* table_ = nullptr;  // session and count windows, with their timers
  HeapTimers* timers_ = nullptr;
  HeapTable<int64_t, StateKind::value>* counts_ = nullptr;
  TaskTime* time_ = nullptr;
  bool ended_ = false;
  int64_t last_start_ =
      0;  // the last record's last window start (0 starts one, as any multiple of the slide)
};

}  // namespace sage::detail
