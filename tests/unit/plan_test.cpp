// The plan compiler: parallelism and routing resolution, chaining, channels.

#include <doctest/doctest.h>

#include <sage/detail/plan.hpp>
#include <sage/sage.hpp>

namespace {

/// Builds a pipeline on an environment and compiles its graph without running it.
struct PlanFixture {
  sage::LocalEnvironment env{"plan"};
  sage::detail::PhysicalPlan compile() {
    return sage::detail::compile_plan(sage::detail::EnvAccess::graph(env), env.config());
  }
};

int identity(const int& x) { return x; }

}  // namespace

TEST_CASE("plan: forward edges of equal parallelism are chained") {
  PlanFixture f;
  f.env.from_batch({1, 2}).map(identity).filter([](const int&) { return true; }).print();
  auto plan = f.compile();
  REQUIRE(plan.chains.size() == 1);
  CHECK(plan.chains[0].nodes.size() == 4);
  CHECK(plan.chains[0].name == "from_batch -> map -> filter -> print");
  CHECK(plan.tasks.size() == 1);
  CHECK(plan.channels.empty());
}

TEST_CASE("plan: chaining off gives one task per operator and forward channels") {
  PlanFixture f;
  f.env.config().set("chaining", false);
  f.env.from_batch({1, 2}).map(identity).parallelism(1).print();
  auto plan = f.compile();
  CHECK(plan.chains.size() == 3);
  CHECK(plan.channels.size() == 2);
  for (auto r : plan.routing) CHECK(r == sage::detail::Routing::forward);
}

TEST_CASE("plan: default routing is forward for equal parallelism, round-robin otherwise") {
  PlanFixture f;
  f.env.config().set("parallelism", 2);
  auto s = f.env.from_batch({1, 2}).parallelism(2).map(identity);  // 2 -> 2: forward, chained
  s.map(identity).parallelism(3).print();  // 2 -> 3 round-robin; 3 -> 2 round-robin
  auto plan = f.compile();
  using sage::detail::Routing;
  CHECK(plan.routing ==
        std::vector<Routing>{Routing::forward, Routing::round_robin, Routing::round_robin});
  CHECK(plan.chained == std::vector<bool>{true, false, false});
  CHECK(plan.tasks.size() == 2 + 3 + 2);
  CHECK(plan.channels.size() == 2 * 3 + 3 * 2);  // all to all
  // every task's input slots are numbered densely, one per channel into it
  size_t inputs = 0;
  for (const auto& t : plan.tasks) inputs += t.inputs.size();
  CHECK(inputs == plan.channels.size());
}

TEST_CASE("plan: keyed and repartitioned edges are never chained") {
  PlanFixture f;
  auto s = f.env.from_batch({1, 2});
  s.key_by([](const int& x) { return x; }).map(identity).print();
  s.rebalance().map(identity).print();
  auto plan = f.compile();
  using sage::detail::Routing;
  // edges: 0 source -> keyed map, 1 map -> print, 2 source -> rebalanced map, 3 map -> print
  CHECK(plan.routing[0] == Routing::hash);
  CHECK_FALSE(plan.chained[0]);
  CHECK(plan.routing[2] == Routing::round_robin);
  CHECK_FALSE(plan.chained[2]);
  CHECK(plan.chained[1]);
  CHECK(plan.chained[3]);
  CHECK(plan.chains.size() == 3);  // source; map -> print; map -> print
}

TEST_CASE("plan: a source feeding several operators chains into each of them") {
  PlanFixture f;
  auto s = f.env.from_batch({1, 2});
  s.map(identity).print();
  s.filter([](const int&) { return true; }).print();
  auto plan = f.compile();
  REQUIRE(plan.chains.size() == 1);
  CHECK(plan.chains[0].nodes.size() == 5);
}

TEST_CASE("plan: invalid graphs are GraphErrors") {
  PlanFixture f;
  CHECK_THROWS_WITH_AS(f.compile(), doctest::Contains("no operators"), sage::GraphError);
  f.env.from_batch({1}).print();
  f.env.config().set("parallelism", -1);
  CHECK_THROWS_WITH_AS(f.compile(), doctest::Contains("at least 1"), sage::GraphError);
}

TEST_CASE("plan: a keyed operator has at most state.max_parallelism instances") {
  PlanFixture f;
  f.env.from_batch({1, 2}).key_by(identity).map(identity).parallelism(4).print();
  f.env.config().set("state.max_parallelism", 4);
  CHECK(f.compile().max_parallelism == 4);
  f.env.config().set("state.max_parallelism", 3);
  CHECK_THROWS_WITH_AS(f.compile(), doctest::Contains("more than its key groups"),
                       sage::GraphError);
  f.env.config().set("state.max_parallelism", 0);
  CHECK_THROWS_WITH_AS(f.compile(), doctest::Contains("state.max_parallelism"), sage::GraphError);
  f.env.config().set("state.max_parallelism", 40000);
  CHECK_THROWS_WITH_AS(f.compile(), doctest::Contains("between 1 and 32768"), sage::GraphError);
}

TEST_CASE("plan: a feedback loop is found, its future heads a chain, its feedback never waits") {
  PlanFixture f;
  f.env.config().set("parallelism", 2);
  auto loop = f.env.from_future<int>("loop");
  auto body = f.env.from_batch({1}).union_with(loop).map(identity);
  body.filter([](const int& x) { return x < 3; }).fill_future(loop);
  body.print();  // chained to the loop's body, but not on the cycle
  auto plan = f.compile();
  REQUIRE(plan.loops.size() == 1);
  // Tasks: the source (1), the future (2), union -> map -> filter -> print (2).
  CHECK(plan.tasks.size() == 5);
  CHECK(plan.loops[0].tasks.size() == 4);
  CHECK(plan.loops[0].heads.size() == 2);
  CHECK(plan.loops[0].futures == "'loop'");
  for (int t : plan.loops[0].heads) {
    const auto& chain = plan.chains[plan.tasks[t].chain];
    CHECK(chain.name == "loop");
  }
  int feedback = 0, inside = 0, outside = 0;
  for (const auto& ch : plan.channels) {
    feedback += ch.feedback ? 1 : 0;
    (ch.loop == 0 ? inside : outside) += 1;
    const auto& edge = sage::detail::EnvAccess::graph(f.env).edges[ch.edge];
    CHECK(ch.feedback == edge.feedback);
  }
  CHECK(feedback == 2);  // filter -> loop, forward at equal parallelism
  CHECK(inside == 4);    // and loop -> union, forward
  CHECK(outside == 2);   // the source to the unions
  for (const auto& t : plan.tasks)
    CHECK((t.loop == 0) == (plan.chains[t.chain].name != "from_batch"));
}

TEST_CASE("plan: a future filled by a stream that does not come from it makes no loop") {
  PlanFixture f;
  auto later = f.env.from_future<int>("later");
  later.print();
  f.env.from_batch({1}).map(identity).fill_future(later);
  auto plan = f.compile();
  CHECK(plan.loops.empty());
  for (const auto& ch : plan.channels) CHECK_FALSE(ch.feedback);
  for (const auto& t : plan.tasks) CHECK(t.loop == -1);
}

TEST_CASE("plan: a future never filled is a GraphError naming it") {
  PlanFixture f;
  auto f1 = f.env.from_future<int>("requests");
  f.env.from_batch({1}).union_with(f1).print();
  CHECK_THROWS_WITH_AS(f.compile(), doctest::Contains("the future 'requests' is never filled"),
                       sage::GraphError);
}
