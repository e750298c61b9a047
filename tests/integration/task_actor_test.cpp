// The task actor's flow control, message by message, on CAF's deterministic
// scheduler: nothing runs until the test says so, so what a task sends after
// each message it gets is exact, with no timing involved. A probe actor plays
// the task's upstream, downstream and Dispatcher at once.

#include <doctest/doctest.h>

#include <memory>
#include <numeric>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <sage/actors/protocol.hpp>
#include <sage/sage.hpp>

#include "task_harness.hpp"

using namespace sage::actors;

namespace {

struct DeterministicConfig : caf::actor_system_config {
  DeterministicConfig() {
    set("scheduler.policy", caf::atom("testing"));
    register_message_types(*this);
  }
};

/// An actor system whose actors run only when the test runs them.
struct Deterministic {
  DeterministicConfig cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator& sched =
      dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  std::shared_ptr<std::vector<caf::message>> seen = std::make_shared<std::vector<caf::message>>();
  caf::actor probe;
  TaskHandle task;

  /// Spawns task `task_id` of `job`, with the probe as its Dispatcher, and
  /// wires its only input (from the probe's output slot 7) and its only output
  /// (to the probe's input slot 5).
  void spawn(std::shared_ptr<sage::detail::JobSpec> job, int task_id) {
    auto log = seen;
    TaskHandle* out = &task;
    probe = sys.spawn([log, job, task_id, out](caf::event_based_actor* self) {
      *out = spawn_task(self, job, task_id, caf::actor_cast<caf::actor>(self));
      self->set_default_handler(
          [log](caf::scheduled_actor*, caf::message_view& x) -> caf::result<caf::message> {
            log->push_back(x.move_content_to_message());
            return caf::message{};
          });
      return caf::behavior{[](caf::exit_msg&) {}};
    });
    sched.run();
    const auto me = caf::actor_cast<TaskHandle>(probe);
    const auto& plan = job->plan.tasks.at(task_id);
    TaskWiring w;
    w.outputs.assign(plan.output_slot_count, me);
    w.output_peer_slots.assign(plan.output_slot_count, 5);
    w.inputs.assign(plan.inputs.size(), me);
    w.input_peer_slots.assign(plan.inputs.size(), 7);
    caf::anon_send(task, wire_atom::value, w);
    caf::anon_send(task, start_atom::value);
    sched.run();
  }

  /// Messages of the shape `(Atom, Ts...)` the probe got since `from`.
  template <class Atom, class... Ts>
  std::vector<caf::message> got(size_t from = 0) const {
    std::vector<caf::message> out;
    for (size_t i = from; i < seen->size(); ++i)
      if ((*seen)[i].match_elements<Atom, Ts...>()) out.push_back((*seen)[i]);
    return out;
  }

  /// How many end-of-stream markers the probe got.
  size_t eos_count() const {
    size_t n = 0;
    for (const auto& m : got<marker_atom, uint32_t, sage::detail::Marker>())
      n += m.get_as<sage::detail::Marker>(2).kind == sage::detail::Marker::Kind::end_of_stream;
    return n;
  }

  /// The records of every batch the probe got, in order.
  std::vector<int> records() const {
    std::vector<int> out;
    for (const auto& m : got<batch_atom, uint32_t, BatchMessage>()) {
      const auto& batch = m.get_as<BatchMessage>(2).batch;
      for (int r : static_cast<const sage::detail::Batch<int>&>(*batch).records) out.push_back(r);
    }
    return out;
  }

  ~Deterministic() {
    if (task) caf::anon_send_exit(task, caf::exit_reason::user_shutdown);
    if (probe) caf::anon_send_exit(probe, caf::exit_reason::user_shutdown);
    sched.run();
  }
};

const sage::detail::Marker eos_marker{sage::detail::Marker::Kind::end_of_stream, 0};

BatchMessage batch_of(std::vector<int> records) {
  return BatchMessage{std::make_shared<sage::detail::Batch<int>>(std::move(records))};
}

}  // namespace

