// The protocols that protocol.hpp lists message by message (the JobManager's and
// the Node's; the Task's and the Listener's are typed, and checked by the
// compiler): every listed message is sent, as a request, with arguments of the
// listed types, and must reach a handler. A message no handler takes is answered
// with `unexpected_message` by `drop_unexpected`; any other answer, an error
// included, means a handler took it. So the list and the handlers cannot drift.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <caf/all.hpp>

#include <sage/actors/protocol.hpp>

using namespace sage::actors;

namespace {

struct ProtocolConfig : caf::actor_system_config {
  ProtocolConfig() { register_message_types(*this); }
};

/// Sends `xs...` to `whom` as a request; true if a handler took it.
template <class... Ts>
bool handled(caf::scoped_actor& self, const caf::actor& whom, Ts&&... xs) {
  bool taken = true;
  self->request(whom, std::chrono::seconds(10), std::forward<Ts>(xs)...)
      .receive([](caf::message&) {},
               [&](caf::error& err) { taken = err != caf::sec::unexpected_message; });
  return taken;
}

}  // namespace

TEST_CASE("protocol: every message listed for the JobManager reaches a handler") {
  ProtocolConfig cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto node = spawn_node(sys);
  NodeInfo info;
  info.role = NodeRole::local;
  auto jm = spawn_job_manager(sys, node, info);
  const std::string id = "ab12";
  // The control check: a message nobody lists is refused as unexpected.
  CHECK_FALSE(handled(self, jm, std::string("not a message")));
  CHECK(handled(self, jm, submit_atom::value, JobPlan{}, node, ListenerHandle{}));
  CHECK(handled(self, jm, stop_atom::value, id));
  CHECK(handled(self, jm, cancel_atom::value, id));
  CHECK(handled(self, jm, job_pause_atom::value, id));
  CHECK(handled(self, jm, job_resume_atom::value, id));
  CHECK(handled(self, jm, add_node_atom::value, node));
  CHECK(handled(self, jm, register_node_atom::value, NodeInfo{}, caf::actor{}));
  CHECK(handled(self, jm, cluster_status_atom::value));
  CHECK(handled(self, jm, has_program_atom::value, std::string("digest")));
  CHECK(handled(self, jm, put_program_atom::value, std::string("digest"), std::string("bytes")));
  CHECK(handled(self, jm, get_program_atom::value, std::string("digest")));
  CHECK(handled(self, jm, host_ready_atom::value, id, uint32_t{0}, caf::actor{},
                std::string("127.0.0.1:1")));
  CHECK(handled(self, jm, job_end_atom::value, JobReport{}));
  CHECK(handled(self, jm, job_list_atom::value));
  CHECK(handled(self, jm, job_status_atom::value, id));
  CHECK(handled(self, jm, job_delete_atom::value, id));
  CHECK(handled(self, jm, job_logs_atom::value, id, std::vector<uint64_t>{}));
  CHECK(handled(self, jm, service_lookup_atom::value, std::string("svc")));
  CHECK(handled(self, jm, services_up_atom::value, id, std::string("svc"),
                std::vector<caf::actor>{}));
  CHECK(handled(self, jm, shutdown_atom::value, false));
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
}

TEST_CASE("protocol: every message listed for the Node reaches a handler") {
  ProtocolConfig cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto node = spawn_node(sys);
  const std::string id = "ab12";
  CHECK_FALSE(handled(self, node, std::string("not a message")));
  CHECK(handled(self, node, spawn_tasks_atom::value, id, std::vector<int32_t>{0}, caf::actor{}));
  CHECK(handled(self, node, spawn_services_atom::value, id, std::vector<int32_t>{0}, false));
  CHECK(handled(self, node, launch_atom::value, id, uint32_t{0}, ProgramLaunch{}, uint64_t{0},
                caf::actor{}, caf::actor{}));
  CHECK(handled(self, node, peers_atom::value, PeerList{}));
  CHECK(handled(self, node, counters_atom::value, id));
  CHECK(handled(self, node, job_logs_atom::value, id, uint64_t{0}));
  CHECK(handled(self, node, job_delete_atom::value, id));
  CHECK(handled(self, node, replay_atom::value, uint32_t{0}, uint32_t{1}));
  CHECK(handled(self, node, replay_records_atom::value, uint32_t{0}, uint32_t{1}, uint32_t{0},
                uint64_t{0}));
  CHECK(handled(self, node, shutdown_atom::value));
}

