#pragma once
/// @file window_oracle.hpp
/// Brute-force expectations for window tests: every record placed in every
/// window it belongs to, by the definitions of API.md section 3.2, without any
/// of the runtime's incremental machinery. Shared by the local tests and the
/// cluster check program.

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include <sage/event_time.hpp>

namespace sage::test {

/// A record of the window tests: key, event time (ms), value.
struct Event {
  int key = 0;
  int64_t ts = 0;
  int64_t value = 0;
  friend bool operator==(const Event&, const Event&) = default;
};

template <class Inspector>
auto inspect(Inspector& f, Event& e) {
  return f(e.key, e.ts, e.value);
}

/// (key, window start, window end, count, sum of values): what the tests'
/// windows emit, sorted for comparison.
using WindowResult = std::tuple<int, int64_t, int64_t, int64_t, int64_t>;

/// The tests' window aggregate: count and sum of values per key and window,
/// without `merge` (session windows then keep their records)...
struct CountSumNoMerge {
  std::pair<int64_t, int64_t> create() const { return {0, 0}; }
  void add(const Event& e, std::pair<int64_t, int64_t>& acc) const {
    acc.first += 1;
    acc.second += e.value;
  }
  WindowResult result(const int& key, const sage::Window& w,
                      const std::pair<int64_t, int64_t>& acc) const {
    return {key, w.start, w.end, acc.first, acc.second};
  }
};

/// ... and with it.
struct CountSum : CountSumNoMerge {
  void merge(std::pair<int64_t, int64_t>& into, const std::pair<int64_t, int64_t>& from) const {
    into.first += from.first;
    into.second += from.second;
  }
};

/// `n` events over `keys` keys with timestamps that rise by about `step` ms per
/// event and come out of order by at most `disorder` ms.
inline std::vector<Event> random_events(size_t n, int keys, int64_t step, int64_t disorder,
                                        uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> key(0, keys - 1);
  std::uniform_int_distribution<int64_t> jitter(0, disorder);
  std::uniform_int_distribution<int64_t> value(1, 100);
  std::vector<Event> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t base = static_cast<int64_t>(i) * step;
    out.push_back(Event{key(rng), std::max<int64_t>(0, base - jitter(rng)), value(rng)});
  }
  return out;
}

inline int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

/// Tumbling (`slide == size`) or sliding windows of event time.
inline std::vector<WindowResult> expected_time_windows(const std::vector<Event>& events,
                                                       int64_t size, int64_t slide) {
  std::map<std::tuple<int, int64_t, int64_t>, std::pair<int64_t, int64_t>> acc;
  for (const auto& e : events) {
    // Every window [s, s + size) with s a multiple of slide and s <= ts < s + size.
    for (int64_t s = floor_div(e.ts, slide) * slide; s > e.ts - size; s -= slide) {
      auto& a = acc[{e.key, s, s + size}];
      a.first += 1;
      a.second += e.value;
    }
  }
  std::vector<WindowResult> out;
  for (const auto& [k, a] : acc)
    out.emplace_back(std::get<0>(k), std::get<1>(k), std::get<2>(k), a.first, a.second);
  return out;
}

