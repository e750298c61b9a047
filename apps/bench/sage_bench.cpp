// sage-bench: throughput, latency and memory figures of the SAGE runtime, each
// measured against a hand-written single-thread loop where that makes sense.
// docs/performance.md describes every figure and how to read it.
//
//   MFK      20 M records {key, value} over 10 k keys -> map -> filter (keeps half)
//            -> key_by(key) -> count per key -> checksum sink; and the same as a loop.
//   WC       word count over 1 M generated lines x 8 words (10 k vocabulary);
//            SAGE with split/count parallelism 1 and 2; and the same as a loop.
//   latency  source -> map -> key_by -> map -> sink at 20 k records/s for 2.5 s (default
//            config; extras with buffer.timeout 0 and with chaining off).
//   memory   a fast source into a sink that spins ~100 ns per record: peak RSS.
//
// Usage: sage-bench [--quick] [--only mfk|remote|cluster|wc|latency|memory] [--runs N]
//                   [--skip-memory]
//   --only cluster (not part of the default run) starts a head and a worker with
//   the `sage` command and runs MFK across their task hosts.
//                   [--<config key> <value> ...]   (e.g. --batch.size 4096, applied to every job)
//
// Progress goes to stderr; at the end stdout carries only `name value` lines.
// Exits non-zero when a SAGE result differs from the loop's.

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sys/wait.h>

#include <csignal>
#include <filesystem>

#include "big_records_bench.hpp"
#include "two_nodes.hpp"

#include <sage/actors/cluster.hpp>
#include <sage/actors/credentials.hpp>
#include <sage/detail/job_handle.hpp>
#include <sage/sage.hpp>

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

/// splitmix64's finalizer: a cheap, well-spread function of the record index.
constexpr uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "sage-bench: ERROR: %s\n", what.c_str());
  std::exit(2);
}

/// CPU seconds (user + system) this process has used so far.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/// How many cores the last job kept busy on average (process CPU time / wall time).
double g_last_job_cores = 0;

/// Runs a job to its end; a failure ends the benchmark.
void run_job(sage::Environment& env) {
  const double cpu0 = cpu_seconds();
  const auto t0 = Clock::now();
  try {
    env.submit(/*autostop=*/true);
  } catch (const std::exception& e) {
    fail(std::string("job '") + env.name() + "' failed: " + e.what());
  }
  g_last_job_cores = (cpu_seconds() - cpu0) / std::max(1e-9, seconds_since(t0));
}

/// The settings given on the command line (e.g. `--batch.size 4096`), applied to every job.
sage::Config g_base_config;

sage::Config job_config(
    std::initializer_list<std::pair<const std::string, std::string>> extra = {}) {
  sage::Config c = g_base_config;
  for (const auto& [k, v] : extra) c.set(k, v);
  return c;
}

/// Starts this process's runtime with a small job; the runtime lives as long as
/// the environment returned (every LocalEnvironment meanwhile shares it).
std::unique_ptr<sage::LocalEnvironment> start_runtime() {
  auto keeper = std::make_unique<sage::LocalEnvironment>("bench-warmup", job_config());
  keeper->from_batch({1, 2, 3}).sink([](const int&) {});
  run_job(*keeper);
  return keeper;
}

// =====================================================================================
// MFK: map -> filter -> key_by -> count per key
// =====================================================================================

constexpr uint64_t kMfkKeys = 10'000;

struct Rec {
  uint64_t key;
  uint64_t value;
};

/// Rec's codec, for the remote run (records cross a node as Cap'n Proto batches).
template <class Inspector>
auto inspect(Inspector& f, Rec& x) {
  return f(caf::meta::type_name("Rec"), x.key, x.value);
}

struct KeyCount {
  uint64_t key;
  uint64_t count;
};

/// Record i of the MFK input: a pseudo-random key in [0, 10 k), value i.
inline Rec mfk_record(uint64_t i) { return Rec{mix64(i) % kMfkKeys, i}; }
/// The map: value * 3 + 1.
inline Rec mfk_map(const Rec& r) { return Rec{r.key, r.value * 3 + 1}; }
/// The filter: keeps even mapped values, i.e. odd i: exactly half of the records.
inline bool mfk_keep(const Rec& r) { return (r.value & 1) == 0; }
/// The sink's checksum of one (key, running count): the sum over a run does not
/// depend on the order of the keys, only on the counts.
inline uint64_t mfk_check(const KeyCount& kc) { return (kc.key + 1) * kc.count; }

using MfkCounts = std::unordered_map<uint64_t, uint64_t>;

struct MfkResult {
  std::mutex mutex;
  MfkCounts counts;  // merged from the count instances at close
  uint64_t checksum = 0;
  uint64_t records = 0;  // records seen by the sinks
};

/// The source: generates the records (no 320 MB input vector).
class MfkSource : public sage::BatchFunction<Rec> {
 public:
  explicit MfkSource(uint64_t n) : n_(n) {}
  std::optional<Rec> execute() override {
    if (i_ == n_) return std::nullopt;
    return mfk_record(i_++);
  }

 private:
  uint64_t n_;
  uint64_t i_ = 0;
};

