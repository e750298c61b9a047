// Placement of a job's tasks on a cluster's nodes, the job plan the head
// receives, and its fingerprint (actors/job_plan.hpp): plain functions.

#include <doctest/doctest.h>

#include <sage/actors/job_plan.hpp>
#include <sage/actors/placement.hpp>
#include <sage/detail/job_spec.hpp>
#include <sage/sage.hpp>

namespace {

using sage::actors::JobPlan;
using sage::actors::PlacementNode;
using sage::actors::PlannedTask;

PlacementNode node(sage::actors::NodeRole role, uint16_t port, double cpus, int gpus = 0,
                   std::map<std::string, std::string> labels = {}) {
  PlacementNode n;
  n.info.role = role;
  n.info.host = "127.0.0.1";
  n.info.port = port;
  n.info.cpus = cpus;
  n.info.memory_mb = 1024;
  n.info.gpus = gpus;
  n.info.labels = std::move(labels);
  return n;
}

PlacementNode submitter() {
  PlacementNode n;
  n.info.role = sage::actors::NodeRole::client;
  n.is_submitter = true;
  return n;
}

JobPlan plan_of(std::vector<PlannedTask> tasks) {
  JobPlan p;
  p.id = "job";
  p.placement = sage::detail::PlacementMode::cluster;
  p.tasks = std::move(tasks);
  return p;
}

PlannedTask task(const char* chain, int instance = 0) {
  PlannedTask t;
  t.chain = chain;
  t.instance = instance;
  return t;
}

/// The plan `env`'s pipeline compiles to, as a cluster's submitter sends it.
JobPlan describe(sage::Environment& env) {
  sage::detail::JobSpec spec;
  spec.id = sage::JobId("0123");
  spec.name = env.name();
  spec.graph = sage::detail::EnvAccess::graph(env).snapshot();
  spec.plan = sage::detail::compile_plan(spec.graph, env.config(), {.collect_apart = true});
  spec.config = std::make_shared<const sage::Config>(env.config());
  auto plan = sage::actors::make_job_plan(spec);
  plan.placement =
      sage::detail::PlacementMode::cluster;  // as a RemoteEnvironment's submitter sets it
  return plan;
}

}  // namespace

TEST_CASE("placement: tasks go to the least loaded nodes") {
  std::vector<PlannedTask> tasks;
  for (int i = 0; i < 4; ++i) tasks.push_back(task("map", i));
  auto nodes = std::vector<PlacementNode>{node(sage::actors::NodeRole::head, 1, 2),
                                          node(sage::actors::NodeRole::worker, 2, 2), submitter()};
  auto placed = sage::actors::place_tasks(plan_of(tasks), nodes);
  REQUIRE(placed.error.empty());
  CHECK(std::count(placed.node_of_task.begin(), placed.node_of_task.end(), 0) == 2);
  CHECK(std::count(placed.node_of_task.begin(), placed.node_of_task.end(), 1) == 2);
  // Tasks of other jobs count: a busy head gets fewer.
  nodes[0].running_tasks = 4;
  placed = sage::actors::place_tasks(plan_of(tasks), nodes);
  CHECK(std::count(placed.node_of_task.begin(), placed.node_of_task.end(), 1) == 4);
  // More cpus, more tasks.
  nodes[0].running_tasks = 0;
  nodes[1].info.cpus = 6;
  placed = sage::actors::place_tasks(plan_of(tasks), nodes);
  CHECK(std::count(placed.node_of_task.begin(), placed.node_of_task.end(), 1) == 3);
}

