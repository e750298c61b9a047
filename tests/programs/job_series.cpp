// Programs of several jobs, for tests/scripts/job_series_test.sh: each mode
// submits jobs one after the other and decides what to do from their results,
// as users' programs do. On a cluster, every task host runs the program from
// its start, so each must see the earlier jobs exactly as the submitter did.
//
//   job_series [--local] series N     N jobs, each built from the last one's collect()
//   job_series [--local] chain        job 1 is from_batch(job 0's collected records)
//   job_series [--local] fail-then-run   job 0 fails; job 1 is built from its error
//   job_series [--local] wide N         N jobs of 8 instances per operator, collected
//   job_series clock                  the items of a source come from the clock
//   job_series endless                an unbounded job (cancelled from outside)
//   job_series no-sink                a graph without a sink
//   job_series bad-key                a key selector that throws
//   job_series none                   submits no job
//
// With --local the jobs run on LocalEnvironments (under `sage job submit`
// those go to the cluster too); otherwise on RemoteEnvironments (SAGE_ADDRESS).
// The first line on stdout is "ok: ..." (then a digest of every result, which
// the script compares between local and cluster runs) or what went wrong.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <sage/sage.hpp>

namespace {

bool local_mode = false;

std::unique_ptr<sage::Environment> make_env(const std::string& name) {
  if (local_mode) return std::make_unique<sage::LocalEnvironment>(name);
  return std::make_unique<sage::RemoteEnvironment>(name);
}

/// FNV-1a over the values, in order.
uint64_t digest(uint64_t h, const std::vector<int64_t>& values) {
  for (int64_t v : values)
    for (int b = 0; b < 8; ++b)
      h = (h ^ ((static_cast<uint64_t>(v) >> (8 * b)) & 0xff)) * 0x100000001b3ULL;
  return h;
}

/// What job `i` of the series computes from `input`, by a plain loop.
std::vector<int64_t> step(const std::vector<int64_t>& input, int i) {
  std::vector<int64_t> out;
  for (int64_t x : input)
    if ((x + i) % 5 != 0) out.push_back((x * 3 + i) % 100003);
  return out;
}

/// N jobs in a row: job i maps and filters what job i - 1 collected, and the
/// program checks every result (records and status) before building the next.
int series(int n) {
  std::vector<int64_t> data(200);
  std::iota(data.begin(), data.end(), 1);
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int i = 0; i < n; ++i) {
    auto env = make_env("series-" + std::to_string(i));
    auto out = env->from_batch(data)
                   .name("items")
                   .rebalance()
                   .filter([i](const int64_t& x) { return (x + i) % 5 != 0; })
                   .parallelism(2)
                   .name("keep")
                   .key_by([](const int64_t& x) { return x % 7; })
                   .map([i](const int64_t& x) { return (x * 3 + i) % 100003; })
                   .parallelism(2)
                   .name("scale")
                   .collect();
    env->submit(true);
    auto got = out.get();
    auto want = step(data, i);
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    if (got != want) {
      std::cout << "FAIL job " << i << ": got " << got.size() << " records, want " << want.size()
                << std::endl;
      return 1;
    }
    const auto status = env->status();
    uint64_t into_scale = 0;
    for (const auto& op : status.operators)
      if (op.name == "scale") into_scale = op.records_in;
    if (status.state != sage::JobState::finished || into_scale != want.size()) {
      std::cout << "FAIL job " << i << ": status " << to_string(status.state) << ", " << into_scale
                << " records into scale, want " << want.size() << std::endl;
      return 1;
    }
    h = digest(h, got);
    // The next job starts from these results (and never runs dry).
    data = got;
    if (data.size() < 50)
      for (int64_t k = 0; k < 150; ++k) data.push_back(k * (i + 2));
  }
  std::cout << "ok: " << n << " jobs, digest " << h << std::endl;
  return 0;
}

/// Job 1's only source is what job 0 collected: on a cluster it must get the
/// same records, not none.
int chain() {
  std::vector<int64_t> first;
  {
    auto env = make_env("chain-0");
    std::vector<int64_t> input(100);
    std::iota(input.begin(), input.end(), 0);
    auto out = env->from_batch(input)
                   .rebalance()
                   .map([](const int64_t& x) { return 2 * x; })
                   .parallelism(2)
                   .collect();
    env->submit(true);
    first = out.get();
  }
  auto env = make_env("chain-1");
  auto out = env->from_batch(first)
                 .rebalance()
                 .map([](const int64_t& x) { return x + 1; })
                 .parallelism(2)
                 .collect();
  env->submit(true);
  auto second = out.get();
  std::sort(second.begin(), second.end());
  int64_t sum = std::accumulate(second.begin(), second.end(), int64_t{0});
  const bool ok = first.size() == 100 && second.size() == 100 && sum == 100 * 99 + 100;
  std::cout << (ok ? "ok: " : "FAIL: ") << first.size() << " then " << second.size()
            << " records, sum " << sum << ", digest " << digest(0, second) << std::endl;
  return ok ? 0 : 1;
}

