// Partitioning between operators: key_by (hash, broadcast, round-robin),
// rebalance, broadcast, partition_custom; and the exactly-once matrix over
// parallelism 1..4 with forward, hash and round-robin edges.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <sage/sage.hpp>

namespace {

struct Rec {
  uint64_t id;
  uint64_t key;
};

std::vector<Rec> records(uint64_t n, uint64_t keys) {
  std::vector<Rec> v;
  v.reserve(n);
  for (uint64_t i = 0; i < n; ++i) v.push_back(Rec{i, (i * 7919) % keys});
  return v;
}

/// Tags every record with the index of the instance that saw it.
template <class T>
class TagInstance : public sage::MapFunction<T, std::pair<int, T>> {
 public:
  std::pair<int, T> execute(const T& x) override { return {this->ctx().index(), x}; }
};

/// Tags a keyed record with its instance and the context's current key.
class TagKey : public sage::MapFunction<Rec, std::tuple<int, uint64_t, uint64_t>> {
 public:
  std::tuple<int, uint64_t, uint64_t> execute(const Rec& r) override {
    return {ctx().index(), ctx().key<uint64_t>(), r.key};
  }
};

}  // namespace

TEST_CASE(
    "key_by hash: every record of one key reaches the same instance, and ctx().key is its key") {
  sage::LocalEnvironment env("keyed");
  auto out = env.from_batch(records(20000, 97))
                 .parallelism(2)
                 .key_by([](const Rec& r) { return r.key; })
                 .map<TagKey>()
                 .parallelism(4)
                 .collect();
  env.submit(true);
  auto v = out.get();
  REQUIRE(v.size() == 20000);
  std::map<uint64_t, std::set<int>> instances_of_key;
  std::set<int> used;
  for (const auto& [instance, ctx_key, key] : v) {
    CHECK(ctx_key == key);
    instances_of_key[key].insert(instance);
    used.insert(instance);
  }
  CHECK(instances_of_key.size() == 97);
  for (const auto& [key, inst] : instances_of_key) CHECK(inst.size() == 1);
  CHECK(used.size() == 4);  // 97 keys spread over all four instances
}

TEST_CASE("key_by accepts string and pair keys") {
  sage::LocalEnvironment env("keys");
  auto out = env.from_batch(std::vector<std::string>{"x", "y", "x", "z", "y", "x"})
                 .key_by([](const std::string& s) { return std::make_pair(s, s.size()); })
                 .map([](const std::string& s) { return s + "!"; })
                 .parallelism(3)
                 .collect();
  env.submit(true);
  auto v = out.get();
  std::sort(v.begin(), v.end());
  CHECK(v == std::vector<std::string>{"x!", "x!", "x!", "y!", "y!", "z!"});
}

TEST_CASE("ctx().key outside a keyed stream fails the job with a clear message") {
  sage::LocalEnvironment env("no-key");
  env.from_batch(records(10, 3)).map<TagKey>().name("tagger").sink([](const auto&) {});
  REQUIRE_THROWS_AS(env.submit(true), sage::JobFailed);
  const auto error = env.status().error;
  CHECK(error.find("tagger") != std::string::npos);
  CHECK(error.find("KeyedStream") != std::string::npos);
  CHECK(error.find("key<unsigned long>") != std::string::npos);
}

TEST_CASE("broadcast reaches every instance") {
  for (bool via_key_by : {false, true}) {
    CAPTURE(via_key_by);
    sage::LocalEnvironment env("broadcast");
    auto src = env.from_batch(records(1000, 10));
    auto tagged = via_key_by
                      ? src.key_by([](const Rec& r) { return r.key; }, sage::Partition::broadcast)
                            .map<TagInstance<Rec>>()
                            .parallelism(3)
                            .collect()
                      : src.broadcast().map<TagInstance<Rec>>().parallelism(3).collect();
    env.submit(true);
    std::map<int, std::set<uint64_t>> ids;
    for (const auto& [instance, r] : tagged.get()) ids[instance].insert(r.id);
    REQUIRE(ids.size() == 3);
    for (const auto& [instance, s] : ids) CHECK(s.size() == 1000);
  }
}