TEST_CASE(
    "placement: gpus, cpus, memory and labels are honoured, and a refusal says what is missing") {
  auto gpu = task("train");
  gpu.gpus = 2;
  auto nodes = std::vector<PlacementNode>{
      node(sage::actors::NodeRole::head, 1, 2), node(sage::actors::NodeRole::worker, 2, 2, 2),
      node(sage::actors::NodeRole::worker, 3, 2, 1, {{"zone", "a"}}), submitter()};
  auto gpu1 = gpu;
  gpu1.instance = 1;
  auto placed = sage::actors::place_tasks(plan_of({gpu, gpu1}), nodes);
  REQUIRE_FALSE(placed.error.empty());  // two tasks of 2 gpus: one node has 2
  CHECK(placed.error.find("cannot place \"train\" instance 1 (it needs 0 cpus, 0 MB, 2 gpus)") !=
        std::string::npos);
  CHECK(placed.error.find("worker 127.0.0.1:2: 0 gpus free") != std::string::npos);
  CHECK(placed.error.find("worker 127.0.0.1:3: 1 gpus free") != std::string::npos);
  placed = sage::actors::place_tasks(plan_of({gpu}), nodes);
  REQUIRE(placed.error.empty());
  CHECK(placed.node_of_task[0] == 1);

  auto zoned = task("ingest");
  zoned.labels["zone"] = "a";
  placed = sage::actors::place_tasks(plan_of({zoned, zoned, zoned}), nodes);
  REQUIRE(placed.error.empty());
  for (auto n : placed.node_of_task) CHECK(n == 2);
  zoned.labels["zone"] = "b";
  placed = sage::actors::place_tasks(plan_of({zoned}), nodes);
  CHECK(placed.error.find("worker 127.0.0.1:3: label zone=a") != std::string::npos);
  CHECK(placed.error.find("head 127.0.0.1:1: no label zone") != std::string::npos);

  auto heavy = task("heavy");
  heavy.cpus = 2;
  heavy.memory_mb = 1000;
  nodes[0].used_cpus = 1;
  auto heavy1 = heavy, heavy2 = heavy;
  heavy1.instance = 1;
  heavy2.instance = 2;
  placed = sage::actors::place_tasks(plan_of({heavy, heavy1, heavy2}), nodes);
  CHECK(placed.error.find("cannot place \"heavy\" instance 2") != std::string::npos);
  CHECK(placed.error.find("head 127.0.0.1:1: 1 cpus free") != std::string::npos);
  CHECK(placed.error.find("0 cpus free, 24 MB free") != std::string::npos);

  nodes[1].alive = false;
  nodes[2].alive = false;
  placed = sage::actors::place_tasks(plan_of({gpu}), nodes);
  CHECK(placed.error.find("worker 127.0.0.1:2") == std::string::npos);  // lost: not a candidate
}

TEST_CASE("placement: collect() sinks run at the submitter, and only they") {
  sage::RemoteEnvironment env("collecting");
  env.from_batch({1, 2, 3}).map([](const int& x) { return x; }).collect();
  auto plan = describe(env);
  // The collect sink is not fused with the map: the map runs on the cluster.
  REQUIRE(plan.tasks.size() == 2);
  CHECK(plan.tasks[0].chain == "from_batch -> map");
  CHECK_FALSE(plan.tasks[0].at_submitter);
  CHECK(plan.tasks[1].chain == "collect");
  CHECK(plan.tasks[1].at_submitter);
  auto placed =
      sage::actors::place_tasks(plan, {node(sage::actors::NodeRole::head, 1, 2), submitter()});
  REQUIRE(placed.error.empty());
  CHECK(placed.node_of_task == std::vector<size_t>{0, 1});
  placed = sage::actors::place_tasks(plan, {node(sage::actors::NodeRole::head, 1, 2)});
  CHECK(placed.error.find("must run in the submitting program") != std::string::npos);
}

TEST_CASE("placement: records without a codec may not cross nodes") {
  struct Opaque {
    int v;
  };
  sage::RemoteEnvironment env("opaque");
  env.from_batch({1, 2})
      .map([](const int& x) { return Opaque{x}; })
      .name("wrap")
      .rebalance()
      .sink([](const Opaque&) {});
  auto plan = describe(env);
  plan.placement = sage::detail::PlacementMode::spread;
  auto placed = sage::actors::place_tasks(
      plan, {node(sage::actors::NodeRole::head, 1, 2), node(sage::actors::NodeRole::worker, 2, 2)});
  CHECK(placed.error.find("operator \"wrap\"") != std::string::npos);
  CHECK(placed.error.find("would cross from head 127.0.0.1:1 to worker 127.0.0.1:2") !=
        std::string::npos);
  // On one node they need none.
  placed = sage::actors::place_tasks(plan, {node(sage::actors::NodeRole::head, 1, 2)});
  CHECK(placed.error.empty());
}