/// Job 0 fails; the program reads the error and builds job 1 from it.
int fail_then_run() {
  std::string error;
  {
    auto env = make_env("failing");
    env->from_batch({1, 2, 3, 4, 5, 6})
        .rebalance()
        .map([](const int& x) {
          if (x == 4) throw std::runtime_error("boom at four");
          return x;
        })
        .name("fragile")
        .sink([](const int&) {});
    try {
      env->submit(true);
      std::cout << "FAIL: job 0 did not fail" << std::endl;
      return 1;
    } catch (const sage::JobFailed& e) {
      error = e.what();
    }
    if (env->status().state != sage::JobState::failed) {
      std::cout << "FAIL: job 0's status is " << to_string(env->status().state) << std::endl;
      return 1;
    }
  }
  if (error.find("boom at four") == std::string::npos ||
      error.find("fragile") == std::string::npos) {
    std::cout << "FAIL: job 0's error does not say what failed: " << error << std::endl;
    return 1;
  }
  // On a cluster the error also names the node, and a task host must see that
  // very text: job 1 is built from all of it. (The line printed is the same
  // locally and on a cluster.)
  auto env = make_env("after-failure");
  std::vector<int64_t> items(error.size());
  std::iota(items.begin(), items.end(), 0);
  auto out = env->from_batch(items)
                 .rebalance()
                 .map([](const int64_t& x) { return x * x; })
                 .parallelism(2)
                 .collect();
  env->submit(true);
  auto got = out.get();
  std::sort(got.begin(), got.end());
  const bool ok = got.size() == items.size();
  int64_t sum = 0;
  for (size_t i = 0; i < got.size(); ++i) sum += got[i] - static_cast<int64_t>(i * i);
  std::cout << (ok && sum == 0 ? "ok: " : "FAIL: ") << "job 1 built from the error of job 0: "
            << (sum == 0 ? "every record as built" : "other records") << std::endl;
  std::cerr << got.size() << " records after \"" << error << "\"" << std::endl;
  return ok ? 0 : 1;
}

/// A source whose items come from the clock: a task host builds other items
/// and must refuse to serve, with a clear error, rather than lose data.
int clock_items() {
  auto env = make_env("clock");
  const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  std::vector<int64_t> items{now, now + 1, now + 2};
  auto out = env->from_batch(items)
                 .name("stamps")
                 .rebalance()
                 .map([](const int64_t& x) { return x; })
                 .parallelism(2)
                 .collect();
  try {
    env->submit(true);
    std::cout << "FAIL: ran with " << out.get().size() << " records" << std::endl;
    return 1;
  } catch (const sage::JobFailed& e) {
    std::cout << "refused: " << e.what() << std::endl;
  }
  return 0;
}

/// N small jobs in a row, each with 8 instances per operator, collected here.
int wide(int n) {
  for (int i = 0; i < n; ++i) {
    auto env = make_env("wide-" + std::to_string(i));
    std::vector<int64_t> items(500);
    std::iota(items.begin(), items.end(), int64_t{i});
    auto out = env->from_batch(items)
                   .rebalance()
                   .map([](const int64_t& x) { return x * 2; })
                   .parallelism(8)
                   .key_by([](const int64_t& x) { return x % 13; })
                   .map([](const int64_t& x) { return x + 1; })
                   .parallelism(8)
                   .collect();
    env->submit(true);
    const auto got = out.get();
    const int64_t sum = std::accumulate(got.begin(), got.end(), int64_t{0});
    const int64_t want = 2 * (500 * int64_t{i} + 499 * 500 / 2) + 500;
    if (got.size() != items.size() || sum != want) {
      std::cout << "FAIL job " << i << ": " << got.size() << " records, sum " << sum << ", want "
                << want << std::endl;
      return 1;
    }
  }
  std::cout << "ok: " << n << " jobs of 8 instances per operator" << std::endl;
  return 0;
}

int endless() {
  struct Counter : sage::SourceFunction<int64_t> {
    void execute(sage::SourceContext<int64_t>& ctx) override {
      ctx.emit(n++);
      if (n % 64 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    int64_t n = 0;
  };
  auto env = make_env("endless");
  env->from_source<Counter>().rebalance().sink([](const int64_t&) {});
  try {
    env->submit(true);
    std::cout << "returned: " << to_string(env->status().state) << std::endl;
  } catch (const sage::JobCancelled& e) {
    std::cout << "cancelled: " << e.what() << std::endl;
  } catch (const sage::JobFailed& e) {
    std::cout << "failed: " << e.what() << std::endl;
  }
  return 0;
}

int no_sink() {
  auto env = make_env("no-sink");
  env->from_batch({1, 2, 3}).map([](const int& x) { return x + 1; });
  try {
    env->submit(true);
    std::cout << "FAIL: a job without a sink ran" << std::endl;
    return 1;
  } catch (const sage::GraphError& e) {
    std::cout << "refused: " << e.what() << std::endl;
  }
  return 0;
}

int bad_key() {
  auto env = make_env("bad-key");
  env->from_batch({1, 2, 3})
      .name("numbers")
      .key_by([](const int& x) -> int {
        if (x == 2) throw std::runtime_error("key exploded");
        return x;
      })
      .map([](const int& x) { return x; })
      .parallelism(2)
      .name("per-key")
      .sink([](const int&) {});
  try {
    env->submit(true);
    std::cout << "FAIL: the job finished" << std::endl;
    return 1;
  } catch (const sage::JobFailed& e) {
    std::cout << "failed: " << e.what() << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args.front() == "--local") {
    local_mode = true;
    args.erase(args.begin());
  }
  const std::string mode = args.empty() ? "" : args[0];
  try {
    if (mode == "series") return series(args.size() > 1 ? std::stoi(args[1]) : 20);
    if (mode == "chain") return chain();
    if (mode == "wide") return wide(args.size() > 1 ? std::stoi(args[1]) : 30);
    if (mode == "fail-then-run") return fail_then_run();
    if (mode == "clock") return clock_items();
    if (mode == "endless") return endless();
    if (mode == "no-sink") return no_sink();
    if (mode == "bad-key") return bad_key();
    if (mode == "none") return 0;
  } catch (const std::exception& e) {
    std::cout << "error: " << e.what() << std::endl;
    return 1;
  }
  std::cerr << "usage: job_series [--local] series N|chain|wide N|fail-then-run|clock|endless|"
               "no-sink|bad-key|none\n";
  return 2;
}
