// Event time and windows: simulated users click with pauses; clicks arrive out of
// order by up to 2 s. Per user, session windows (closed after 10 s without a click)
// count the clicks of each visit, and a tumbling minute counts clicks per user
// per minute. Clicks later than the bound plus 5 s of allowed lateness go to a
// side output instead of being lost.
//
// Usage: sage-user-sessions [--users N] [--clicks N] [--address HOST:PORT]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <sage/sage.hpp>

#include "environment_from_args.hpp"

namespace {

using namespace std::chrono_literals;

struct Click {
  int user = 0;
  int64_t ts = 0;  ///< event time, ms
  std::string page;
};

template <class Inspector>
auto inspect(Inspector& f, Click& c) {
  return f(c.user, c.ts, c.page);
}

/// user, window start (s), window end (s), clicks
using Visit = std::tuple<int, int64_t, int64_t, int64_t>;

/// Counts the clicks of a window.
struct CountClicks {
  int64_t create() const { return 0; }
  void add(const Click&, int64_t& n) const { ++n; }
  void merge(int64_t& into, const int64_t& from) const { into += from; }
  Visit result(const int& user, const sage::Window& w, const int64_t& n) const {
    return {user, w.start / 1000, w.end / 1000, n};
  }
};

/// Clicks of random users, about 10 per second in all, in arrival order: out of
/// order by up to 2 s, and now and then one 20 s late (a phone that was offline).
std::vector<Click> simulate(int users, int clicks) {
  std::mt19937 rng(7);
  std::vector<Click> out;
  int64_t now = 0;
  for (int i = 0; i < clicks; ++i) {
    now += 50 + static_cast<int64_t>(rng() % 100);
    int64_t ts = now - static_cast<int64_t>(rng() % 2'000);
    if (rng() % 500 == 0) ts -= 20'000;
    out.push_back(Click{static_cast<int>(rng() % static_cast<unsigned>(users)), ts,
                        "page" + std::to_string(rng() % 20)});
  }
  return out;
}

int run(int argc, char** argv) {
  sage::Config config;
  config.merge_args(argc, argv);
  const int users = static_cast<int>(config.get_int("users", 200));
  const int clicks = static_cast<int>(config.get_int("clicks", 20'000));
  auto environment = sage_examples::environment_from_args("user-sessions", config);
  auto& env = *environment;
  sage::OutputTag<Click> late("late clicks");
  auto by_user =
      env.from_batch(simulate(users, clicks))
          .name("clicks")
          .assign_timestamps([](const Click& c) { return c.ts; }, sage::bounded_out_of_order(2s))
          .key_by([](const Click& c) { return c.user; });
  auto visits = by_user.window(sage::session(10s))
                    .allowed_lateness(5s)
                    .side_output_late(late)
                    .aggregate(CountClicks{});
  visits.name("visits").parallelism(2);
  auto sessions = visits.collect();
  auto late_clicks = visits.side_output(late).collect();
  auto per_minute =
      by_user.window(sage::tumbling(1min)).aggregate(CountClicks{}).name("per-minute").collect();
  env.submit(/*autostop=*/true);

  auto all = sessions.get();
  std::sort(all.begin(), all.end());
  std::printf("%zu visits of %d users; the first user's:\n", all.size(), users);
  for (const auto& [user, start, end, n] : all)
    if (user == 0)
      std::printf("  user 0: %lld s .. %lld s: %lld clicks\n", (long long)start, (long long)end,
                  (long long)n);
  std::printf("%zu user-minutes counted; %zu clicks came too late for their visit\n",
              per_minute.get().size(), late_clicks.get().size());
  for (const auto& op : env.status().operators)
    if (op.name == "per-minute" && op.records_late_dropped > 0)
      std::printf("per-minute dropped %llu late clicks (no side output there)\n",
                  static_cast<unsigned long long>(op.records_late_dropped));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sage-user-sessions: %s\n", e.what());
    return 1;
  }
}