/// Keyed by key: the running count of the current key (the same map as the loop).
class MfkCount : public sage::MapFunction<Rec, KeyCount> {
 public:
  explicit MfkCount(std::shared_ptr<MfkResult> result) : result_(std::move(result)) {}
  KeyCount execute(const Rec& r) override { return KeyCount{r.key, ++counts_[r.key]}; }
  void close() override {
    std::lock_guard<std::mutex> guard(result_->mutex);
    for (const auto& [k, c] : counts_) result_->counts[k] += c;
  }

 private:
  std::shared_ptr<MfkResult> result_;
  MfkCounts counts_;
};

/// A sink that sums `Check(record)` and counts records, adding both to the
/// shared result when it closes (the same for MFK and WC).
template <class Record, class Result, uint64_t (*Check)(const Record&)>
class ChecksumSink : public sage::SinkFunction<Record> {
 public:
  explicit ChecksumSink(std::shared_ptr<Result> result) : result_(std::move(result)) {}
  void execute(const Record& r) override {
    checksum_ += Check(r);
    ++records_;
  }
  void close() override {
    std::lock_guard<std::mutex> guard(result_->mutex);
    result_->checksum += checksum_;
    result_->records += records_;
  }

 private:
  std::shared_ptr<Result> result_;
  uint64_t checksum_ = 0;
  uint64_t records_ = 0;
};

using MfkSink = ChecksumSink<KeyCount, MfkResult, mfk_check>;

struct MfkLoopResult {
  MfkCounts counts;
  uint64_t checksum = 0;
  uint64_t records = 0;
};

/// The hand-written loop: generate, map, filter, count per key, checksum.
MfkLoopResult mfk_loop(uint64_t n) {
  MfkLoopResult res;
  for (uint64_t i = 0; i < n; ++i) {
    const Rec m = mfk_map(mfk_record(i));
    if (!mfk_keep(m)) continue;
    const KeyCount kc{m.key, ++res.counts[m.key]};
    res.checksum += mfk_check(kc);
    ++res.records;
  }
  return res;
}

/// The front of MFK in `env`: `gen -> map -> filter`, keyed by the record's key.
auto mfk_keyed(sage::Environment& env, uint64_t n) {
  return env.from_collection<MfkSource>(n)
      .name("gen")
      .map([](const Rec& r) { return mfk_map(r); })
      .name("map")
      .filter([](const Rec& r) { return mfk_keep(r); })
      .name("filter")
      .key_by([](const Rec& r) { return r.key; });
}

/// One SAGE run of MFK; returns seconds from submit to the end of the job.
double mfk_sage(uint64_t n, int count_parallelism, const MfkLoopResult& expected,
                sage::Config config = job_config()) {
  auto result = std::make_shared<MfkResult>();
  sage::LocalEnvironment env("bench-mfk", std::move(config));
  mfk_keyed(env, n)
      .map<MfkCount>(result)
      .name("count")
      .parallelism(count_parallelism)
      .sink<MfkSink>(result)
      .name("sink")
      .parallelism(count_parallelism);
  const auto t0 = Clock::now();
  run_job(env);
  const double s = seconds_since(t0);
  if (result->records != expected.records || result->checksum != expected.checksum ||
      result->counts != expected.counts)
    fail("MFK: SAGE result differs from the loop's (records " + std::to_string(result->records) +
         " vs " + std::to_string(expected.records) + ", keys " +
         std::to_string(result->counts.size()) + " vs " + std::to_string(expected.counts.size()) +
         ", checksum " + std::to_string(result->checksum) + " vs " +
         std::to_string(expected.checksum) + ")");
  return s;
}

// =====================================================================================
// MFK on a real cluster: a head and a worker in processes of their own
// =====================================================================================

