// A program for the cluster tests (tests/scripts/job_test.sh). Each mode builds
// one job on a RemoteEnvironment (its head: SAGE_ADDRESS); the cluster ships
// this very program to its nodes, which run it up to submit().
//
//   cluster_check count                 how many declarative pipeline cases exist
//   cluster_check pipeline I            runs case I remotely, then locally; compares
//   cluster_check collect N P           sums N records over P instances, collected back
//   cluster_check keyed-state N P       counts N records per key (1000 keys) in value state,
//                                       P instances across the nodes; every count checked
//   cluster_check windows N P           N random out-of-order events through tumbling,
//                                       sliding, session and count windows and a timer
//                                       function at parallelism P; each checked by brute force
//   cluster_check joins N P             several inputs across the nodes: union_with, comap,
//                                       a keyed connect with shared state, window_join and
//                                       interval_join at parallelism P; each checked by brute force
//   cluster_check loops N P             feedback loops across the nodes: a counter to 10, and N
//                                       walks of different lengths around a loop at parallelism P;
//                                       the job ends by itself
//   cluster_check services N P          a job of services only (a service of parallelism P),
//                                       called by a second job's N records from P instances
//                                       (synchronously, asynchronously and through map_async)
//                                       and by the driver;
//                                       every answer checked, calls served in other processes
//   cluster_check pipeline-service N P  a pipeline service (a key_by over P instances, keyed
//                                       state) called N times by the driver and N times by
//                                       another job's map_async; every key's count checked
//   cluster_check service-crash         a service's process aborts mid-call: the calls in flight
//                                       fail at once, the instance restarts in a new process
//   cluster_check hybrid N              a HybridEnvironment: a map marked .local() between
//                                       two maps of parallelism 2; each record tells which
//                                       process ran each step (only the local one here)
//   cluster_check sequence              three jobs one after the other, each checked
//   cluster_check endless               an unbounded job, until stopped or failed
//   cluster_check slow-sink             an unbounded job whose sink is slow (backpressure)
//   cluster_check abort-at N            the job's program crashes at record N
//   cluster_check gpus N                an operator asks for N gpus
//   cluster_check label K=V             an operator asks for a node labelled K=V
//   cluster_check nocodec               a record type without a codec crosses nodes
//   cluster_check nondeterministic      builds another graph in every process
//
// Exit status 0 when the job did what the mode expects; the first line on
// stdout says what happened.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <unistd.h>

#include <loops.hpp>
#include <pipeline_cases.hpp>
#include <sage/sage.hpp>
#include <window_oracle.hpp>

