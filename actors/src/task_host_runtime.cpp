/// The runtime of a task host: the job's program, started by a head or worker
/// for one job, with `SAGE_TASK_HOST` set. There `submit()` does not submit: it
/// checks that the program built the same job, offers a node for its tasks to
/// the Dispatcher, serves until the job ends and then ends the process. Code
/// after `submit()` runs only in the submitting program.

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>

#include <spdlog/spdlog.h>

#include <caf/io/middleman.hpp>

#include <sage/actors/job_registry.hpp>
#include <sage/actors/program_store.hpp>
#include <sage/actors/protocol.hpp>
#include <sage/actors/system.hpp>
#include <sage/detail/environment_variables.hpp>
#include <sage/detail/log.hpp>
#include <sage/detail/run_record.hpp>
#include <sage/detail/runtime.hpp>
#include <sage/error.hpp>

#include "submissions.hpp"

namespace sage::detail {

namespace {

using namespace std::chrono_literals;

/// The actor system of a task host, made when first needed: to ask the
/// submitting program what its earlier jobs did, then to serve this one. It
/// lives until the process ends (a task host ends with `_Exit`).
struct TaskHostSystem {
  TaskHostSystem() : tls(actors::find_credentials("", "", false)) {  // the node's, from env
    actors::configure_cluster_system(cfg, tls);
    system = std::make_unique<caf::actor_system>(cfg);
    services = std::make_shared<actors::ServiceRouter>(*system, caf::actor{});
  }
  actors::TlsFiles tls;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  caf::actor submitter;  ///< the submitting program's node, once connected
  /// The task host's calls: to the head's directory, once connected (serve()).
  std::shared_ptr<actors::ServiceRouter> services;
};

TaskHostSystem& task_host_system() {
  static auto* host = new TaskHostSystem;  // never destroyed: the process ends with _Exit
  return *host;
}

/// The runtime of a task host. The program runs as in the submitting process;
/// of the cluster jobs it submits, the one the task host was started for is
/// served (and `submit()` does not return). The ones before it are replayed as
/// the submitting program saw them (`RunRecord`, asked from its node):
/// `submit()` throws what it threw there, `collect()` yields what it yielded,
/// `status()` shows the final figures; so the program takes the same path here.
class TaskHostRuntime final : public Runtime {
 public:
  TaskHostRuntime()
      : served_(static_cast<uint32_t>(std::stoul(env_or(detail::env::task_host_submission, "0")))) {
  }

  JobId assign_job_id() override {
    const uint32_t seq = cluster_submissions.load();
    if (seq == served_) return JobId(env_or(detail::env::task_host));
    if (seq < served_) {
      replayed_ = ask_submitter(seq);
      replayed_seq_ = seq;
      return JobId(replayed_.job_id);
    }
    return JobId::generate();
  }
  PlanOptions plan_options() const override { return PlanOptions{.collect_apart = true}; }

  std::shared_ptr<ServiceClient> service_client() override { return task_host_system().services; }

  void submit(std::shared_ptr<const JobSpec> job) override {
    if (cluster_submissions.load() == served_) serve(job);
    replay(*job);
  }

  void stop(const JobId&) override {}
  void cancel(const JobId&) override {}
  void add_node(const std::string&, uint16_t) override {}