TEST_CASE("job plan: the fingerprint tells one graph from another") {
  auto build = [](sage::Environment& env, int maps, int parallelism) {
    auto s = env.from_batch({1, 2, 3});
    for (int i = 0; i < maps; ++i)
      s = s.map([](const int& x) { return x; }).parallelism(parallelism);
    s.sink([](const int&) {});
    return describe(env);
  };
  sage::RemoteEnvironment a("job"), b("job"), c("job"), d("job");
  const auto pa = build(a, 2, 2), pb = build(b, 2, 2), pc = build(c, 3, 2), pd = build(d, 2, 3);
  CHECK(pa.fingerprint == pb.fingerprint);
  CHECK(pa.fingerprint != pc.fingerprint);
  CHECK(pa.fingerprint != pd.fingerprint);
  CHECK(pa.fingerprint == sage::actors::fingerprint(pa));
}

TEST_CASE("job plan: a plan from a peer is checked before anything uses it") {
  sage::RemoteEnvironment env("checked");
  env.from_batch({1, 2}).rebalance().map([](const int& x) { return x; }).collect();
  auto plan = describe(env);
  CHECK(sage::actors::validate(plan).empty());
  auto bad = plan;
  bad.channels.front().to_task = 99;
  CHECK(sage::actors::validate(bad).find("do not exist") != std::string::npos);
  bad = plan;
  bad.channels.front().from_slot = 7;
  CHECK_FALSE(sage::actors::validate(bad).empty());
  bad = plan;
  bad.tasks.front().operators.push_back(-1);
  CHECK(sage::actors::validate(bad).find("unknown operator") != std::string::npos);
  bad = plan;
  bad.id = "../../etc";
  CHECK_FALSE(sage::actors::validate(bad).empty());
  bad = plan;
  bad.tasks.clear();
  CHECK_FALSE(sage::actors::validate(bad).empty());
  bad = plan;
  bad.placement = static_cast<sage::detail::PlacementMode>(7);  // as a peer could send it
  CHECK(sage::actors::validate(bad) == "an unknown placement mode");
}

TEST_CASE("placement: every mode keeps collect() at the submitter, or refuses") {
  sage::RemoteEnvironment env("modes");
  env.from_batch({1, 2}).map([](const int& x) { return x; }).collect();
  auto plan = describe(env);
  using sage::detail::PlacementMode;
  for (auto mode : {PlacementMode::local, PlacementMode::spread, PlacementMode::cluster}) {
    CAPTURE(sage::detail::to_string(mode));
    plan.placement = mode;
    auto placed =
        sage::actors::place_tasks(plan, {node(sage::actors::NodeRole::head, 1, 2), submitter()});
    REQUIRE(placed.error.empty());
    CHECK(placed.node_of_task.back() == 1);
  }
  plan.placement = sage::detail::PlacementMode::spread;
  auto placed = sage::actors::place_tasks(plan, {node(sage::actors::NodeRole::head, 1, 2)});
  CHECK(placed.error.find("must run in the submitting program") != std::string::npos);
  CHECK_FALSE(sage::actors::place_tasks(plan, {}).error.empty());
}

TEST_CASE("addresses: HOST:PORT is read whole, or refused") {
  auto a = sage::actors::parse_host_port("10.0.0.2:4711");
  REQUIRE(a);
  CHECK(a->host == "10.0.0.2");
  CHECK(a->port == 4711);
  CHECK(sage::actors::parse_host_port("head", 19001)->port == 19001);
  for (const char* bad : {"head", ":4711", "h:", "h:0", "h:65536", "h:12ab", "h:-1", ""})
    CHECK_FALSE(sage::actors::parse_host_port(bad));
}