namespace {

using namespace sage::testing;

struct Opaque {  // no codec: must not cross nodes
  int64_t v = 0;
};

/// Runs `env`'s job to its end; prints and returns 0, or the failure and 1.
int run(sage::Environment& env) {
  try {
    env.submit(true);
    return 0;
  } catch (const std::exception& e) {
    std::cout << "failed: " << e.what() << std::endl;
    return 1;
  }
}

bool same_records(const Case& c, std::vector<Value> a, std::vector<Value> b) {
  if (c.expect_kind == "ordered") return a == b;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

int pipeline(size_t index) {
  const auto cases = all_cases(std::filesystem::path(SAGE_SOURCE_DIR) / "tests" / "pipelines");
  const auto& c = cases.at(index);
  const std::string label = c.file + ": " + c.name;
  // Remotely first: in a task host, submit() does not return, so nothing after it runs there.
  sage::RemoteEnvironment remote(c.name, "127.0.0.1", 19001, c.config);
  auto remote_out = build_case(remote, c);
  std::string remote_error;
  std::vector<Value> remote_records;
  try {
    remote.submit(true);
    remote_records = remote_out.get();
  } catch (const sage::JobFailed& e) {
    remote_error = e.what();
  }
  // The same case on this process, as the integration test runs it.
  sage::LocalEnvironment local(c.name, c.config);
  auto local_out = build_case(local, c);
  std::string local_error;
  std::vector<Value> local_records;
  try {
    local.submit(true);
    local_records = local_out.get();
  } catch (const sage::JobFailed& e) {
    local_error = e.what();
  }
  if (c.expect_kind == "error") {
    const bool ok = remote_error.find(c.expected_error) != std::string::npos &&
                    local_error.find(c.expected_error) != std::string::npos;
    std::cout << (ok ? "ok: " : "MISMATCH: ") << label << ": remote error \"" << remote_error
              << "\", local error \"" << local_error << "\"" << std::endl;
    return ok ? 0 : 1;
  }
  if (!remote_error.empty() || !local_error.empty()) {
    std::cout << "MISMATCH: " << label << ": remote \"" << remote_error << "\", local \""
              << local_error << "\"" << std::endl;
    return 1;
  }
  // Record by record: the same multiset (the same sequence where the order is defined).
  const bool same = same_records(c, remote_records, local_records);
  const bool expected = c.expect_kind == "count" ? remote_records.size() == c.expected_count
                                                 : same_records(c, remote_records, c.expected);
  std::cout << (same && expected ? "ok: " : "MISMATCH: ") << label << ": " << remote_records.size()
            << " records remotely, " << local_records.size() << " locally" << std::endl;
  if (!same)
    std::cout << "  remote: " << join(remote_records) << "\n  local: " << join(local_records)
              << "\n";
  return same && expected ? 0 : 1;
}

/// What the feature store answers for a user, and which process answered.
struct Features {
  std::string user;
  int64_t letters = 0;
  int64_t served_by = 0;  ///< the pid of the instance's process
};

template <class Inspector>
auto inspect(Inspector& f, Features& x) {
  return f(caf::meta::type_name("Features"), x.user, x.letters, x.served_by);
}

struct FeatureStore : sage::Service {
  Features process(const std::string& user) {
    return Features{user, static_cast<int64_t>(user.size()), static_cast<int64_t>(::getpid())};
  }
  int64_t twice(int64_t x) { return 2 * x; }
  static void methods(sage::Methods<FeatureStore>& m) { m.add("twice", &FeatureStore::twice); }
};

/// Looks a user up synchronously, and their number asynchronously.
struct Enrich : sage::MapFunction<std::string, std::tuple<Features, int64_t>> {
  std::tuple<Features, int64_t> execute(const std::string& user) override {
    auto doubled = ctx().call_service_async<int64_t>(
        "feature_store", sage::method("twice"), static_cast<int64_t>(std::stoll(user.substr(5))));
    auto f = ctx().call_service<Features>("feature_store", user);
    return {f, doubled.get()};
  }
};

int services(int64_t n, int p) {
  sage::RemoteEnvironment store("feature-store");
  store.register_service<FeatureStore>("feature_store").parallelism(p);
  store.submit();  // runs until stopped
  sage::RemoteEnvironment env("enrich");
  std::vector<std::string> users;
  for (int64_t i = 0; i < n; ++i) users.push_back("user-" + std::to_string(i));
  auto out = env.from_batch(users).rebalance().map<Enrich>().parallelism(p).collect();
  auto async_out = env.from_batch(users)
                       .rebalance()
                       .map_async(
                           [](const std::string& user) {
                             return sage::call_service_async<Features>("feature_store", user);
                           },
                           sage::async_options{.capacity = 50, .ordered = false})
                       .parallelism(p)
                       .collect();
  if (int rc = run(env)) return rc;
  // From here on only the submitting program runs (task hosts serve at submit()).
  const auto got = out.get();
  std::set<int64_t> pids;
  int64_t wrong = 0;
  for (const auto& [f, doubled] : got) {
    pids.insert(f.served_by);
    const int64_t i = std::stoll(f.user.substr(5));
    if (f.letters != static_cast<int64_t>(f.user.size()) || doubled != 2 * i) ++wrong;
  }
  int64_t async_wrong = 0;
  std::set<std::string> async_users;
  for (const auto& f : async_out.get()) {
    async_users.insert(f.user);
    if (f.letters != static_cast<int64_t>(f.user.size())) ++async_wrong;
  }
  const auto mine = store.call_service<Features>("feature_store", std::string("driver"));
  std::string unknown;
  try {
    store.call_service<int64_t>("feature_store", sage::method("thrice"), int64_t{1});
  } catch (const sage::ServiceError& e) {
    unknown = e.what();
  }
  store.stop();
  const auto status = store.status();
  const uint64_t calls = status.services.empty() ? 0 : status.services[0].calls;
  const bool ok =
      static_cast<int64_t>(got.size()) == n && wrong == 0 &&
      pids.count(static_cast<int64_t>(::getpid())) == 0 && mine.letters == 6 &&
      mine.served_by != ::getpid() && unknown.find("no method 'thrice'") != std::string::npos &&
      calls == static_cast<uint64_t>(3 * n + 2) && static_cast<int64_t>(async_users.size()) == n &&
      async_wrong == 0 && status.state == sage::JobState::finished;
  std::cout << (ok ? "ok: " : "MISMATCH: ") << got.size() << " of " << n << " records enriched ("
            << wrong << " wrong), " << async_users.size() << " through map_async (" << async_wrong
            << " wrong), by " << pids.size() << " service processes, " << calls
            << " calls served, the driver's answered by pid " << mine.served_by
            << ", an unknown method: " << unknown << ", the service job "
            << sage::to_string(status.state) << std::endl;
  return ok ? 0 : 1;
}

int hybrid(int64_t n) {
  sage::HybridEnvironment env("hybrid");
  using Step = std::tuple<int64_t, int64_t, int64_t, int64_t>;  // x, then the pid of each step
  auto pid = [] { return static_cast<int64_t>(::getpid()); };
  auto out = env.from_batch([n] {
                  std::vector<int64_t> v(static_cast<size_t>(n));
                  std::iota(v.begin(), v.end(), 0);
                  return v;
                }())
                 .rebalance()
                 .map([pid](const int64_t& x) {
                   return Step{x, pid(), 0, 0};
                 })
                 .parallelism(2)
                 .map([pid](const Step& s) {
                   return Step{std::get<0>(s), std::get<1>(s), pid(), 0};
                 })
                 .local()
                 .rebalance()
                 .map([pid](const Step& s) {
                   return Step{std::get<0>(s), std::get<1>(s), std::get<2>(s), pid()};
                 })
                 .parallelism(2)
                 .collect();
  if (int rc = run(env)) return rc;
  const int64_t me = pid();
  int64_t first_here = 0, local_elsewhere = 0, last_here = 0;
  std::set<int64_t> seen;
  for (const auto& [x, p1, p2, p3] : out.get()) {
    seen.insert(x);
    first_here += p1 == me;
    local_elsewhere += p2 != me;
    last_here += p3 == me;
  }
  const bool ok = static_cast<int64_t>(seen.size()) == n && first_here == 0 &&
                  local_elsewhere == 0 && last_here == 0;
  std::cout << (ok ? "ok: " : "MISMATCH: ") << seen.size() << " of " << n
            << " records; the .local() map ran in this process for all but " << local_elsewhere
            << ", the cluster's maps here for " << first_here << " and " << last_here << std::endl;
  return ok ? 0 : 1;
}

/// A pipeline service across the nodes: requests keyed by x % 100 over `p`
/// instances, the nth request of a key answered n, with the pid that counted it.
using KeyCount = std::tuple<int64_t, int64_t, int64_t, int64_t>;  // x, key, nth, pid

struct CountRequests : sage::MapFunction<std::pair<int64_t, int64_t>, KeyCount> {
  KeyCount execute(const std::pair<int64_t, int64_t>& k) override {
    auto& seen = ctx().value_state<int64_t>("seen");
    const int64_t nth = seen.value().value_or(0) + 1;
    seen.update(nth);
    return {k.second, k.first, nth, static_cast<int64_t>(::getpid())};
  }
};

int pipeline_service(int64_t n, int p) {
  sage::RemoteEnvironment svc("pipeline-service");
  svc.register_pipeline_service<int64_t, KeyCount>(
      "count_requests", [p](sage::DataStream<int64_t> s) {
        return s.map([](const int64_t& x) {
                  return std::pair<int64_t, int64_t>{x % 100, x};
                })
            .parallelism(p)
            .key_by([](const std::pair<int64_t, int64_t>& k) { return k.first; })
            .map<CountRequests>()
            .parallelism(p);
      });
  svc.submit();  // serves until stopped
  // The driver's requests, all at once...
  std::vector<sage::Future<KeyCount>> calls;
  for (int64_t x = 0; x < n; ++x)
    calls.push_back(svc.call_service_async<KeyCount>("count_requests", x,
                                                     sage::timeout(std::chrono::seconds(60))));
  // ...and another job's, through map_async from p instances.
  sage::RemoteEnvironment env("pipeline-caller");
  std::vector<int64_t> xs(static_cast<size_t>(n));
  std::iota(xs.begin(), xs.end(), n);
  auto async_out = env.from_batch(xs)
                       .rebalance()
                       .map_async(
                           [](const int64_t& x) {
                             return sage::call_service_async<KeyCount>("count_requests", x);
                           },
                           sage::async_options{.capacity = 50, .ordered = false})
                       .parallelism(p)
                       .collect();
  if (int rc = run(env)) return rc;
  std::map<int64_t, std::vector<int64_t>> nth_of_key;
  std::set<int64_t> pids;
  int64_t wrong = 0;
  for (int64_t x = 0; x < n; ++x) {
    const auto [request, key, nth, pid] = calls[x].get();
    wrong += request != x || key != x % 100;
    nth_of_key[key].push_back(nth);
    pids.insert(pid);
  }
  std::set<int64_t> async_seen;
  for (const auto& [request, key, nth, pid] : async_out.get()) {
    wrong += key != request % 100;
    async_seen.insert(request);
    nth_of_key[key].push_back(nth);
    pids.insert(pid);
  }
  // Every key counted 1, 2, ... over both callers: none lost, none twice.
  bool counts_ok = true;
  for (auto& [key, nths] : nth_of_key) {
    std::sort(nths.begin(), nths.end());
    for (size_t i = 0; i < nths.size(); ++i)
      counts_ok = counts_ok && nths[i] == static_cast<int64_t>(i + 1);
  }
  std::string refused;
  try {
    svc.call_service<KeyCount>("count_requests", std::string("not a number"));
  } catch (const sage::ServiceError& e) {
    refused = e.what();
  }
  svc.stop();
  const auto state = svc.status().state;
  const bool ok = wrong == 0 && counts_ok && static_cast<int64_t>(async_seen.size()) == n &&
                  pids.count(static_cast<int64_t>(::getpid())) == 0 && !refused.empty() &&
                  state == sage::JobState::finished;
  std::cout << (ok ? "ok: " : "MISMATCH: ") << 2 * n << " requests (" << n << " from the driver, "
            << async_seen.size() << " through another job's map_async), " << wrong
            << " wrong, keys counted " << (counts_ok ? "exactly" : "WRONGLY") << " by "
            << pids.size() << " processes at parallelism " << p << "; a wrong request: " << refused
            << "; the service job " << sage::to_string(state) << std::endl;
  return ok ? 0 : 1;
}

/// A service whose process dies in the middle of a call (x < 0), after `-x` ms.
struct Fragile : sage::Service {
  int64_t process(int64_t x) {
    if (x < 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(-x));
      std::abort();
    }
    return x;
  }
  int64_t pid() { return static_cast<int64_t>(::getpid()); }
  static void methods(sage::Methods<Fragile>& m) { m.add("pid", &Fragile::pid); }
};

int service_crash() {
  using Clock = std::chrono::steady_clock;
  sage::RemoteEnvironment env("fragile");
  env.register_service<Fragile>("fragile");
  env.submit();  // a job of services only
  const auto first_pid = env.call_service<int64_t>("fragile", sage::method("pid"));
  // Two calls in flight when the instance's process aborts: both fail at once
  // (long before their 10 s timeout), with a ServiceError.
  const auto t0 = Clock::now();
  auto killer = env.call_service_async<int64_t>("fragile", int64_t{-300});
  auto queued = env.call_service_async<int64_t>("fragile", int64_t{5});
  std::string killer_error, queued_error;
  try {
    killer.get();
  } catch (const sage::ServiceError& e) {
    killer_error = e.what();
  }
  try {
    queued.get();
  } catch (const sage::ServiceError& e) {
    queued_error = e.what();
  }
  const auto failed_after =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  // It is started again, in a new process: calls succeed again.
  int64_t answer = 0, second_pid = 0;
  for (int i = 0; i < 300 && answer != 7; ++i) {
    try {
      answer =
          env.call_service<int64_t>("fragile", int64_t{7}, sage::timeout(std::chrono::seconds(2)));
      second_pid = env.call_service<int64_t>("fragile", sage::method("pid"));
    } catch (const sage::ServiceError&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  const auto status = env.status();
  const uint64_t restarts = status.services.empty() ? 0 : status.services[0].restarts;
  env.stop();
  const bool ok = !killer_error.empty() && !queued_error.empty() && failed_after < 5000 &&
                  answer == 7 && second_pid != first_pid && second_pid != 0 && restarts >= 1 &&
                  env.status().state == sage::JobState::finished;
  std::cout << (ok ? "ok: " : "MISMATCH: ") << "two calls in flight failed " << failed_after
            << " ms after the call that aborts its process began ([" << killer_error << "], ["
            << queued_error << "]); the instance restarted in process " << second_pid << " (was "
            << first_pid << "), " << restarts << " restarts, answering " << answer << "; the job "
            << sage::to_string(env.status().state) << std::endl;
  return ok ? 0 : 1;
}

int collect(int64_t n, int p) {
  sage::RemoteEnvironment env("collect");
  std::vector<int64_t> input(static_cast<size_t>(n));
  std::iota(input.begin(), input.end(), 1);
  auto out = env.from_batch(input)
                 .rebalance()
                 .map([](const int64_t& x) { return x * 3; })
                 .parallelism(p)
                 .filter([](const int64_t& x) { return x % 2 == 0; })
                 .parallelism(p)
                 .collect();
  if (int rc = run(env)) return rc;
  const auto got = out.get();
  int64_t sum = 0;
  for (auto x : got) sum += x;
  int64_t want_sum = 0, want_count = 0;
  for (int64_t x = 1; x <= n; ++x)
    if ((x * 3) % 2 == 0) want_sum += x * 3, ++want_count;
  uint64_t filtered = 0;
  for (const auto& op : env.status().operators)
    if (op.name == "filter") filtered = op.records_in;
  const bool ok = static_cast<int64_t>(got.size()) == want_count && sum == want_sum &&
                  filtered == static_cast<uint64_t>(n);
  std::cout << (ok ? "ok: " : "MISMATCH: ") << got.size() << " records, sum " << sum
            << ", filter saw " << filtered << " (expected " << want_count << ", " << want_sum
            << ", " << n << ")" << std::endl;
  return ok ? 0 : 1;
}

/// Three jobs in a row from one program run, the second a local one: a task
/// host of the third must skip the first (and not count the second).
int sequence() {
  int64_t sums[3] = {0, 0, 0};
  for (int j = 0; j < 3; ++j) {
    std::unique_ptr<sage::Environment> env;
    if (j == 1)
      env = std::make_unique<sage::LocalEnvironment>("step-local");
    else
      env = std::make_unique<sage::RemoteEnvironment>("step-" + std::to_string(j));
    std::vector<int64_t> input(1000);
    std::iota(input.begin(), input.end(), 1);
    auto s = env->from_batch(input).rebalance();
    for (int k = 0; k <= j; ++k)  // a different graph each time
      s = s.map([j](const int64_t& x) { return x + j; }).parallelism(2);
    auto out = s.collect();
    if (int rc = run(*env)) return rc;
    for (auto x : out.get()) sums[j] += x;
  }
  // job j adds j once per map, and has j + 1 maps: sum = 500500 + 1000 * j * (j + 1)
  const bool ok = sums[0] == 500500 && sums[1] == 502500 && sums[2] == 506500;
  std::cout << (ok ? "ok: " : "MISMATCH: ") << "sums " << sums[0] << " " << sums[1] << " "
            << sums[2] << std::endl;
  return ok ? 0 : 1;
}

/// An unbounded source, a slowish map on three instances, a sink: every node gets a task.
int endless() {
  struct Counter : sage::SourceFunction<int64_t> {
    void execute(sage::SourceContext<int64_t>& ctx) override {
      for (int i = 0; i < 10; ++i) ctx.emit(n++);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    int64_t n = 0;
  };
  sage::RemoteEnvironment env("endless");
  env.from_source<Counter>()
      .rebalance()
      .map([](const int64_t& x) { return x + 1; })
      .parallelism(3)
      .name("increment")
      .rebalance()
      .sink([](const int64_t&) {})
      .name("drain");
  if (int rc = run(env)) return rc;
  std::cout << "ended: " << to_string(env.status().state) << std::endl;
  return 0;
}

/// A fast source, a slow sink on another node: the source waits for credit most of the time.
int slow_sink() {
  struct Fast : sage::SourceFunction<int64_t> {
    void execute(sage::SourceContext<int64_t>& ctx) override { ctx.emit(n++); }
    int64_t n = 0;
  };
  sage::RemoteEnvironment env("slow-sink");
  env.from_source<Fast>()
      .name("fast")
      .rebalance()
      .sink([](const int64_t& x) {
        if (x % 64 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      })
      .name("slow");
  if (int rc = run(env)) return rc;
  std::cout << "ended: " << to_string(env.status().state) << std::endl;
  return 0;
}

int abort_at(int64_t n) {
  sage::RemoteEnvironment env("abort");
  std::vector<int64_t> input(1000);
  std::iota(input.begin(), input.end(), 0);
  env.from_batch(input)
      .rebalance()
      .map([n](const int64_t& x) {
        if (x == n) std::abort();  // the task host dies: not the worker, not the head
        return x;
      })
      .name("crashing")
      .sink([](const int64_t&) {});
  return run(env) == 1 ? 0 : 1;
}

int resources(sage::Resources r) {
  sage::RemoteEnvironment env("resources");
  env.from_batch({1, 2, 3})
      .map([](const int& x) { return x; })
      .resources(r)
      .name("needy")
      .sink([](const int&) {});
  try {
    env.submit(true);
    std::cout << "placed" << std::endl;
  } catch (const sage::SubmitError& e) {
    std::cout << "refused: " << e.what() << std::endl;
  } catch (const std::exception& e) {
    std::cout << "failed: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}

int nocodec() {
  sage::RemoteEnvironment env("nocodec");
  env.from_batch({1, 2, 3})
      .map([](const int& x) { return Opaque{x}; })
      .name("wrap")
      .rebalance()
      .sink([](const Opaque&) {});
  try {
    env.submit(true);
  } catch (const sage::SubmitError& e) {
    std::cout << "refused: " << e.what() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cout << "failed: " << e.what() << std::endl;
  }
  return 1;
}

int nondeterministic() {
  sage::RemoteEnvironment env("nondeterministic");
  auto s = env.from_batch({1, 2, 3});
  // A task host builds one operator more than the submitter did.
  const int maps = std::getenv("SAGE_TASK_HOST") != nullptr ? 2 : 1;
  for (int i = 0; i < maps; ++i) s = s.map([](const int& x) { return x; });
  s.sink([](const int&) {});
  return run(env) == 1 ? 0 : 1;
}

}  // namespace

/// A running count per key in keyed state (API.md section 5).
class CountPerKey
    : public sage::MapFunction<std::pair<int32_t, int64_t>, std::pair<int32_t, int64_t>> {
 public:
  std::pair<int32_t, int64_t> execute(const std::pair<int32_t, int64_t>& r) override {
    auto& count = ctx().value_state<int64_t>("count");
    const int64_t n = count.value().value_or(0) + 1;
    count.update(n);
    return {ctx().key<int32_t>(), n};
  }
};

int keyed_state(int64_t n, int p) {
  sage::RemoteEnvironment env("keyed-state");
  std::vector<std::pair<int32_t, int64_t>> input;
  for (int64_t i = 0; i < n; ++i) input.emplace_back(static_cast<int32_t>(i % 1000), i);
  auto keyed =
      env.from_batch(input).key_by([](const std::pair<int32_t, int64_t>& r) { return r.first; });
  auto out = keyed.map<CountPerKey>().parallelism(p).collect();
  // And a rolling sum per key (KeyedStream::reduce), on the same keyed stream.
  auto sums = keyed
                  .reduce([](const std::pair<int32_t, int64_t>& so_far,
                             const std::pair<int32_t, int64_t>& r) {
                    return std::make_pair(so_far.first, so_far.second + r.second);
                  })
                  .parallelism(p)
                  .collect();
  if (int rc = run(env)) return rc;
  std::map<int32_t, std::vector<int64_t>> counts;
  for (const auto& [key, count] : out.get()) counts[key].push_back(count);
  bool ok = counts.size() == static_cast<size_t>(std::min<int64_t>(n, 1000));
  for (auto& [key, list] : counts) {
    std::sort(list.begin(), list.end());
    const int64_t expected = n / 1000 + (key < n % 1000 ? 1 : 0);
    ok = ok && static_cast<int64_t>(list.size()) == expected;
    for (size_t i = 0; ok && i < list.size(); ++i) ok = list[i] == static_cast<int64_t>(i + 1);
  }
  std::map<int32_t, int64_t> final_sum, want_sum;
  for (const auto& [key, sum] : sums.get()) final_sum[key] = std::max(final_sum[key], sum);
  for (const auto& [key, value] : input) want_sum[key] += value;
  ok = ok && final_sum == want_sum;
  std::cout << (ok ? "ok: " : "MISMATCH: ") << counts.size() << " keys, each counted 1.."
            << n / 1000 << " in keyed state over " << p << " instances, and reduced to "
            << final_sum.size() << " sums" << std::endl;
  return ok ? 0 : 1;
}

/// An event-time timer per record, 100 ms after it: emits the key's count then.
class TimerCount : public sage::KeyedProcessFunction<int, sage::test::Event, int64_t> {
 public:
  void process(const sage::test::Event& e, sage::Collector<int64_t>&) override {
    auto& n = ctx().value_state<int64_t>("n");
    n.update(n.value().value_or(0) + 1);
    ctx().timers().at_event_time(e.ts + 100);
  }
  void on_timer(int64_t, sage::Collector<int64_t>& out) override {
    out.collect(ctx().key<int>() * 1'000'000 + *ctx().value_state<int64_t>("n").value());
  }
};

int windows(int64_t n, int p) {
  using sage::test::Event;
  sage::RemoteEnvironment env("windows");
  env.config().set("watermark.interval", 2).set("batch.size", 256);
  const auto events = sage::test::random_events(static_cast<size_t>(n), 40, 1, 40, 5);
  auto ts = [](const Event& e) { return e.ts; };
  auto key = [](const Event& e) { return e.key; };
  auto keyed = env.from_batch(events)
                   .parallelism(2)
                   .assign_timestamps(ts, sage::bounded_out_of_order(std::chrono::milliseconds(50)))
                   .key_by(key);
  auto tumbling = keyed.window(sage::tumbling(std::chrono::milliseconds(100)))
                      .aggregate(sage::test::CountSum{})
                      .parallelism(p)
                      .collect();
  auto sliding =
      keyed.window(sage::sliding(std::chrono::milliseconds(400), std::chrono::milliseconds(100)))
          .aggregate(sage::test::CountSum{})
          .parallelism(p)
          .collect();
  auto sessions = keyed.window(sage::session(std::chrono::milliseconds(60)))
                      .aggregate(sage::test::CountSum{})
                      .parallelism(p)
                      .collect();
  auto timers = keyed.process<TimerCount>().parallelism(p).collect();
  // Count windows see each key's records in one order: one source instance.
  auto counted = env.from_batch(events)
                     .key_by(key)
                     .count_window(25, 10)
                     .aggregate(sage::test::CountSum{})
                     .parallelism(p)
                     .collect();
  if (int rc = run(env)) return rc;
  auto sorted = [](std::vector<sage::test::WindowResult> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  const bool t_ok = sorted(tumbling.get()) == sage::test::expected_time_windows(events, 100, 100);
  const bool s_ok = sorted(sliding.get()) == sage::test::expected_time_windows(events, 400, 100);
  const bool se_ok = sorted(sessions.get()) == sage::test::expected_sessions(events, 60);
  const bool c_ok = sorted(counted.get()) == sage::test::expected_count_windows(events, 25, 10);
  // Every distinct (key, time + 100) timer fired once, the last ones with every record counted.
  std::map<int, std::set<int64_t>> times;
  std::map<int, int64_t> records;
  for (const auto& e : events) {
    times[e.key].insert(e.ts + 100);
    ++records[e.key];
  }
  size_t expected_timers = 0;
  for (const auto& [k, t] : times) expected_timers += t.size();
  const auto fired = timers.get();
  std::map<int, int64_t> last;
  for (int64_t v : fired)
    last[static_cast<int>(v / 1'000'000)] =
        std::max(last[static_cast<int>(v / 1'000'000)], v % 1'000'000);
  const bool timers_ok = fired.size() == expected_timers && last == records;
  const bool ok = t_ok && s_ok && se_ok && c_ok && timers_ok;
  std::cout << (ok ? "ok: " : "MISMATCH: ") << n << " events at window parallelism " << p
            << ": tumbling " << (t_ok ? "ok" : "wrong") << ", sliding " << (s_ok ? "ok" : "wrong")
            << ", session " << (se_ok ? "ok" : "wrong") << ", count " << (c_ok ? "ok" : "wrong")
            << ", timers " << (timers_ok ? "ok" : "wrong") << " (" << fired.size() << " of "
            << expected_timers << ")" << std::endl;
  return ok ? 0 : 1;
}

/// Counts each key's records over both inputs of a keyed connect in one keyed state.
struct SharedCount
    : sage::CoMapFunction<std::pair<int, int64_t>, sage::test::Event, sage::test::Event> {
  std::pair<int, int64_t> map0(const sage::test::Event& e) override { return bump(e); }
  std::pair<int, int64_t> map1(const sage::test::Event& e) override { return bump(e); }
  std::pair<int, int64_t> bump(const sage::test::Event& e) {
    auto& n = ctx().value_state<int64_t>("n");
    n.update(n.value().value_or(0) + 1);
    return {e.key, *n.value()};
  }
};

int joins(int64_t n, int p) {
  using sage::test::Event;
  using sage::test::JoinPair;
  using std::chrono::milliseconds;
  sage::RemoteEnvironment env("joins");
  env.config().set("watermark.interval", 2).set("batch.size", 256);
  const auto left = sage::test::random_events(static_cast<size_t>(n), 30, 2, 40, 31);
  const auto right = sage::test::random_events(static_cast<size_t>(n / 2), 30, 4, 40, 32);
  auto ts = [](const Event& e) { return e.ts; };
  auto key = [](const Event& e) { return e.key; };
  auto pair = [](const Event& l, const Event& r) { return sage::test::join_pair(l, r); };
  auto l = env.from_batch(left).parallelism(2).assign_timestamps(
      ts, sage::bounded_out_of_order(milliseconds(50)));
  auto r = env.from_batch(right).parallelism(3).assign_timestamps(
      ts, sage::bounded_out_of_order(milliseconds(50)));
  auto lk = l.key_by(key);
  auto rk = r.key_by(key);
  auto unioned = l.union_with(r).parallelism(p).collect();
  auto tagged = l.connect(r)
                    .comap([](const Event& e) { return std::make_pair(0, e.value); },
                           [](const Event& e) { return std::make_pair(1, e.value); })
                    .parallelism(p)
                    .collect();
  auto shared = lk.connect(rk).comap<SharedCount>().parallelism(p).collect();
  auto windowed =
      lk.window_join(rk, sage::tumbling(milliseconds(100)), pair).parallelism(p).collect();
  auto sessions =
      lk.window_join(rk, sage::session(milliseconds(20)), pair).parallelism(p).collect();
  auto interval =
      lk.interval_join(rk, milliseconds(-20), milliseconds(30), pair).parallelism(p).collect();
  if (int rc = run(env)) return rc;
  auto sorted = [](auto v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  auto all = left;
  all.insert(all.end(), right.begin(), right.end());
  auto by_value = [](const Event& a, const Event& b) {
    return std::tie(a.key, a.ts, a.value) < std::tie(b.key, b.ts, b.value);
  };
  auto got_union = unioned.get();
  std::sort(got_union.begin(), got_union.end(), by_value);
  std::sort(all.begin(), all.end(), by_value);
  const bool u_ok = got_union == all;
  int64_t left_sum = 0, right_sum = 0;
  for (const auto& e : left) left_sum += e.value;
  for (const auto& e : right) right_sum += e.value;
  int64_t got_left = 0, got_right = 0;
  for (auto [input, v] : tagged.get()) (input == 0 ? got_left : got_right) += v;
  const bool c_ok = got_left == left_sum && got_right == right_sum;
  std::map<int, int64_t> records, highest;
  for (const auto& e : all) ++records[e.key];
  size_t counts = 0;
  for (auto [k, c] : shared.get()) {
    highest[k] = std::max(highest[k], c);
    ++counts;
  }
  const bool s_ok = highest == records && counts == all.size();
  const bool w_ok =
      sorted(windowed.get()) == sage::test::expected_window_join(left, right, 100, 100);
  const bool se_ok = sorted(sessions.get()) == sage::test::expected_session_join(left, right, 20);
  const bool i_ok =
      sorted(interval.get()) == sage::test::expected_interval_join(left, right, -20, 30);
  const bool ok = u_ok && c_ok && s_ok && w_ok && se_ok && i_ok;
  std::cout << (ok ? "ok: " : "MISMATCH: ") << n << " + " << n / 2 << " events at parallelism " << p
            << ": union " << (u_ok ? "ok" : "wrong") << ", comap " << (c_ok ? "ok" : "wrong")
            << ", keyed connect " << (s_ok ? "ok" : "wrong") << ", window_join "
            << (w_ok ? "ok" : "wrong") << ", session window_join " << (se_ok ? "ok" : "wrong")
            << ", interval_join " << (i_ok ? "ok" : "wrong") << std::endl;
  return ok ? 0 : 1;
}

int loops(int64_t n, int p) {
  sage::RemoteEnvironment env("loops");
  env.config().set("batch.size", 64);
  auto counter = env.from_future<int>("counter");
  auto next = env.from_batch({0}).union_with(counter).map([](const int& x) { return x + 1; });
  next.filter([](const int& x) { return x < 10; }).fill_future(counter);
  auto counted = next.collect();
  auto walks = sage::test::collatz_loop(env, n, p);
  if (int rc = run(env)) return rc;
  const bool c_ok = counted.get() == std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  auto got = walks.get();
  std::sort(got.begin(), got.end());
  const auto expected = sage::test::expected_walks(n);
  const bool w_ok = got == expected;
  int64_t trips = 0;
  for (const auto& w : expected) trips += w.steps;
  const bool ok = c_ok && w_ok;
  std::cout << (ok ? "ok: " : "MISMATCH: ") << "the job ended by itself: counter to 10 "
            << (c_ok ? "ok" : "wrong") << ", " << n << " walks (" << trips
            << " trips) around a loop at parallelism " << p << " " << (w_ok ? "ok" : "wrong")
            << std::endl;
  return ok ? 0 : 1;
}

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const std::string arg = argc > 2 ? argv[2] : "";
  try {
    if (mode == "count")
      std::cout << all_cases(std::filesystem::path(SAGE_SOURCE_DIR) / "tests" / "pipelines").size()
                << std::endl;
    else if (mode == "pipeline")
      return pipeline(std::stoul(arg));
    else if (mode == "collect")
      return collect(std::stoll(arg), argc > 3 ? std::stoi(argv[3]) : 2);
    else if (mode == "windows")
      return windows(std::stoll(argv[2]), std::stoi(argv[3]));
    else if (mode == "joins")
      return joins(std::stoll(argv[2]), std::stoi(argv[3]));
    else if (mode == "loops")
      return loops(std::stoll(argv[2]), std::stoi(argv[3]));
    else if (mode == "keyed-state")
      return keyed_state(std::stoll(arg), argc > 3 ? std::stoi(argv[3]) : 3);
    else if (mode == "endless")
      return endless();
    else if (mode == "services")
      return services(std::stoll(argv[2]), std::stoi(argv[3]));
    else if (mode == "pipeline-service")
      return pipeline_service(std::stoll(argv[2]), std::stoi(argv[3]));
    else if (mode == "service-crash")
      return service_crash();
    else if (mode == "hybrid")
      return hybrid(std::stoll(arg));
    else if (mode == "sequence")
      return sequence();
    else if (mode == "slow-sink")
      return slow_sink();
    else if (mode == "abort-at")
      return abort_at(std::stoll(arg));
    else if (mode == "gpus")
      return resources(sage::Resources{.gpus = std::stoi(arg)});
    else if (mode == "label") {
      sage::Resources r;
      r.labels[arg.substr(0, arg.find('='))] = arg.substr(arg.find('=') + 1);
      return resources(r);
    } else if (mode == "nocodec")
      return nocodec();
    else if (mode == "nondeterministic")
      return nondeterministic();
    else {
      std::cerr << "usage: cluster_check count|pipeline I|collect N P|endless|slow-sink|abort-at "
                   "N|gpus N|"
                   "label K=V|nocodec|nondeterministic\n";
      return 2;
    }
  } catch (const std::exception& e) {
    std::cout << "error: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
