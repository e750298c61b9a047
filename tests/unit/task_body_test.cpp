// A task's user code driven by the deterministic harness (tests/support/task_harness.hpp):
// batches in, end-of-stream, source steps, and what the task ships, without actors.

#include <doctest/doctest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <sage/sage.hpp>

#include "task_harness.hpp"

using sage::test::TaskHarness;

namespace {

/// Counts per key with the key the runtime sets for each record.
class KeyTagger : public sage::MapFunction<int, std::string> {
 public:
  std::string execute(const int& x) override {
    return std::to_string(ctx().key<int>()) + ":" + std::to_string(x);
  }
};

}  // namespace

TEST_CASE("harness: a source chain ships its records in order, then ends") {
  sage::LocalEnvironment env("harness");
  auto sink = std::make_shared<std::vector<int>>();
  env.from_batch({1, 2, 3, 4, 5, 6})
      .map([](const int& x) { return x * 10; })
      .filter([](const int& x) { return x != 30; })
      .key_by([](const int& x) { return x % 2; })
      .sink([sink](const int& x) { sink->push_back(x); })
      .name("collector");
  sage::Config cfg;
  cfg.set("batch.size", 2);
  auto job = sage::test::compile_job(env, cfg);
  REQUIRE(job->plan.tasks.size() == 2);  // [source -> map -> filter] | [collector]
  TaskHarness source(job, sage::test::task_of(*job, "from_batch"));
  source.run_source();
  CHECK(source.finished());
  CHECK(source.shipped<int>(0) == std::vector<int>{10, 20, 40, 50, 60});
  CHECK(source.batches(0) == 3);  // cut at batch.size 2, the last one on close

  TaskHarness collector(job, sage::test::task_of(*job, "collector"));
  collector.push(0, source.shipped<int>(0));
  CHECK(*sink == std::vector<int>{10, 20, 40, 50, 60});
  collector.end(0);
  CHECK(collector.finished());
  CHECK_THROWS_AS(collector.push(0, std::vector<int>{1}), std::logic_error);
}

TEST_CASE("harness: a keyed operator sees each record's key, and encoded batches decode alike") {
  sage::LocalEnvironment env("harness-keys");
  env.from_batch({1, 2, 3})
      .key_by([](const int& x) { return x % 2; })
      .map<KeyTagger>()
      .name("tag")
      .sink([](const std::string&) {});
  sage::Config cfg;
  cfg.set("chaining", false);
  auto task = TaskHarness::of(env, "tag", cfg);
  task->push(0, std::vector<int>{1, 2});
  task->push_encoded(0, std::vector<int>{3, 4});
  task->end(0);
  CHECK(task->shipped<std::string>(0) == std::vector<std::string>{"1:1", "0:2", "1:3", "0:4"});
}

TEST_CASE("harness: a user function that throws fails with its operator's name") {
  sage::LocalEnvironment env("harness-fail");
  env.from_batch({1, 2, 3})
      .key_by([](const int& x) { return x; })
      .map([](const int& x) {
        if (x == 2) throw std::runtime_error("two is not allowed");
        return x;
      })
      .name("picky")
      .sink([](const int&) {});
  auto task = TaskHarness::of(env, "picky");
  try {
    task->push(0, std::vector<int>{1, 2, 3});
    FAIL("no failure");
  } catch (const sage::detail::OperatorFailure& e) {
    CHECK(e.operator_name == "picky");
    CHECK(e.instance == 0);
    CHECK(e.message == "two is not allowed");
  }
}

TEST_CASE("harness: several input slots end only when all have ended") {
  sage::LocalEnvironment env("harness-slots");
  auto seen = std::make_shared<std::vector<int>>();
  env.from_batch({1, 2, 3, 4})
      .parallelism(2)
      .key_by([](const int& x) { return x; })
      .sink([seen](const int& x) { seen->push_back(x); })
      .name("sink");
  auto task = TaskHarness::of(env, "sink");
  REQUIRE(task->body().input_count() == 2);  // one slot per upstream instance
  task->push(1, std::vector<int>{2});
  task->end(1);
  CHECK_FALSE(task->finished());
  task->push(0, std::vector<int>{1});
  task->end(0);
  CHECK(task->finished());
  CHECK(*seen == std::vector<int>{2, 1});
  CHECK_THROWS_AS(task->end(0), std::logic_error);
}