/// Session windows: per key, the events sorted by time; a session ends where
/// the next event is more than... exactly: windows [ts, ts + gap) merged while they
/// touch or overlap (as Flink merges them).
inline std::vector<WindowResult> expected_sessions(const std::vector<Event>& events, int64_t gap) {
  std::map<int, std::vector<const Event*>> by_key;
  for (const auto& e : events) by_key[e.key].push_back(&e);
  std::vector<WindowResult> out;
  for (auto& [key, list] : by_key) {
    std::sort(list.begin(), list.end(), [](auto* a, auto* b) { return a->ts < b->ts; });
    int64_t start = list.front()->ts, end = list.front()->ts + gap, count = 0, sum = 0;
    for (const auto* e : list) {
      if (e->ts > end) {  // [ts, ts + gap) does not touch [start, end)
        out.emplace_back(key, start, end, count, sum);
        start = e->ts;
        end = e->ts + gap;
        count = sum = 0;
      }
      end = std::max(end, e->ts + gap);
      ++count;
      sum += e->value;
    }
    out.emplace_back(key, start, end, count, sum);
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Count windows of `size` records per key, every `slide` records (Flink's
/// countWindow: the first windows hold fewer; windows not full at the end
/// never fire). `order` is the order the window operator sees each key's
/// records in (the tests keep one upstream instance per key's order).
inline std::vector<WindowResult> expected_count_windows(const std::vector<Event>& events,
                                                        int64_t size, int64_t slide) {
  std::map<int, std::vector<const Event*>> by_key;
  for (const auto& e : events) by_key[e.key].push_back(&e);
  std::vector<WindowResult> out;
  for (auto& [key, list] : by_key) {
    const auto n = static_cast<int64_t>(list.size());
    for (int64_t end = slide; end <= n; end += slide) {  // fires after record end - 1
      const int64_t first = std::max<int64_t>(0, end - size);
      int64_t sum = 0;
      for (int64_t i = first; i < end; ++i) sum += list[static_cast<size_t>(i)]->value;
      out.emplace_back(key, first, end, end - first, sum);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// -- joins ------------------------------------------------------------------------------

/// (key, left ts, left value, right ts, right value): what the tests' joins emit.
using JoinPair = std::tuple<int, int64_t, int64_t, int64_t, int64_t>;

inline JoinPair join_pair(const Event& l, const Event& r) {
  return {l.key, l.ts, l.value, r.ts, r.value};
}

/// Every pair of one key in the same tumbling or sliding window (once per
/// window they share).
inline std::vector<JoinPair> expected_window_join(const std::vector<Event>& left,
                                                  const std::vector<Event>& right, int64_t size,
                                                  int64_t slide) {
  std::vector<JoinPair> out;
  for (const auto& l : left)
    for (const auto& r : right) {
      if (l.key != r.key) continue;
      for (int64_t s = floor_div(l.ts, slide) * slide; s > l.ts - size; s -= slide)
        if (s <= r.ts && r.ts < s + size) out.push_back(join_pair(l, r));
    }
  std::sort(out.begin(), out.end());
  return out;
}

/// Every pair of one key in the same session of both sides' records together.
inline std::vector<JoinPair> expected_session_join(const std::vector<Event>& left,
                                                   const std::vector<Event>& right, int64_t gap) {
  struct Tagged {
    const Event* e;
    bool is_left;
  };
  std::map<int, std::vector<Tagged>> by_key;
  for (const auto& e : left) by_key[e.key].push_back({&e, true});
  for (const auto& e : right) by_key[e.key].push_back({&e, false});
  std::vector<JoinPair> out;
  for (auto& [key, list] : by_key) {
    std::sort(list.begin(), list.end(), [](auto& a, auto& b) { return a.e->ts < b.e->ts; });
    std::vector<const Event*> ls, rs;
    auto flush = [&] {
      for (auto* l : ls)
        for (auto* r : rs) out.push_back(join_pair(*l, *r));
      ls.clear();
      rs.clear();
    };
    int64_t end = list.front().e->ts + gap;
    for (const auto& t : list) {
      if (t.e->ts > end) flush();
      end = (ls.empty() && rs.empty()) ? t.e->ts + gap : std::max(end, t.e->ts + gap);
      (t.is_left ? ls : rs).push_back(t.e);
    }
    flush();
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// Every pair of one key with `l.ts + lower <= r.ts <= l.ts + upper`.
inline std::vector<JoinPair> expected_interval_join(const std::vector<Event>& left,
                                                    const std::vector<Event>& right, int64_t lower,
                                                    int64_t upper) {
  std::vector<JoinPair> out;
  for (const auto& l : left)
    for (const auto& r : right)
      if (l.key == r.key && l.ts + lower <= r.ts && r.ts <= l.ts + upper)
        out.push_back(join_pair(l, r));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace sage::test
