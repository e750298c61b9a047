// Jobs across two actor systems that talk through CAF's network layer on
// loopback: this process's embedded runtime, and a node server standing in for
// a worker. With `placement: spread` consecutive chains land on different
// nodes, so every batch between them is a Cap'n Proto RecordBatch on the wire.
// Results must equal those of the same pipeline run in one process.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <sage/actors/node_server.hpp>
#include <sage/detail/runtime.hpp>
#include <sage/sage.hpp>

using namespace std::chrono_literals;

namespace {

struct Order {
  std::string user;
  double amount = 0;
  int64_t id = 0;
  friend bool operator==(const Order&, const Order&) = default;
  friend bool operator<(const Order& a, const Order& b) { return a.id < b.id; }
};

template <class Inspector>
auto inspect(Inspector& f, Order& x) {
  return f(caf::meta::type_name("Order"), x.user, x.amount, x.id);
}

struct Opaque {  // no codec
  int v;
};

/// A second node, and this process's runtime knowing it. Tasks of jobs with
/// `placement: spread` are placed on both.
struct TwoNodes {
  sage::actors::NodeServer worker;
  std::shared_ptr<sage::detail::Runtime> runtime = sage::detail::embedded_runtime({});
  TwoNodes() { runtime->add_node("127.0.0.1", worker.port()); }
  static sage::Config spread() {
    sage::Config cfg;
    cfg.set("placement", "spread");
    return cfg;
  }
};

std::vector<Order> orders(int n) {
  std::vector<Order> v;
  for (int i = 0; i < n; ++i) v.push_back(Order{"user-" + std::to_string(i % 37), i * 0.5, i});
  return v;
}

/// The per-user totals of a keyed pipeline, run with `cfg`.
std::map<std::string, double> totals(const sage::Config& cfg, int ps, int pk, int n) {
  struct Sum : sage::MapFunction<Order, std::pair<std::string, double>> {
    std::pair<std::string, double> execute(const Order& o) override {
      return {o.user, sums[ctx().key<std::string>()] += o.amount};
    }
    std::map<std::string, double> sums;
  };
  sage::LocalEnvironment env("totals", cfg);
  auto out = env.from_batch(orders(n))
                 .parallelism(ps)
                 .map([](const Order& o) {
                   return Order{o.user, o.amount * 2, o.id};
                 })
                 .parallelism(ps)
                 .key_by([](const Order& o) { return o.user; })
                 .map<Sum>()
                 .parallelism(pk)
                 .rebalance()  // collect() runs at the submitter: the sums cross back
                 .collect();
  env.submit(true);
  std::map<std::string, double> latest;
  for (const auto& [user, sum] : out.get()) latest[user] = std::max(latest[user], sum);
  return latest;
}

}  // namespace

TEST_CASE("two nodes: records cross as Cap'n Proto batches and come out as in one process") {
  TwoNodes nodes;
  const auto local = totals({}, 1, 1, 20000);
  for (int ps = 1; ps <= 2; ++ps)
    for (int pk = 1; pk <= 3; ++pk) {
      CAPTURE(ps);
      CAPTURE(pk);
      CHECK(totals(TwoNodes::spread(), ps, pk, 20000) == local);
    }
}

TEST_CASE("two nodes: every record exactly once over hash and round-robin edges") {
  TwoNodes nodes;
  auto cfg = TwoNodes::spread();
  cfg.set("batch.size", 100);
  sage::LocalEnvironment env("exactly-once", cfg);
  auto out = env.from_batch(orders(50000))
                 .parallelism(2)
                 .key_by([](const Order& o) { return o.id % 101; })
                 .map([](const Order& o) { return o; })
                 .parallelism(3)
                 .rebalance()
                 .filter([](const Order&) { return true; })
                 .parallelism(2)
                 .collect();
  env.submit(true);
  auto v = out.get();
  std::sort(v.begin(), v.end());
  CHECK(v == orders(50000));
  // status counts records on both nodes
  for (const auto& op : env.status().operators)
    if (op.name == "filter") CHECK(op.records_in == 50000);
}

TEST_CASE("two nodes: a failure on the remote node fails the job with its operator's name") {
  TwoNodes nodes;
  sage::LocalEnvironment env("remote-failure", TwoNodes::spread());
  env.from_batch(orders(1000))
      .rebalance()
      .map([](const Order& o) {
        if (o.id == 500) throw std::runtime_error("bad order 500");
        return o.id;
      })
      .name("validate")
      .sink([](const int64_t&) {});
  CHECK_THROWS_WITH_AS(env.submit(true),
                       doctest::Contains("\"validate\" instance 0 failed: bad order 500"),
                       sage::JobFailed);
}

TEST_CASE("two nodes: stop() drains an unbounded job across nodes") {
  TwoNodes nodes;
  struct Endless : sage::SourceFunction<int64_t> {
    void execute(sage::SourceContext<int64_t>& ctx) override {
      for (int i = 0; i < 100; ++i) ctx.emit(n++);
    }
    int64_t n = 0;
  };
  sage::LocalEnvironment env("remote-stop", TwoNodes::spread());
  auto out = env.from_source<Endless>()
                 .rebalance()
                 .map([](const int64_t& x) { return x; })
                 .rebalance()
                 .collect();
  env.submit(false);
  int64_t read = 0;
  while (read < 20000) {
    if (out.next(30s)) ++read;
  }
  env.stop();
  CHECK(env.status().state == sage::JobState::finished);
  // Every record emitted before the stop arrived, in order (one source, one channel).
  int64_t expected = read;
  bool in_order = true;
  while (auto x = out.next(1s)) in_order = in_order && *x == expected++;
  CHECK(in_order);
}

TEST_CASE(
    "two nodes: a record type without a codec on a cross-node edge is refused before it runs") {
  TwoNodes nodes;
  std::atomic<int> sunk{0};
  sage::LocalEnvironment env("no-codec", TwoNodes::spread());
  env.from_batch({1, 2, 3})
      .map([](const int& x) { return Opaque{x}; })
      .name("wrap")
      .rebalance()
      .sink([&sunk](const Opaque&) { sunk.fetch_add(1); });
  CHECK_THROWS_WITH_AS(env.submit(true), doctest::Contains("\"wrap\" ("), sage::SubmitError);
  CHECK(env.status().error.find("no codec") != std::string::npos);
  CHECK(sunk.load() == 0);
  // The same pipeline on one node needs no codec.
  sage::LocalEnvironment local("no-codec-local");
  local.from_batch({1, 2, 3})
      .map([](const int& x) { return Opaque{x}; })
      .rebalance()
      .sink([&sunk](const Opaque&) { sunk.fetch_add(1); });
  local.submit(true);
  CHECK(sunk.load() == 3);
}
