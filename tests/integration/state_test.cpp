// Managed state end to end on a LocalEnvironment (API.md section 5): keyed
// state scoped to the current key across instances, operator state elsewhere,
// and the errors of state used where it cannot be.

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <sage/sage.hpp>

namespace {

using Seen = std::tuple<int, int64_t, size_t, int>;  // key, count, list size, map entries

/// Per key: a running count (value state), the records seen (list state), and
/// how often each residue mod 5 came (map state).
class PerKey : public sage::MapFunction<std::pair<int, int>, Seen> {
 public:
  Seen execute(const std::pair<int, int>& r) override {
    auto& count = ctx().value_state<int64_t>("count");
    const int64_t n = count.value().value_or(0) + 1;
    count.update(n);
    auto& seen = ctx().list_state<int>("seen");
    seen.add(r.second);
    auto& residues = ctx().map_state<int, int>("residues");
    residues.put(r.second % 5, residues.get(r.second % 5).value_or(0) + 1);
    return {ctx().key<int>(), n, seen.get().size(), static_cast<int>(residues.entries().size())};
  }
};

/// Operator state: a count of the records this instance saw.
class Counter : public sage::MapFunction<int, std::pair<int, int64_t>> {
 public:
  std::pair<int, int64_t> execute(const int& x) override {
    auto& seen = ctx().value_state<int64_t>("seen");
    seen.update(seen.value().value_or(0) + 1);
    return {x, *seen.value()};
  }
};

}  // namespace

TEST_CASE("keyed state: every key's state is its own, over 1000 keys and 3 instances") {
  sage::LocalEnvironment env("keyed-state");
  std::vector<std::pair<int, int>> records;
  for (int round = 0; round < 4; ++round)
    for (int k = 0; k < 1000; ++k) records.emplace_back(k, round * 1000 + k);
  auto out = env.from_batch(records)
                 .key_by([](const std::pair<int, int>& r) { return r.first; })
                 .map<PerKey>()
                 .parallelism(3)
                 .collect();
  env.submit(true);
  REQUIRE(env.status().state == sage::JobState::finished);
  const auto seen = out.get();
  REQUIRE(seen.size() == records.size());
  std::map<int, std::vector<Seen>> by_key;
  for (const auto& s : seen) by_key[std::get<0>(s)].push_back(s);
  REQUIRE(by_key.size() == 1000);
  for (auto& [key, list] : by_key) {
    CAPTURE(key);
    std::sort(list.begin(), list.end());
    REQUIRE(list.size() == 4);
    for (size_t i = 0; i < 4; ++i) {
      CHECK(std::get<1>(list[i]) == static_cast<int64_t>(i + 1));  // counted 1, 2, 3, 4
      CHECK(std::get<2>(list[i]) == i + 1);                        // the list grew with it
    }
    // Residues of k, 1000 + k, 2000 + k, 3000 + k mod 5: all the same (1000 % 5 == 0).
    CHECK(std::get<3>(list.back()) == 1);
  }
}

TEST_CASE("operator state: one per instance where the stream is not keyed") {
  sage::LocalEnvironment env("operator-state");
  std::vector<int> items(90);
  for (int i = 0; i < 90; ++i) items[i] = i;
  auto out = env.from_batch(items).rebalance().map<Counter>().parallelism(3).collect();
  env.submit(true);
  REQUIRE(env.status().state == sage::JobState::finished);
  int64_t highest_total = 0;
  for (const auto& [x, n] : out.get()) highest_total = std::max(highest_total, n);
  CHECK(highest_total == 30);  // round robin: 30 records per instance, each counting its own
}

TEST_CASE("keyed state outside a record is an error naming the operator") {
  class Opens : public sage::MapFunction<int, int> {
   public:
    void open(sage::RuntimeContext& c) override { c.value_state<int>("x").update(1); }
    int execute(const int& x) override { return x; }
  };
  sage::LocalEnvironment env("state-in-open");
  env.from_batch({1, 2}).key_by([](const int& x) { return x; }).map<Opens>().name("opens").print();
  CHECK_THROWS_WITH_AS(env.submit(true), doctest::Contains("only while a record is processed"),
                       sage::JobFailed);
}

TEST_CASE("reduce: a rolling value per key, emitted after every record") {
  sage::LocalEnvironment env("rolling-reduce");
  std::vector<std::pair<int, int64_t>> items;
  for (int64_t i = 1; i <= 300; ++i) items.emplace_back(static_cast<int>(i % 3), i);
  auto out =
      env.from_batch(items)
          .key_by([](const std::pair<int, int64_t>& r) { return r.first; })
          .reduce([](const std::pair<int, int64_t>& so_far, const std::pair<int, int64_t>& r) {
            return std::make_pair(so_far.first, so_far.second + r.second);
          })
          .parallelism(2)
          .collect();
  env.submit(true);
  REQUIRE(env.status().state == sage::JobState::finished);
  std::map<int, std::vector<int64_t>> by_key;
  for (const auto& [key, sum] : out.get()) by_key[key].push_back(sum);
  REQUIRE(by_key.size() == 3);
  for (auto& [key, sums] : by_key) {
    CAPTURE(key);
    REQUIRE(sums.size() == 100);
    // In order within a key: the prefix sums of that key's values.
    int64_t expected = 0;
    for (size_t j = 0; j < sums.size(); ++j) {
      expected += static_cast<int64_t>(3 * j) + (key == 0 ? 3 : key);
      CHECK(sums[j] == expected);
    }
  }
}