 private:
  /// Ends the submission the program just made as it ended in the submitting program.
  void replay(const JobSpec& job) {
    const uint32_t seq = cluster_submissions.fetch_add(1);
    if (replayed_seq_ != seq) {
      replayed_ = ask_submitter(seq);
      replayed_seq_ = seq;
    }
    const auto& r = replayed_;
    const std::string which = "job " + std::to_string(seq) + " (\"" + job.name + "\")";
    detail::log("cluster").info("task host: {} was submitted before this one; replayed", which);
    if (!r.refusal.empty()) {
      job.handle->finish(JobState::failed, r.error);
      throw SubmitError(r.refusal);
    }
    if (r.output_sizes.size() != job.outputs.size())
      detail::end_diverged_task_host(
          "the program made " + std::to_string(job.outputs.size()) + " collect() calls in " +
          which + " here, " + std::to_string(r.output_sizes.size()) + " where it was submitted");
    for (size_t o = 0; o < job.outputs.size(); ++o) {
      auto& output = *job.outputs[o];
      if (!r.ended)
        output.unreplayable(which +
                            " was still running when this job was submitted, so what the "
                            "program read of its collect() depended on timing: a task host "
                            "cannot replay it (wait for a job's end before submitting the next)");
      else if (r.output_sizes[o] < 0)
        output.unreplayable("the program reads the collect() records of " + which + ", of type " +
                            r.output_types[o] +
                            ", which has no codec: a task host cannot be sent them");
      else
        fetch_records(seq, static_cast<uint32_t>(o), static_cast<uint64_t>(r.output_sizes[o]),
                      output, which);
    }
    if (r.ended)
      job.handle->replay_end(static_cast<JobState>(r.state), r.error, r.counters,
                             std::chrono::milliseconds(r.run_time_ms));
    else
      job.handle->set_running();  // as the submitting program's submit() returned
  }

  void fetch_records(uint32_t seq, uint32_t output, uint64_t count, JobEndListener& into,
                     const std::string& which) {
    for (uint64_t first = 0; first < count;) {
      auto chunk =
          ask<actors::RecordChunk>(
              "cannot get the collect() records of " + which + " from the submitting program",
              actors::replay_records_atom::value, seq, served_, output, first)
              .records;
      if (chunk.empty())
        detail::end_diverged_task_host(
            "the submitting program sent none of the collect() records "
            "of " +
            which);
      try {
        into.replay(chunk);
      } catch (const std::exception& e) {
        detail::end_diverged_task_host("the collect() records of " + which +
                                       " do not decode here: " + e.what());
      }
      first += chunk.size();
    }
  }

  /// What the submitting program saw of its job `seq` when it submitted ours.
  actors::ReplayedJob ask_submitter(uint32_t seq) {
    return ask<actors::ReplayedJob>(
        "cannot learn from the submitting program what its job " + std::to_string(seq) + " did",
        actors::replay_atom::value, seq, served_);
  }

  /// Asks the submitting program's node; an answer of type `T`, or the task host
  /// ends saying `what` and why.
  template <class T, class... Ts>
  T ask(const std::string& what, Ts&&... request) {
    auto& host = task_host_system();
    caf::scoped_actor self{*host.system};
    T out;
    std::string failure;
    self->request(submitter(), std::chrono::seconds(30), std::forward<Ts>(request)...)
        .receive([&](T& answer) { out = std::move(answer); },
                 [&](caf::error& err) { failure = host.system->render(err); });
    if (!failure.empty()) detail::end_diverged_task_host(what + ": " + failure);
    return out;
  }

  /// The submitting program's node (its collect() sinks and its `RunRecord`).
  caf::actor submitter() {
    auto& host = task_host_system();
    if (host.submitter) return host.submitter;
    const auto address = env_or(detail::env::submitter_address);
    const auto parsed = actors::parse_host_port(address);
    if (!parsed)
      detail::end_diverged_task_host("the submitting program does not listen for its task hosts (" +
                                     (address.empty() ? std::string("no address") : address) +
                                     "), so they cannot replay its earlier jobs");
    auto node = actors::connect_to(*host.system, parsed->host, parsed->port);
    if (!node)
      detail::end_diverged_task_host("cannot reach the submitting program at " + address + ": " +
                                     host.system->render(node.error()));
    host.submitter = *node;
    return host.submitter;
  }