TEST_CASE("protocol: refusals are SAGE's errors with their words") {
  ProtocolConfig cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  auto node = spawn_node(sys);
  auto jm = spawn_job_manager(sys, node, NodeInfo{});
  caf::error refusal;
  self->request(jm, std::chrono::seconds(10), job_delete_atom::value, std::string("ab12"))
      .receive([] {}, [&](caf::error& err) { refusal = std::move(err); });
  CHECK(is(refusal, ErrorCode::no_such_job));
  CHECK(words_of(refusal) == "no job ab12");
  CHECK(sys.render(refusal) == "sage.no_such_job: no job ab12");
  self->request(jm, std::chrono::seconds(10), submit_atom::value, JobPlan{}, node, ListenerHandle{})
      .receive([] {}, [&](caf::error& err) { refusal = std::move(err); });
  CHECK(is(refusal, ErrorCode::malformed));
  CHECK(words_of(refusal).find("a malformed job plan") == 0);
  caf::anon_send_exit(jm, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
}

namespace {

/// A Dispatcher of a one-task job on a node that never answers `spawn_tasks`
/// (but does answer `counters`): it stays deploying, alive, for one message.
struct StuckDeployment {
  explicit StuckDeployment(caf::actor_system& sys) {
    node = sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
      return {
          [self](spawn_tasks_atom, const std::string&, const std::vector<int32_t>&,
                 const caf::actor&) { return self->make_response_promise(); },
          [](counters_atom, const std::string&) { return std::vector<uint64_t>{}; },
      };
    });
    JobPlan plan;
    plan.id = "ab12";
    plan.name = "stuck";
    plan.operators = {"op"};
    PlannedTask task;
    task.chain = "op";
    task.operators = {0};
    plan.tasks = {task};
    std::vector<DeployTarget> nodes{DeployTarget{node, NodeInfo{}, false}};
    caf::actor* out = &dispatcher;
    parent = sys.spawn([plan, nodes, out](caf::event_based_actor* self) -> caf::behavior {
      *out = spawn_dispatcher(self, plan, nodes, {0}, {}, ListenerHandle{});
      self->set_down_handler([](caf::down_msg&) {});  // the Dispatcher ended
      return {[](job_end_atom, const JobReport&) {}};
    });
    caf::scoped_actor self{sys};
    while (!dispatcher) self->receive(caf::after(std::chrono::milliseconds(1)) >> [] {});
  }
  ~StuckDeployment() {
    for (const auto& a : {dispatcher, parent, node}) caf::anon_send_exit(a, caf::exit_reason::kill);
  }
  caf::actor node, parent, dispatcher;
};

}  // namespace

TEST_CASE("protocol: every message listed for the Dispatcher reaches a handler") {
  ProtocolConfig cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  // A fresh Dispatcher for each message: several of them end the job.
  auto check = [&](auto&&... xs) {
    StuckDeployment d{sys};
    return handled(self, d.dispatcher, xs...);
  };
  CHECK_FALSE(check(std::string("not a message")));
  CHECK(check(task_done_atom::value, 0));
  CHECK(check(task_fail_atom::value, 0, std::string("op"), 0, std::string("it threw")));
  CHECK(check(task_link_atom::value, 0, 0, std::string("gone")));
  CHECK(check(host_ready_atom::value, uint32_t{0}, caf::actor{}, std::string("127.0.0.1:1")));
  CHECK(check(host_exited_atom::value, uint32_t{0}, std::string("exited")));
  CHECK(check(stop_atom::value));
  CHECK(check(cancel_atom::value));
  CHECK(check(job_pause_atom::value));
  CHECK(check(job_resume_atom::value));
  CHECK(check(job_status_atom::value));
  // A task of a loop, as a task that is in none: dropped after a look at the plan.
  CHECK(check(loop_ready_atom::value, 0));
  CHECK(check(loop_counts_atom::value, 0, uint64_t{1}, uint64_t{2}, uint64_t{2}));
  CHECK(check(loop_wave_atom::value, 7));
}