TEST_CASE("round-robin spreads evenly") {
  for (int variant = 0; variant < 2; ++variant) {
    CAPTURE(variant);
    sage::LocalEnvironment env("round-robin");
    auto src = env.from_batch(records(10001, 10));
    auto tagged = variant == 0
                      ? src.rebalance().map<TagInstance<Rec>>().parallelism(4).collect()
                      : src.key_by([](const Rec& r) { return r.key; }, sage::Partition::round_robin)
                            .map<TagInstance<Rec>>()
                            .parallelism(4)
                            .collect();
    env.submit(true);
    std::map<int, int> per_instance;
    for (const auto& [instance, r] : tagged.get()) per_instance[instance]++;
    REQUIRE(per_instance.size() == 4);
    for (const auto& [instance, n] : per_instance) {
      CHECK(n >= 2500);
      CHECK(n <= 2501);
    }
  }
}

namespace {
struct ByParity {
  size_t partition(const Rec& r, size_t n) { return static_cast<size_t>(r.id % 2) % n; }
};
struct OutOfRange {
  size_t partition(const Rec&, size_t n) { return n; }
};
}  // namespace

TEST_CASE("partition_custom routes by the user's partitioner") {
  sage::LocalEnvironment env("custom");
  auto tagged = env.from_batch(records(1000, 10))
                    .partition_custom(ByParity{})
                    .map<TagInstance<Rec>>()
                    .parallelism(2)
                    .collect();
  env.submit(true);
  for (const auto& [instance, r] : tagged.get()) CHECK(static_cast<uint64_t>(instance) == r.id % 2);
}

TEST_CASE("a partitioner returning an instance out of range fails the job") {
  sage::LocalEnvironment env("custom-bad");
  env.from_batch(records(10, 10))
      .name("src")
      .partition_custom(OutOfRange{})
      .sink([](const Rec&) {})
      .parallelism(2);
  REQUIRE_THROWS_AS(env.submit(true), sage::JobFailed);
  CHECK(env.status().error.find("partitioner returned 2 for 2 instances") != std::string::npos);
}

// Every record accounted for exactly once, for every combination of
// parallelism 1..4 of source, map, keyed map and sink, over forward (equal
// parallelism), round-robin (unequal), hash and explicit rebalance edges.
TEST_CASE("exactly once: parallelism matrix over forward, hash and round-robin edges") {
  constexpr uint64_t n = 100000;
  const auto input = records(n, 1000);
  int combinations = 0;
  for (int ps = 1; ps <= 4; ++ps)
    for (int pm = 1; pm <= 4; ++pm)
      for (int pk = 1; pk <= 4; ++pk)
        for (int pt = 1; pt <= 4; ++pt) {
          CAPTURE(ps);
          CAPTURE(pm);
          CAPTURE(pk);
          CAPTURE(pt);
          sage::Config cfg;
          cfg.set("batch.size", 256);  // more batches, more interleavings
          sage::LocalEnvironment env("matrix", cfg);
          auto out = env.from_batch(input)
                         .parallelism(ps)
                         .map([](const Rec& r) {
                           return Rec{r.id, r.key + 1};
                         })
                         .parallelism(pm)  // forward if pm == ps, else round-robin
                         .key_by([](const Rec& r) { return r.key; })
                         .map([](const Rec& r) {
                           return Rec{r.id, r.key * 2};
                         })
                         .parallelism(pk)  // hash
                         .rebalance()
                         .filter([](const Rec&) { return true; })
                         .parallelism(pt)  // explicit round-robin
                         .collect();
          env.submit(true);
          auto v = out.get();
          REQUIRE(v.size() == n);
          std::vector<uint64_t> ids(n, 0);
          bool values_ok = true;
          for (const auto& r : v) {
            ids[r.id]++;
            values_ok = values_ok && r.key == ((r.id * 7919) % 1000 + 1) * 2;
          }
          CHECK(values_ok);
          CHECK(std::all_of(ids.begin(), ids.end(), [](uint64_t c) { return c == 1; }));
          ++combinations;
        }
  CHECK(combinations == 256);
}

TEST_CASE("order is kept along a chain of parallelism 1, chained or not") {
  for (bool chaining : {true, false}) {
    CAPTURE(chaining);
    sage::Config cfg;
    cfg.set("chaining", chaining).set("batch.size", 100);
    sage::LocalEnvironment env("order", cfg);
    auto out = env.from_batch(records(50000, 10))
                   .map([](const Rec& r) { return r.id; })
                   .rebalance()  // a real channel even with chaining on
                   .map([](const uint64_t& x) { return x; })
                   .filter([](const uint64_t&) { return true; })
                   .collect();
    env.submit(true);
    auto v = out.get();
    REQUIRE(v.size() == 50000);
    CHECK(std::is_sorted(v.begin(), v.end()));
  }
}