/// A head and a worker started from the `sage` command (`--foreground`), on
/// loopback ports of their own; both are ended with this object. Authenticated
/// (the head's cluster secret, which this program then presents too) unless
/// `insecure`.
class LocalCluster {
 public:
  explicit LocalCluster(bool insecure = false)
      : dir_("/tmp/sage-bench-cluster-" + std::to_string(getpid()) +
             (insecure ? "-insecure" : "-authenticated")),
        insecure_(insecure) {
    select();
    std::vector<std::string> head_args{"cluster", "start",        "--head",      "--port",
                                       "0",       "--foreground", "--state-dir", dir_ + "/head"};
    std::vector<std::string> worker{"cluster",      "start",       "--worker",
                                    "--foreground", "--state-dir", dir_ + "/worker"};
    if (insecure) {
      head_args.emplace_back("--insecure");
      worker.emplace_back("--insecure");
    }
    head_ = start(head_args, address_);
    worker.emplace_back("--head-address");
    worker.emplace_back(address_);
    std::string worker_address;
    worker_ = start(worker, worker_address);
    const auto head = sage::actors::parse_host_port(address_);
    if (!head) fail("the head listens on '" + address_ + "'?");
    host_ = head->host;
    port_ = head->port;
    for (int i = 0; i < 100; ++i) {  // until the worker has registered
      const auto tls = sage::actors::find_credentials("", "", false);
      if (sage::actors::query_status(host_, port_, tls).nodes.size() >= 2) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    fail("the cluster's worker did not register");
  }
  ~LocalCluster() {
    for (pid_t pid : {worker_, head_}) {
      if (pid <= 0) continue;
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  /// Points this program's next jobs at this cluster: its credentials (the
  /// head's secret, or none) are what the program presents.
  void select() const {
    if (insecure_) {
      setenv("SAGE_INSECURE", "1", 1);
      unsetenv("SAGE_SECRET_FILE");
    } else {
      unsetenv("SAGE_INSECURE");
      setenv("SAGE_SECRET_FILE", (dir_ + "/head/cluster.secret").c_str(), 1);
    }
  }

  [[nodiscard]] const std::string& host() const { return host_; }
  [[nodiscard]] uint16_t port() const { return port_; }

 private:
  /// Starts `sage args...`; returns its pid once it printed where it listens.
  static pid_t start(const std::vector<std::string>& args, std::string& address) {
    int out[2];
    if (pipe(out) != 0) fail("pipe");
    const pid_t pid = fork();
    if (pid == 0) {
      dup2(out[1], STDOUT_FILENO);
      close(out[0]);
      close(out[1]);
      std::vector<std::string> storage{SAGE_CLI_PATH};
      storage.insert(storage.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& a : storage) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    std::string text;
    char buf[256];
    while (text.find('\n') == std::string::npos) {
      const auto n = read(out[0], buf, sizeof buf);
      if (n <= 0) fail("could not start " + std::string(SAGE_CLI_PATH) + " " + args[2]);
      text.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    const auto at = text.find("listening on ");
    if (at == std::string::npos) fail("unexpected output from sage: " + text);
    address = text.substr(at + 13, text.find('\n', at) - at - 13);
    return pid;
  }

  std::string dir_;
  bool insecure_;
  std::string address_;
  std::string host_;
  uint16_t port_ = 0;
  pid_t head_ = 0;
  pid_t worker_ = 0;
};

/// MFK as a cluster job: `gen -> map -> filter` on the head's node, `count ->
/// sink` on the worker's (placement: spread), each in a task host started from
/// this program. The records that pass the filter cross between the two task
/// hosts. Checked through the job's counters: every record counted, none lost.
/// In a task host this is where the program serves its job (it never returns).
double mfk_cluster(uint64_t n, const std::string& host, uint16_t port, uint64_t expected) {
  sage::RemoteEnvironment env("bench-mfk-cluster", host, port,
                              job_config({{"placement", "spread"}}));
  mfk_keyed(env, n)
      .map([counts = MfkCounts{}](const Rec& r) mutable {
        return KeyCount{r.key, ++counts[r.key]};
      })
      .name("count")
      .sink([](const KeyCount&) {})
      .name("sink");
  const auto t0 = Clock::now();
  env.submit(true);
  const double s = seconds_since(t0);
  uint64_t counted = 0, sunk = 0;
  for (const auto& op : env.status().operators) {
    if (op.name == "count") counted = op.records_in;
    if (op.name == "sink") sunk = op.records_in;
  }
  if (counted != expected || sunk != expected)
    fail("MFK cluster: " + std::to_string(counted) + " records counted and " +
         std::to_string(sunk) + " sunk, expected " + std::to_string(expected));
  return s;
}

// =====================================================================================
// WC: word count
// =====================================================================================

constexpr size_t kVocabulary = 10'000;
constexpr size_t kWordsPerLine = 8;

/// 10 k distinct pseudo-words of 3 to 10 lower-case letters, deterministic.
std::vector<std::string> make_vocabulary() {
  std::vector<std::string> words;
  std::set<std::string> seen;
  uint64_t state = 42;
  while (words.size() < kVocabulary) {
    const uint64_t r = mix64(state++);
    const size_t len = 3 + r % 8;
    std::string w;
    uint64_t bits = mix64(r);
    for (size_t i = 0; i < len; ++i) {
      w.push_back(static_cast<char>('a' + bits % 26));
      bits /= 26;
    }
    if (seen.insert(w).second) words.push_back(std::move(w));
  }
  return words;
}

/// `lines` lines of 8 words each, separated by single spaces.
std::vector<std::string> make_lines(size_t lines, const std::vector<std::string>& vocab) {
  std::vector<std::string> out;
  out.reserve(lines);
  uint64_t k = 7;
  for (size_t l = 0; l < lines; ++l) {
    std::string line;
    for (size_t w = 0; w < kWordsPerLine; ++w) {
      if (w) line.push_back(' ');
      line += vocab[mix64(k++) % vocab.size()];
    }
    out.push_back(std::move(line));
  }
  return out;
}

/// Splits on spaces, handing each word to `emit` as a `std::string` (shared by SAGE and loop).
template <class Emit>
inline void split_spaces(const std::string& line, Emit&& emit) {
  const char* p = line.data();
  const char* const end = p + line.size();
  while (p < end) {
    while (p < end && *p == ' ') ++p;
    const char* q = p;
    while (q < end && *q != ' ') ++q;
    if (q > p) emit(std::string(p, static_cast<size_t>(q - p)));
    p = q;
  }
}

using WordCount = std::pair<std::string, uint64_t>;
using WcCounts = std::unordered_map<std::string, uint64_t>;

inline uint64_t wc_check(const std::string& word, uint64_t count) {
  return count * 31 + word.size();
}

struct WcResult {
  std::mutex mutex;
  WcCounts counts;
  uint64_t checksum = 0;
  uint64_t records = 0;
};

class WcSplit : public sage::FlatMapFunction<std::string, std::string> {
 public:
  void execute(const std::string& line, sage::Collector<std::string>& out) override {
    split_spaces(line, [&](std::string&& w) { out.collect(std::move(w)); });
  }
};

class WcCount : public sage::MapFunction<std::string, WordCount> {
 public:
  explicit WcCount(std::shared_ptr<WcResult> result) : result_(std::move(result)) {}
  WordCount execute(const std::string& w) override { return {w, ++counts_[w]}; }
  void close() override {
    std::lock_guard<std::mutex> guard(result_->mutex);
    for (const auto& [w, c] : counts_) result_->counts[w] += c;
  }

 private:
  std::shared_ptr<WcResult> result_;
  WcCounts counts_;
};

inline uint64_t wc_record_check(const WordCount& wc) { return wc_check(wc.first, wc.second); }
using WcSink = ChecksumSink<WordCount, WcResult, wc_record_check>;

struct WcLoopResult {
  WcCounts counts;
  uint64_t checksum = 0;
  uint64_t records = 0;
};

WcLoopResult wc_loop(const std::vector<std::string>& lines) {
  WcLoopResult res;
  for (const auto& line : lines)
    split_spaces(line, [&](std::string&& w) {
      const uint64_t c = ++res.counts[w];
      res.checksum += wc_check(w, c);
      ++res.records;
    });
  return res;
}

double wc_sage(const std::vector<std::string>& lines, int parallelism,
               const WcLoopResult& expected) {
  auto result = std::make_shared<WcResult>();
  sage::LocalEnvironment env("bench-wc", job_config());
  env.from_batch(lines)  // copies the lines now, before the clock starts
      .name("lines")
      .flatmap<WcSplit>()
      .name("split")
      .parallelism(parallelism)
      .key_by([](const std::string& w) { return w; })
      .map<WcCount>(result)
      .name("count")
      .parallelism(parallelism)
      .sink<WcSink>(result)
      .name("sink")
      .parallelism(parallelism);
  const auto t0 = Clock::now();
  run_job(env);
  const double s = seconds_since(t0);
  if (result->records != expected.records || result->checksum != expected.checksum ||
      result->counts != expected.counts)
    fail("WC: SAGE result differs from the loop's (words " + std::to_string(result->records) +
         " vs " + std::to_string(expected.records) + ", distinct " +
         std::to_string(result->counts.size()) + " vs " + std::to_string(expected.counts.size()) +
         ")");
  return s;
}

// =====================================================================================
// Latency
// =====================================================================================

struct Tick {
  uint64_t seq;
  uint64_t key;
  int64_t due_ns;   // when the source meant to emit it
  int64_t emit_ns;  // when it did (the latency's start)
};

struct LatencyResult {
  std::vector<int64_t> from_emit;  // ns, per record past the warm-up, in arrival order
  std::vector<int64_t> from_due;
  uint64_t records = 0;
  uint64_t source_calls = 0;  // calls of the source's execute (polls)
  double source_seconds = 0;
};

/// Emits `total` ticks at `rate` per second; a call before the next tick is due emits nothing.
class TickSource : public sage::SourceFunction<Tick> {
 public:
  TickSource(uint64_t rate, uint64_t total, std::shared_ptr<LatencyResult> result)
      : period_ns_(static_cast<int64_t>(1'000'000'000 / rate)),
        total_(total),
        result_(std::move(result)) {}
  void open(sage::RuntimeContext&) override { start_ns_ = now_ns(); }
  void close() override {
    result_->source_calls = calls_;
    result_->source_seconds = static_cast<double>(now_ns() - start_ns_) / 1e9;
  }
  void execute(sage::SourceContext<Tick>& ctx) override {
    ++calls_;
    if (seq_ >= total_) {
      ctx.stop();
      return;
    }
    const int64_t due = start_ns_ + static_cast<int64_t>(seq_) * period_ns_;
    const int64_t now = now_ns();
    if (now < due) return;  // nothing now
    ctx.emit(Tick{seq_, 0, due, now});
    ++seq_;
  }

 private:
  int64_t period_ns_;
  uint64_t total_;
  std::shared_ptr<LatencyResult> result_;
  uint64_t seq_ = 0;
  uint64_t calls_ = 0;
  int64_t start_ns_ = 0;
};

class LatencySink : public sage::SinkFunction<Tick> {
 public:
  LatencySink(std::shared_ptr<LatencyResult> result, uint64_t warmup)
      : result_(std::move(result)), warmup_(warmup) {}
  void open(sage::RuntimeContext&) override {
    result_->from_emit.reserve(1 << 20);
    result_->from_due.reserve(1 << 20);
  }
  void execute(const Tick& t) override {
    const int64_t now = now_ns();
    ++result_->records;
    if (t.seq < warmup_) return;
    result_->from_emit.push_back(now - t.emit_ns);
    result_->from_due.push_back(now - t.due_ns);
  }

 private:
  std::shared_ptr<LatencyResult> result_;  // one sink instance: no lock needed
  uint64_t warmup_;
};

struct Percentiles {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;  // microseconds
};

Percentiles percentiles(std::vector<int64_t> v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return static_cast<double>(v[std::clamp<size_t>(rank, 1, v.size()) - 1]) / 1000.0;
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = static_cast<double>(v.back()) / 1000.0;
  return p;
}

struct LatencyRun {
  Percentiles from_emit;
  Percentiles from_due;
  size_t samples = 0;
  double polls_per_s = 0;  // calls of the source function per second
};

/// source -> map -> key_by -> map -> sink: two tasks (one channel hop) with chaining,
/// four tasks (three hops) with `chaining=false`.
LatencyRun latency_run(uint64_t rate, double seconds, sage::Config cfg) {
  const auto total = static_cast<uint64_t>(static_cast<double>(rate) * seconds);
  const uint64_t warmup = rate / 10;  // the first 100 ms are not counted
  auto result = std::make_shared<LatencyResult>();
  sage::LocalEnvironment env("bench-latency", std::move(cfg));
  env.from_source<TickSource>(rate, total, result)
      .name("ticks")
      .map([](const Tick& t) {
        Tick u = t;
        u.key = t.seq % 64;
        return u;
      })
      .name("tag")
      .key_by([](const Tick& t) { return t.key; })
      .map([](const Tick& t) { return t; })
      .name("pass")
      .sink<LatencySink>(result, warmup)
      .name("latency");
  run_job(env);
  if (result->records != total)
    fail("latency: the sink saw " + std::to_string(result->records) + " of " +
         std::to_string(total) + " records");
  LatencyRun r;
  r.samples = result->from_emit.size();
  r.polls_per_s =
      static_cast<double>(result->source_calls) / std::max(1e-9, result->source_seconds);
  r.from_emit = percentiles(std::move(result->from_emit));
  r.from_due = percentiles(std::move(result->from_due));
  return r;
}

// =====================================================================================
// Memory under backpressure
// =====================================================================================

/// Resident set size now, from /proc/self/statm.
double rss_mb() {
  std::ifstream in("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  in >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) /
         (1024.0 * 1024.0);
}

/// A `kB` field of /proc/self/status (VmHWM, VmRSS), in MB; -1 when absent.
double status_mb(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0)
      return std::strtod(line.c_str() + field.size() + 1, nullptr) / 1024.0;
  return -1;
}

/// Resets VmHWM to the current RSS (Linux >= 4.0); false when not possible.
bool reset_hwm() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

class FastSource : public sage::BatchFunction<Rec> {
 public:
  explicit FastSource(uint64_t n) : n_(n) {}
  std::optional<Rec> execute() override {
    if (i_ == n_) return std::nullopt;
    const uint64_t i = i_++;
    return Rec{i, i};
  }

 private:
  uint64_t n_;
  uint64_t i_ = 0;
};

struct SlowResult {
  std::atomic<uint64_t> records{0};
  uint64_t sum = 0;
};

/// Spins about `spin_ns` per record.
class SlowSink : public sage::SinkFunction<Rec> {
 public:
  SlowSink(std::shared_ptr<SlowResult> result, int64_t spin_ns)
      : result_(std::move(result)), spin_ns_(spin_ns) {}
  void execute(const Rec& r) override {
    const int64_t until = now_ns() + spin_ns_;
    while (now_ns() < until) {
    }
    sum_ += r.value;
    result_->records.fetch_add(1, std::memory_order_relaxed);
  }
  void close() override { result_->sum = sum_; }

 private:
  std::shared_ptr<SlowResult> result_;
  int64_t spin_ns_;
  uint64_t sum_ = 0;
};

struct MemoryRun {
  double baseline_mb = 0;
  double peak_mb = 0;
  double hwm_mb = -1;
  double seconds = 0;
};

MemoryRun memory_run(uint64_t n, int64_t spin_ns) {
  malloc_trim(0);  // return what earlier phases freed, so that growth shows in RSS
  auto result = std::make_shared<SlowResult>();
  sage::LocalEnvironment env("bench-backpressure", job_config());
  env.from_collection<FastSource>(n)
      .name("fast")
      .rebalance()  // a channel between the source and the sink: they run as two tasks
      .sink<SlowSink>(result, spin_ns)
      .name("slow");

  MemoryRun m;
  m.baseline_mb = rss_mb();
  const bool hwm_ok = reset_hwm();
  std::atomic<bool> done{false};
  double peak = m.baseline_mb;
  std::thread sampler([&] {
    auto next_report = Clock::now() + std::chrono::seconds(1);
    while (!done.load()) {
      peak = std::max(peak, rss_mb());
      if (Clock::now() >= next_report) {
        std::fprintf(stderr, "  memory: %6.1f M records through the sink, RSS %.1f MB\n",
                     static_cast<double>(result->records.load()) / 1e6, rss_mb());
        next_report += std::chrono::seconds(1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const auto t0 = Clock::now();
  run_job(env);
  m.seconds = seconds_since(t0);
  done = true;
  sampler.join();
  m.peak_mb = std::max(peak, rss_mb());
  if (hwm_ok) m.hwm_mb = status_mb("VmHWM");
  const uint64_t expected_sum = n * (n - 1) / 2;
  if (result->records.load() != n || result->sum != expected_sum)
    fail("memory: the sink saw " + std::to_string(result->records.load()) + " of " +
         std::to_string(n) + " records");
  return m;
}

// =====================================================================================

struct Output {
  std::vector<std::pair<std::string, std::string>> pairs;
  void add(const std::string& name, double v, int decimals) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    pairs.emplace_back(name, buf);
  }
};

void usage() {
  std::fprintf(
      stderr,
      "usage: sage-bench [--quick] [--only mfk|remote|cluster|wc|latency|memory] [--runs N] "
      "[--skip-memory] [--<config key> <value> ...]\n");
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  bool skip_memory = false;
  std::string only;
  int runs = 3;
  std::vector<const char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--skip-memory") {
      skip_memory = true;
    } else if (a == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else if (a.rfind("--only=", 0) == 0) {
      only = a.substr(7);
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (!only.empty() && only != "mfk" && only != "remote" && only != "cluster" && only != "wc" &&
      only != "latency" && only != "memory") {
    usage();
    return 1;
  }
  const auto positional = g_base_config.merge_args(static_cast<int>(rest.size()), rest.data());
  if (!positional.empty()) {
    usage();
    return 1;
  }
  auto enabled = [&](const char* what) { return only.empty() || only == what; };
  auto report_rss = [](const char* after) {
    std::fprintf(stderr, "  (after %s: RSS %.1f MB, VmHWM %.1f MB)\n", after, rss_mb(),
                 status_mb("VmHWM"));
  };

  const uint64_t mfk_n = quick ? 2'000'000 : 20'000'000;
  if (sage::detail::is_task_host()) {
    // This program, shipped by the cluster of `--only cluster`: submit what the
    // submitter submits, in the same order; the task host serves its own job of
    // them (the earlier ones are replayed) and does not return from it.
    // (The earlier ones look as they did to the submitter: checked the same way.)
    const uint64_t expected = mfk_loop(mfk_n).records;
    for (int r = 0; r < 2 * runs; ++r)
      mfk_cluster(mfk_n, "", 0, expected);  // insecure and authenticated, alternating
    return 0;
  }
  const size_t wc_lines = quick ? 100'000 : 1'000'000;
  const double latency_seconds = quick ? 1.0 : 2.5;
  const uint64_t latency_rate = 20'000;
  const uint64_t memory_n = quick ? 3'000'000 : 30'000'000;
  const int64_t spin_ns = 100;

  std::fprintf(stderr, "sage-bench: %s sizes, best of %d runs, %u hardware threads\n",
               quick ? "quick" : "full", runs, std::thread::hardware_concurrency());
  for (const auto& [k, v] : g_base_config.entries())
    std::fprintf(stderr, "sage-bench: config %s = %s\n", k.c_str(), v.c_str());

  // Starts the embedded actor system once, so that no timing includes its start-up.
  auto keeper = start_runtime();

  Output out;
  Output extra;
  Output mem_pairs;  // printed last, after the other extra pairs

  // Memory runs first: the runtime keeps the state of finished jobs (e.g. the copy of
  // the WC lines that from_batch makes), which would inflate the baseline.
  if (enabled("memory") && !skip_memory) {
    std::fprintf(stderr, "memory: %.0f M records into a sink spinning %lld ns per record\n",
                 static_cast<double>(memory_n) / 1e6, static_cast<long long>(spin_ns));
    const MemoryRun m = memory_run(memory_n, spin_ns);
    std::fprintf(stderr,
                 "  %.2f s; RSS baseline %.1f MB, peak %.1f MB (VmHWM %.1f MB); an unbounded "
                 "queue would hold up to %.0f MB of records\n",
                 m.seconds, m.baseline_mb, m.peak_mb, m.hwm_mb,
                 static_cast<double>(memory_n * sizeof(Rec)) / (1024.0 * 1024.0));
    mem_pairs.add("backpressure_baseline_rss_mb", m.baseline_mb, 1);
    mem_pairs.add("backpressure_peak_rss_mb", m.peak_mb, 1);
    if (m.hwm_mb >= 0) mem_pairs.add("backpressure_vmhwm_mb", m.hwm_mb, 1);
    mem_pairs.add("backpressure_records", static_cast<double>(memory_n), 0);
    mem_pairs.add("backpressure_seconds", m.seconds, 2);
    mem_pairs.add("backpressure_sink_records_per_s", static_cast<double>(memory_n) / m.seconds, 0);
    report_rss("memory");
  }

  if (enabled("mfk")) {
    std::fprintf(stderr, "MFK: %.0f M records, %llu keys\n", static_cast<double>(mfk_n) / 1e6,
                 static_cast<unsigned long long>(kMfkKeys));
    double best_loop = 1e300, best_p1 = 1e300, best_p2 = 1e300;
    double best_p1_cores = 0, best_p2_cores = 0;
    for (int r = 0; r < runs; ++r) {
      auto t0 = Clock::now();
      const MfkLoopResult expected = mfk_loop(mfk_n);
      const double loop_s = seconds_since(t0);
      best_loop = std::min(best_loop, loop_s);
      const double p1 = mfk_sage(mfk_n, 1, expected);
      const double p1_cores = g_last_job_cores;
      if (p1 < best_p1) best_p1_cores = p1_cores;
      best_p1 = std::min(best_p1, p1);
      const double p2 = mfk_sage(mfk_n, 2, expected);
      const double p2_cores = g_last_job_cores;
      if (p2 < best_p2) best_p2_cores = p2_cores;
      best_p2 = std::min(best_p2, p2);
      std::fprintf(stderr,
                   "  run %d: loop %.3f s (%.1f M/s), sage p1 %.3f s (%.1f M/s, %.2f cores busy), "
                   "sage count-p2 %.3f s (%.1f M/s, %.2f cores busy); %llu kept, checksum %llu\n",
                   r + 1, loop_s, static_cast<double>(mfk_n) / loop_s / 1e6, p1,
                   static_cast<double>(mfk_n) / p1 / 1e6, p1_cores, p2,
                   static_cast<double>(mfk_n) / p2 / 1e6, p2_cores,
                   static_cast<unsigned long long>(expected.records),
                   static_cast<unsigned long long>(expected.checksum));
    }
    const double n = static_cast<double>(mfk_n);
    out.add("mfk_sage_records_per_s", n / best_p1, 0);
    out.add("mfk_loop_records_per_s", n / best_loop, 0);
    out.add("mfk_ratio", best_loop / best_p1, 4);
    extra.add("mfk_sage_count_p2_records_per_s", n / best_p2, 0);
    extra.add("mfk_sage_count_p2_ratio", best_loop / best_p2, 4);
    extra.add("mfk_sage_cores_busy", best_p1_cores, 2);
    extra.add("mfk_sage_count_p2_cores_busy", best_p2_cores, 2);
    report_rss("MFK");
  }

  if (enabled("remote")) {
    // The runtime is made anew for each run, in plain or with TLS (on_two_nodes).
    keeper.reset();
    // MFK across two actor systems on loopback TCP: `gen -> map -> filter` here,
    // `count -> sink` on a node server, so the 10 M records that pass the filter
    // cross as Cap'n Proto batches through CAF's network layer. Each run twice,
    // in plain and over TLS with a cluster secret: the ratio is what
    // authentication costs.
    const std::string secret_dir = "/tmp/sage-bench-secret-" + std::to_string(getpid());
    std::filesystem::create_directories(secret_dir);
    const std::string secret = secret_dir + "/cluster.secret";
    sage::actors::create_cluster_secret(secret);
    sage::Config authenticated = g_base_config;
    authenticated.set("cluster.secret-file", secret);
    std::fprintf(stderr, "MFK remote: %.0f M records, source node -> count node over loopback\n",
                 static_cast<double>(mfk_n) / 1e6);
    const MfkLoopResult expected = mfk_loop(mfk_n);
    double best[2] = {1e300, 1e300};
    for (int r = 0; r < runs; ++r) {
      for (int secure = 0; secure < 2; ++secure) {
        const sage::Config& cfg = secure ? authenticated : g_base_config;
        const double t = sage::bench::on_two_nodes(cfg, [&] {
          return mfk_sage(mfk_n, 1, expected, job_config({{"placement", "spread"}}));
        });
        std::fprintf(stderr, "  run %d, %s: %.3f s (%.1f M/s, %.2f cores busy)\n", r + 1,
                     secure ? "authenticated" : "plain", t, static_cast<double>(mfk_n) / t / 1e6,
                     g_last_job_cores);
        best[secure] = std::min(best[secure], t);
      }
    }
    extra.add("mfk_remote_records_per_s", static_cast<double>(mfk_n) / best[0], 0);
    extra.add("mfk_remote_crossing_records_per_s", static_cast<double>(expected.records) / best[0],
              0);
    extra.add("mfk_remote_authenticated_ratio", best[0] / best[1], 4);

    // Documents of 16 KB (what LLM pipelines move) across the same kind of link.
    const uint64_t docs = quick ? 5'000 : 20'000;
    std::fprintf(stderr, "big records remote: %" PRIu64 " documents of 16 KB, node to node\n",
                 docs);
    const auto big = sage::bench::big_records_remote(docs, 16384, runs, g_base_config, secret);
    extra.add("big_records_remote_mb_per_s", big.sage_mb_per_s, 0);
    extra.add("big_records_loopback_tcp_mb_per_s", big.tcp_mb_per_s, 0);
    extra.add("big_records_remote_ratio", big.sage_mb_per_s / big.tcp_mb_per_s, 4);
    extra.add("big_records_remote_authenticated_ratio",
              big.authenticated_mb_per_s / big.sage_mb_per_s, 4);
    std::error_code ec;
    std::filesystem::remove_all(secret_dir, ec);
    keeper = start_runtime();
  }

  if (only == "cluster") {  // not in the default set: it starts processes
    std::fprintf(stderr,
                 "MFK cluster: %.0f M records, a head and a worker in processes of their own; "
                 "source task host -> count task host over loopback\n",
                 static_cast<double>(mfk_n) / 1e6);
    const MfkLoopResult expected = mfk_loop(mfk_n);
    // The same job on an --insecure cluster and on an authenticated one (TLS
    // with the cluster secret), both up at once and their runs alternating, so
    // that the machine's drift between runs falls on both alike: the ratio is
    // what authentication costs.
    double best[2] = {1e300, 1e300};
    std::string failure;
    {
      const LocalCluster clusters[2] = {LocalCluster(true), LocalCluster(false)};
      try {
        for (int r = 0; r < runs; ++r) {
          for (int secure = 0; secure < 2; ++secure) {
            const LocalCluster& cluster = clusters[secure];
            cluster.select();
            const double t = mfk_cluster(mfk_n, cluster.host(), cluster.port(), expected.records);
            std::fprintf(stderr,
                         "  run %d, %s cluster: %.3f s (%.1f M/s), task hosts started and "
                         "ended included\n",
                         r + 1, secure ? "authenticated" : "insecure", t,
                         static_cast<double>(mfk_n) / t / 1e6);
            best[secure] = std::min(best[secure], t);
          }
        }
      } catch (const std::exception& e) {
        failure = e.what();
      }
    }  // the clusters end before any failure is reported
    if (!failure.empty()) fail("MFK cluster: " + failure);
    extra.add("mfk_cluster_records_per_s", static_cast<double>(mfk_n) / best[1], 0);
    extra.add("mfk_cluster_crossing_records_per_s", static_cast<double>(expected.records) / best[1],
              0);
    extra.add("mfk_cluster_insecure_records_per_s", static_cast<double>(mfk_n) / best[0], 0);
    extra.add("mfk_cluster_authenticated_ratio", best[0] / best[1], 4);
  }

  if (enabled("wc")) {
    const auto vocab = make_vocabulary();
    auto lines = make_lines(wc_lines, vocab);
    const double words = static_cast<double>(wc_lines * kWordsPerLine);
    std::fprintf(stderr, "WC: %zu lines x %zu words, %zu-word vocabulary\n", wc_lines,
                 kWordsPerLine, vocab.size());
    double best_loop = 1e300, best_p1 = 1e300, best_p2 = 1e300;
    double best_p1_cores = 0, best_p2_cores = 0;
    for (int r = 0; r < runs; ++r) {
      auto t0 = Clock::now();
      const WcLoopResult expected = wc_loop(lines);
      const double loop_s = seconds_since(t0);
      best_loop = std::min(best_loop, loop_s);
      if (expected.records != wc_lines * kWordsPerLine) fail("WC: the loop miscounted");
      const double p1 = wc_sage(lines, 1, expected);
      const double p1_cores = g_last_job_cores;
      if (p1 < best_p1) best_p1_cores = p1_cores;
      best_p1 = std::min(best_p1, p1);
      const double p2 = wc_sage(lines, 2, expected);
      const double p2_cores = g_last_job_cores;
      if (p2 < best_p2) best_p2_cores = p2_cores;
      best_p2 = std::min(best_p2, p2);
      std::fprintf(stderr,
                   "  run %d: loop %.3f s (%.1f M words/s), sage p1 %.3f s (%.1f M/s, %.2f cores "
                   "busy), sage p2 %.3f s (%.1f M/s, %.2f cores busy); %zu distinct words\n",
                   r + 1, loop_s, words / loop_s / 1e6, p1, words / p1 / 1e6, p1_cores, p2,
                   words / p2 / 1e6, p2_cores, expected.counts.size());
    }
    const double best = std::min(best_p1, best_p2);
    out.add("wc_sage_words_per_s", words / best, 0);
    out.add("wc_loop_words_per_s", words / best_loop, 0);
    out.add("wc_ratio", best_loop / best, 4);
    extra.add("wc_sage_p1_words_per_s", words / best_p1, 0);
    extra.add("wc_sage_p2_words_per_s", words / best_p2, 0);
    extra.add("wc_sage_best_parallelism", best_p1 <= best_p2 ? 1 : 2, 0);
    extra.add("wc_sage_p1_cores_busy", best_p1_cores, 2);
    extra.add("wc_sage_p2_cores_busy", best_p2_cores, 2);
    lines.clear();
    lines.shrink_to_fit();
    report_rss("WC (its lines freed)");
  }

  if (enabled("latency")) {
    struct Variant {
      const char* prefix;
      const char* what;
      sage::Config cfg;
    };
    std::vector<Variant> variants = {
        {"latency", "default config (buffer.timeout 10 ms, chaining on: 2 tasks)", job_config()},
        {"latency_bt0", "buffer.timeout 0 (2 tasks)", job_config({{"buffer.timeout", "0"}})},
        {"latency_unchained", "chaining=false (4 tasks, 3 hops)",
         job_config({{"chaining", "false"}})},
    };
    for (auto& v : variants) {
      std::fprintf(stderr, "latency [%s]: %llu records/s for %.1f s\n", v.what,
                   static_cast<unsigned long long>(latency_rate), latency_seconds);
      const LatencyRun r = latency_run(latency_rate, latency_seconds, v.cfg);
      std::fprintf(stderr,
                   "  %zu samples: p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us "
                   "(from the scheduled time: p50 %.1f, p99 %.1f us); source polled %.0f times/s\n",
                   r.samples, r.from_emit.p50, r.from_emit.p99, r.from_emit.p999, r.from_emit.max,
                   r.from_due.p50, r.from_due.p99, r.polls_per_s);
      const std::string p = v.prefix;
      Output& o = (p == "latency") ? out : extra;
      o.add(p + "_p50_us", r.from_emit.p50, 1);
      o.add(p + "_p99_us", r.from_emit.p99, 1);
      extra.add(p + "_p999_us", r.from_emit.p999, 1);
      extra.add(p + "_max_us", r.from_emit.max, 1);
      if (p == "latency") {
        extra.add("latency_samples", static_cast<double>(r.samples), 0);
        extra.add("latency_from_schedule_p50_us", r.from_due.p50, 1);
        extra.add("latency_from_schedule_p99_us", r.from_due.p99, 1);
        extra.add("latency_source_polls_per_s", r.polls_per_s, 0);
      }
    }
    report_rss("latency");
  }

  for (const auto& [k, v] : out.pairs) std::printf("%s %s\n", k.c_str(), v.c_str());
  for (const auto& [k, v] : extra.pairs) std::printf("%s %s\n", k.c_str(), v.c_str());
  for (const auto& [k, v] : mem_pairs.pairs) std::printf("%s %s\n", k.c_str(), v.c_str());
  return 0;
}