TEST_CASE("task actor: credit upstream at start, no batch without credit, eos after the last") {
  sage::LocalEnvironment env("flow");
  env.from_batch({0})
      .key_by([](const int& x) { return x; })
      .map([](const int& x) { return 2 * x; })
      .name("double")
      .key_by([](const int& x) { return x; })
      .sink([](const int&) {});
  sage::Config cfg;
  cfg.set("channel.credits", 6);
  auto job = sage::test::compile_job(env, cfg);
  Deterministic d;
  d.spawn(job, sage::test::task_of(*job, "double"));
  // Started: the whole window of credit goes to the upstream, on its slot.
  auto credit = d.got<credit_atom, uint32_t, int32_t>();
  REQUIRE(credit.size() == 1);
  CHECK(credit[0].get_as<uint32_t>(1) == 7);
  CHECK(credit[0].get_as<int32_t>(2) == 6);

  // A batch in, but no credit downstream yet: it waits in the task.
  caf::anon_send(d.task, batch_atom::value, uint32_t{0}, batch_of({1, 2, 3}));
  d.sched.run();
  CHECK(d.got<batch_atom, uint32_t, BatchMessage>().empty());

  // One credit: that batch leaves, on the downstream's slot.
  caf::anon_send(d.task, credit_atom::value, uint32_t{0}, int32_t{1});
  d.sched.run();
  auto batches = d.got<batch_atom, uint32_t, BatchMessage>();
  REQUIRE(batches.size() == 1);
  CHECK(batches[0].get_as<uint32_t>(1) == 5);
  CHECK(d.records() == std::vector<int>{2, 4, 6});

  // Three more batches: credit comes back upstream in chunks of half the window.
  caf::anon_send(d.task, credit_atom::value, uint32_t{0}, int32_t{10});
  for (int i = 0; i < 3; ++i)
    caf::anon_send(d.task, batch_atom::value, uint32_t{0}, batch_of({10 + i}));
  d.sched.run();
  d.sched.trigger_timeouts();  // buffer.timeout: partial batches leave
  d.sched.run();
  credit = d.got<credit_atom, uint32_t, int32_t>();
  REQUIRE(credit.size() == 2);
  CHECK(credit[1].get_as<int32_t>(2) == 3);  // 4 batches processed, chunk 3
  CHECK(d.records() == std::vector<int>{2, 4, 6, 20, 22, 24});

  // End of stream in: end of stream out, after every batch, then the task is done.
  CHECK(d.eos_count() == 0);
  caf::anon_send(d.task, marker_atom::value, uint32_t{0}, eos_marker);
  d.sched.run();
  auto eos = d.got<marker_atom, uint32_t, sage::detail::Marker>();
  REQUIRE(eos.size() == 2);  // the maximal watermark, then end-of-stream
  CHECK(eos[0].get_as<sage::detail::Marker>(2).value == sage::detail::max_watermark);
  CHECK(eos[1].get_as<uint32_t>(1) == 5);
  CHECK(d.eos_count() == 1);
  CHECK(d.got<task_done_atom, int>().size() == 1);
}

TEST_CASE("task actor: a source emits only with credit, and pauses") {
  sage::LocalEnvironment env("source-flow");
  std::vector<int> items(100);
  std::iota(items.begin(), items.end(), 0);
  env.from_batch(items).key_by([](const int& x) { return x; }).sink([](const int&) {});
  sage::Config cfg;
  cfg.set("batch.size", 10);
  auto job = sage::test::compile_job(env, cfg);
  Deterministic d;
  d.spawn(job, sage::test::task_of(*job, "from_batch"));
  CHECK(d.got<batch_atom, uint32_t, BatchMessage>().empty());  // no credit, nothing sent

  // Paused with credit: nothing more is produced.
  caf::anon_send(d.task, job_pause_atom::value);
  caf::anon_send(d.task, credit_atom::value, uint32_t{0}, int32_t{3});
  d.sched.run();
  const auto while_paused = d.records().size();
  CHECK(while_paused <= 10);  // at most the one batch produced before the credit ran out

  caf::anon_send(d.task, job_resume_atom::value);
  d.sched.run();
  CHECK(d.got<batch_atom, uint32_t, BatchMessage>().size() == 3);  // as far as credit goes
  CHECK(d.eos_count() == 0);

  caf::anon_send(d.task, credit_atom::value, uint32_t{0}, int32_t{100});
  d.sched.run();
  d.sched.trigger_timeouts();
  d.sched.run();
  CHECK(d.records() == items);
  CHECK(d.eos_count() == 1);
  CHECK(d.got<task_done_atom, int>().size() == 1);
}