  [[noreturn]] void serve(const std::shared_ptr<const JobSpec>& job) {
    auto& log = detail::log("cluster");
    const JobId job_id(env_or(detail::env::task_host));
    const auto index = static_cast<uint32_t>(std::stoul(env_or(detail::env::task_host_index, "0")));
    const auto expected = std::stoull(env_or(detail::env::task_host_fingerprint, "0"));
    const auto plan = actors::make_job_plan(*job);
    if (job->id != job_id || plan.fingerprint != expected) {
      // Name what differs, from the submitter's own description of the job.
      std::string difference;
      if (!env_or(detail::env::submitter_address).empty())
        difference = actors::first_difference(actors::describe_lines(plan),
                                              ask_submitter(served_).plan_lines);
      end(3, "this program built another job here than where it was submitted (" +
                 (difference.empty() ? std::to_string(plan.tasks.size()) + " tasks, fingerprint " +
                                           std::to_string(plan.fingerprint) + " instead of " +
                                           std::to_string(expected)
                                     : difference) +
                 "): a program must build its graphs the same way on every run (not from the "
                 "clock, a random device or files that differ between machines), and submit "
                 "its jobs in the same order");
    }
    actors::register_job(job);

    auto& host = task_host_system();
    auto& system = *host.system;
    const auto& tls = host.tls;
    actors::NodeSetup setup;
    setup.tls = tls;
    auto node = actors::spawn_node(system, setup);
    const auto bind = env_or(detail::env::task_host_bind, "127.0.0.1");
    auto port = actors::publish_on(system, node, bind, 0);
    if (!port) end(2, "cannot listen on " + bind + ": " + system.render(port.error()));
    const auto head =
        env_or(detail::env::head_address, "127.0.0.1:" + std::to_string(detail::default_head_port));
    const auto head_address = actors::parse_host_port(head);
    if (!head_address) end(2, "SAGE_HEAD_ADDRESS is not a HOST:PORT: " + head);
    auto jm = actors::connect_to(system, head_address->host, head_address->port);
    if (!jm) end(2, "cannot reach the head at " + head + ": " + system.render(jm.error()));
    host.services->set_directory(*jm);
    log.info("task host of job {} ({}): node on {}:{}", job_id.str(), job->name, bind, *port);

    caf::scoped_actor self{system};
    self->monitor(node);
    self->monitor(*jm);
    self->send(*jm, actors::host_ready_atom::value, job_id.str(), index, node,
               bind + ":" + std::to_string(*port));
    // Tells the node that started this task host that it is up: it paces launches by it.
    if (const auto fd = env_or(detail::env::task_host_ready_fd); !fd.empty()) {
      const int ready = std::atoi(fd.c_str());
      (void)!::write(ready, "1", 1);
      ::close(ready);
    }
    int status = 0;
    self->receive([&](caf::down_msg& dm) {
      if (dm.source == jm->address()) {
        log.error("task host of job {}: lost the head at {} ({}); ending", job_id.str(), head,
                  to_string(dm.reason));
        status = 1;
      }
    });
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    end(status, {});
  }

  /// Ends the process: the job is over (or cannot be served). The program's
  /// code after `submit()` is the submitter's, not a task host's.
  [[noreturn]] static void end(int status, const std::string& error) {
    if (!error.empty()) detail::log("cluster").error("task host: {}", error);
    spdlog::shutdown();
    std::fflush(nullptr);
    std::_Exit(status);
  }

  uint32_t served_;  ///< the submission this task host serves
  actors::ReplayedJob replayed_;
  uint32_t replayed_seq_ = UINT32_MAX;
};

/// A task host whose program ends without submitting the job it was started
/// for took another path than the submitting program: say so.
void task_host_program_ended() {
  detail::end_diverged_task_host_at_exit(
      "the program ended after " + std::to_string(cluster_submissions.load()) +
      " cluster jobs here, before it submitted job " +
      env_or(detail::env::task_host_submission, "0") +
      ", the one this task host serves: it must submit the same jobs in the same order on every "
      "run");
}

}  // namespace

bool is_task_host() { return std::getenv(detail::env::task_host) != nullptr; }

std::shared_ptr<Runtime> task_host_runtime() {
  static const bool watched = std::atexit(task_host_program_ended) == 0;
  (void)watched;
  return std::make_shared<TaskHostRuntime>();
}

}  // namespace sage::detail
