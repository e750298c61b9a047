// Channel writers: how records are partitioned and batched, with a fake transport.

#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include <sage/detail/key_selector.hpp>
#include <sage/detail/typed_node.hpp>

namespace {

using namespace sage::detail;

/// Records what a writer ships: slot and batch contents.
struct FakeTransport : BatchTransport {
  std::vector<std::pair<uint32_t, std::vector<int>>> shipped;
  void send(uint32_t slot, BatchPtr batch) override {
    shipped.emplace_back(slot, static_cast<Batch<int>&>(*batch).records);
  }
  void send_marker(uint32_t, Marker) override {}
};

WriterSetup setup(FakeTransport& t, size_t channels, size_t batch, int instance = 0) {
  WriterSetup s;
  s.transport = &t;
  for (size_t i = 0; i < channels; ++i) s.channels.push_back(static_cast<uint32_t>(10 + i));
  s.batch_size = batch;
  s.instance = instance;
  return s;
}

}  // namespace

TEST_CASE("writer: full batches leave at once, partial ones on flush") {
  FakeTransport t;
  sage::RuntimeContext ctx;
  EdgeRouting r;
  r.kind = Routing::forward;
  ChannelWriter<int> w(r, setup(t, 1, 3), ctx);
  for (int i = 0; i < 7; ++i) w.push(int(i));
  REQUIRE(t.shipped.size() == 2);
  CHECK(t.shipped[0] == std::make_pair(10u, std::vector<int>{0, 1, 2}));
  CHECK(t.shipped[1] == std::make_pair(10u, std::vector<int>{3, 4, 5}));
  CHECK(w.has_partial());
  w.flush();
  CHECK_FALSE(w.has_partial());
  CHECK(t.shipped[2] == std::make_pair(10u, std::vector<int>{6}));
}

TEST_CASE("writer: hash routing sends one key to one channel, stably") {
  FakeTransport t;
  sage::RuntimeContext ctx;
  auto selector = std::make_shared<TypedKeySelector<int, int, int (*)(const int&)>>(
      +[](const int& x) { return x % 10; });
  EdgeRouting r;
  r.kind = Routing::hash;
  r.key_selector = std::static_pointer_cast<const KeySelector<int>>(selector);
  ChannelWriter<int> w(r, setup(t, 4, 1000), ctx);
  for (int i = 0; i < 1000; ++i) w.push(int(i));
  w.flush();
  std::map<int, std::set<uint32_t>> slots_of_key;
  for (const auto& [slot, batch] : t.shipped)
    for (int x : batch) slots_of_key[x % 10].insert(slot);
  CHECK(slots_of_key.size() == 10);
  for (const auto& [k, s] : slots_of_key) CHECK(s.size() == 1);
  // the routing is a pure function of the key: the same in every process
  CHECK(selector->hash(3) % 4 == selector->hash(13) % 4);
  CHECK(mix_hash(KeyHash<int>{}(3)) == selector->hash(3));
}

TEST_CASE("writer: round-robin starts at the instance index and alternates") {
  FakeTransport t;
  sage::RuntimeContext ctx;
  EdgeRouting r;
  r.kind = Routing::round_robin;
  ChannelWriter<int> w(r, setup(t, 3, 100, /*instance=*/1), ctx);
  for (int i = 0; i < 6; ++i) w.push(int(i));
  w.flush();
  std::map<uint32_t, std::vector<int>> by_slot;
  for (const auto& [slot, batch] : t.shipped) by_slot[slot] = batch;
  CHECK(by_slot[11] == std::vector<int>{0, 3});
  CHECK(by_slot[12] == std::vector<int>{1, 4});
  CHECK(by_slot[10] == std::vector<int>{2, 5});
}

TEST_CASE("writer: broadcast copies every record to every channel") {
  FakeTransport t;
  sage::RuntimeContext ctx;
  EdgeRouting r;
  r.kind = Routing::broadcast;
  ChannelWriter<int> w(r, setup(t, 3, 100), ctx);
  for (int i = 0; i < 4; ++i) w.push(int(i));
  w.flush();
  REQUIRE(t.shipped.size() == 3);
  for (const auto& [slot, batch] : t.shipped) CHECK(batch == std::vector<int>{0, 1, 2, 3});
}

TEST_CASE("KeyHash: pairs and tuples combine their elements") {
  KeyHash<std::pair<std::string, int>> h;
  CHECK(h({"a", 1}) == h({"a", 1}));
  CHECK(h({"a", 1}) != h({"a", 2}));
  KeyHash<std::tuple<int, int, int>> t;
  CHECK(t({1, 2, 3}) != t({3, 2, 1}));
}

TEST_CASE("key groups: contiguous ranges cover every group once, and own what they route") {
  for (int max_p : {1, 7, 128, 32768}) {
    for (int p : {1, 2, 3, 5, 7}) {
      if (p > max_p) continue;
      CAPTURE(max_p);
      CAPTURE(p);
      int next = 0;
      for (int i = 0; i < p; ++i) {
        const auto range = key_groups_of(i, max_p, p);
        CHECK(range.first == next);  // contiguous, in instance order
        CHECK(range.size() >= max_p / p);
        CHECK(range.size() <= max_p / p + 1);  // balanced
        next = range.last + 1;
      }
      CHECK(next == max_p);  // every group owned, none twice
      for (int g = 0; g < max_p; g += std::max(1, max_p / 500)) {
        const int owner = owner_of_key_group(g, max_p, p);
        CHECK(key_groups_of(owner, max_p, p).contains(g));
      }
    }
  }
}

TEST_CASE("writer: hash routing sends a key to the owner of its key group") {
  FakeTransport t;
  sage::RuntimeContext ctx;
  auto selector = std::make_shared<TypedKeySelector<int, int, int (*)(const int&)>>(
      +[](const int& x) { return x; });
  EdgeRouting r;
  r.kind = Routing::hash;
  r.key_selector = std::static_pointer_cast<const KeySelector<int>>(selector);
  auto s = setup(t, 3, 1);
  s.max_parallelism = 16;
  ChannelWriter<int> w(r, s, ctx);
  for (int i = 0; i < 200; ++i) w.push(int(i));
  REQUIRE(t.shipped.size() == 200);
  for (const auto& [slot, records] : t.shipped) {
    const int group = key_group_of(selector->hash(records.front()), 16);
    CHECK(slot == 10u + static_cast<uint32_t>(owner_of_key_group(group, 16, 3)));
  }
}
