/// The runtime behind `RemoteEnvironment`, in its two roles.
///
/// In the submitting program it is a client of the cluster's head: it ships
/// the program (once per binary: the head stores programs by digest), submits
/// the job's plan, and hosts the job's `collect()` sinks on a node of its own,
/// so that collected records come back to it whichever node produced them.
///
/// In a task host (the same program, started by a head or worker for one job,
/// with `SAGE_TASK_HOST` set) `submit()` does not submit: it checks that the
/// program built the same job, offers a node for its tasks to the Dispatcher,
/// serves until the job ends and then ends the process. Code after `submit()`
/// runs only in the submitting program.

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

#include <sage/actors/program_store.hpp>
#include <sage/actors/protocol.hpp>
#include <sage/detail/log.hpp>
#include <sage/detail/run_record.hpp>
#include <sage/error.hpp>

namespace sage::detail {

namespace {

using namespace std::chrono_literals;

/// How long the head may take to accept a job (placement, not deployment).
constexpr auto submit_timeout = 60s;
/// How long shipping a program may take.
constexpr auto upload_timeout = 120s;

std::string env_or(const char* name, std::string fallback = {}) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : fallback;
}

/// A program's credentials: the config's `cluster.tls-dir` or `cluster.secret-file`,
/// else SAGE_TLS_DIR, SAGE_SECRET_FILE or ~/.sage/cluster.secret (`find_credentials`);
/// none with `cluster.insecure` or SAGE_INSECURE=1.
actors::TlsFiles client_tls(const Config& cfg) {
  return actors::find_credentials(cfg.get_string("cluster.tls-dir", ""),
                                  cfg.get_string("cluster.secret-file", ""),
                                  cfg.get_bool("cluster.insecure", false));
}

/// What this process is: its binary, arguments and working directory.
actors::ProgramLaunch this_program(std::string& bytes) {
  bytes = actors::read_file("/proc/self/exe");
  actors::ProgramLaunch p;
  p.digest = actors::sha256_hex(bytes);
  const std::string cmdline = actors::read_file("/proc/self/cmdline");
  std::vector<std::string> argv;
  for (size_t start = 0; start < cmdline.size();) {
    const size_t end = cmdline.find('\0', start);
    argv.push_back(cmdline.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (!argv.empty()) {
    p.file_name = std::filesystem::path(argv.front()).filename().string();
    p.args.assign(argv.begin() + 1, argv.end());
  }
  std::error_code ec;
  p.working_dir = std::filesystem::current_path(ec).string();
  return p;
}

/// The cluster jobs this process has submitted, in order: a task host serves
/// the one with its number (`ProgramLaunch::submission`).
std::atomic<uint32_t> cluster_submissions{0};

class RemoteRuntime final : public Runtime {
 public:
  RemoteRuntime(const std::string& host, uint16_t port, const actors::TlsFiles& tls)
      : address_(host + ":" + std::to_string(port)), system_(configure(cfg_, tls)) {
    auto jm = actors::connect_to(system_, host, port);
    if (!jm)
      throw SubmitError("cannot reach the cluster's head at " + address_ + ": " +
                        system_.render(jm.error()) + actors::credentials_hint(tls));
    job_manager_ = *jm;
    node_ = actors::spawn_node(system_);  // the job's collect() sinks run here
    // Task hosts send collected records straight here, not through the head: the
    // node listens on the address this machine reaches the head from.
    const auto bind = local_address_towards(host, port);
    if (auto listening = actors::publish_on(system_, node_, bind, 0))
      node_address_ = bind + ":" + std::to_string(*listening);
    else
      detail::log("cluster").warn("cannot listen on {} ({}): collected records go through the head",
                                  bind, system_.render(listening.error()));
  }

  ~RemoteRuntime() override {
    caf::anon_send_exit(node_, caf::exit_reason::user_shutdown);
    node_ = nullptr;
    job_manager_ = nullptr;
  }

  PlanOptions plan_options() const override { return PlanOptions{.collect_apart = true}; }

  void submit(std::shared_ptr<const JobSpec> job) override {
    actors::register_job(job);
    auto plan = actors::describe_job(*job);
    if (!job->config->contains("placement")) plan.placement = "cluster";
    plan.submitter_address = node_address_;
    // What this submission does is recorded for the task hosts of later ones.
    const uint32_t seq = cluster_submissions.fetch_add(1);
    detail::run_record().begin(seq, job->id.str(), job->handle, job->outputs,
                               actors::describe_lines(plan));

    std::string refusal;
    try {
      plan.program = ship_program();
      plan.program.submission = seq;
      plan.program.under_job_submit = std::getenv("SAGE_JOB_SUBMIT") != nullptr;
      plan.program.submitter_address = node_address_;
    } catch (const std::exception& e) {
      refusal = e.what();
    }
    caf::actor listener;
    if (refusal.empty()) {
      listener = actors::spawn_listener(system_, job, job_manager_);
      caf::scoped_actor self{system_};
      self->request(job_manager_, submit_timeout, actors::submit_atom::value, std::move(plan),
                    node_, listener)
          .receive([&](std::string& why) { refusal = std::move(why); },
                   [&](caf::error& err) {
                     refusal =
                         "the head at " + address_ + " did not answer: " + system_.render(err);
                   });
    }
    if (refusal.empty()) {
      detail::log("cluster").info("job {} ({}) submitted to {}", job->id.str(), job->name,
                                  address_);
      report_job_id(job->id);
      return;
    }
    if (listener) caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
    SubmitError error("the cluster at " + address_ + " refused job \"" + job->name +
                      "\": " + refusal);
    detail::run_record().refused(seq, error.what());
    job->handle->finish(JobState::failed, refusal);
    throw error;
  }

  void stop(const JobId& id) override {
    caf::anon_send(job_manager_, actors::stop_atom::value, id.str());
  }
  void cancel(const JobId& id) override {
    caf::anon_send(job_manager_, actors::cancel_atom::value, id.str());
  }
  void add_node(const std::string&, uint16_t) override {
    throw std::runtime_error("a RemoteEnvironment runs on the nodes of its cluster");
  }
  void refresh(JobHandle& handle) override {
    caf::scoped_actor self{system_};
    self->request(job_manager_, std::chrono::seconds(10), actors::job_status_atom::value,
                  handle.id().str())
        .receive([&](const actors::JobReport& r) { handle.set_cluster_counters(r.counters); },
                 [&](caf::error&) {});  // the counters stay as they were
  }

 private:
  static caf::actor_system_config& configure(caf::actor_system_config& cfg,
                                             const actors::TlsFiles& tls) {
    actors::configure_cluster_system(cfg, tls);
    return cfg;
  }

  /// `sage job submit` learns the id on the descriptor it names.
  static void report_job_id(const JobId& id) {
    const char* fd = std::getenv("SAGE_JOB_ID_FD");
    if (fd == nullptr) return;
    const std::string line = id.str() + "\n";
    (void)!::write(std::atoi(fd), line.data(), line.size());
  }

  /// Makes sure the head has this program; its launch description.
  actors::ProgramLaunch ship_program() {
    std::lock_guard<std::mutex> guard(program_mutex_);
    if (!program_.digest.empty()) return program_;
    std::string bytes;
    auto program = this_program(bytes);
    caf::scoped_actor self{system_};
    auto fail = [&](const caf::error& err) {
      throw SubmitError("cannot ship the program to " + address_ + ": " + system_.render(err));
    };
    bool stored = false;
    self->request(job_manager_, submit_timeout, actors::has_program_atom::value, program.digest)
        .receive([&](bool has) { stored = has; }, fail);
    if (!stored) {
      detail::log("cluster").info("shipping {} ({} MB) to {}", program.file_name,
                                  bytes.size() >> 20, address_);
      self->request(job_manager_, upload_timeout, actors::put_program_atom::value, program.digest,
                    std::move(bytes))
          .receive(
              [&](std::string& why) {
                if (!why.empty()) throw SubmitError("the head did not store the program: " + why);
              },
              fail);
    }
    program_ = program;
    return program_;
  }

  /// The local address of a connection to `host:port` (no packet is sent).
  static std::string local_address_towards(const std::string& host, uint16_t port) {
    std::string fallback = "127.0.0.1";
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0)
      return fallback;
    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in local{};
    socklen_t length = sizeof local;
    char text[INET_ADDRSTRLEN] = {};
    if (fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length) == 0 &&
        ::inet_ntop(AF_INET, &local.sin_addr, text, sizeof text) != nullptr)
      fallback = text;
    if (fd >= 0) ::close(fd);
    ::freeaddrinfo(found);
    return fallback;
  }

  std::string address_;
  std::string node_address_;  // where node_ listens, "" if it does not
  caf::actor_system_config cfg_;
  caf::actor_system system_;
  caf::actor job_manager_;
  caf::actor node_;
  std::mutex program_mutex_;
  actors::ProgramLaunch program_;
};

/// The actor system of a task host, made when first needed: to ask the
/// submitting program what its earlier jobs did, then to serve this one. It
/// lives until the process ends (a task host ends with `_Exit`).
struct TaskHostSystem {
  TaskHostSystem() : tls(actors::find_credentials("", "", false)) {  // the node's, from env
    actors::configure_cluster_system(cfg, tls);
    system = std::make_unique<caf::actor_system>(cfg);
  }
  actors::TlsFiles tls;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> system;
  caf::actor submitter;  ///< the submitting program's node, once connected
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
      : served_(static_cast<uint32_t>(std::stoul(env_or("SAGE_TASK_HOST_SUBMISSION", "0")))) {}

  JobId assign_job_id() override {
    const uint32_t seq = cluster_submissions.load();
    if (seq == served_) return JobId(env_or("SAGE_TASK_HOST"));
    if (seq < served_) {
      replayed_ = ask_submitter(seq);
      replayed_seq_ = seq;
      return JobId(replayed_.job_id);
    }
    return JobId::generate();
  }
  PlanOptions plan_options() const override { return PlanOptions{.collect_apart = true}; }

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
    const auto address = env_or("SAGE_SUBMITTER_ADDRESS");
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
    const JobId job_id(env_or("SAGE_TASK_HOST"));
    const auto index = static_cast<uint32_t>(std::stoul(env_or("SAGE_TASK_HOST_INDEX", "0")));
    const auto expected = std::stoull(env_or("SAGE_TASK_HOST_FINGERPRINT", "0"));
    const auto plan = actors::describe_job(*job);
    if (job->id != job_id || plan.fingerprint != expected) {
      // Name what differs, from the submitter's own description of the job.
      std::string difference;
      if (!env_or("SAGE_SUBMITTER_ADDRESS").empty())
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
    const auto bind = env_or("SAGE_TASK_HOST_BIND", "127.0.0.1");
    auto port = actors::publish_on(system, node, bind, 0);
    if (!port) end(2, "cannot listen on " + bind + ": " + system.render(port.error()));
    const auto head = env_or("SAGE_HEAD_ADDRESS", "127.0.0.1:19001");
    const auto head_address = actors::parse_host_port(head);
    if (!head_address) end(2, "SAGE_HEAD_ADDRESS is not a HOST:PORT: " + head);
    auto jm = actors::connect_to(system, head_address->host, head_address->port);
    if (!jm) end(2, "cannot reach the head at " + head + ": " + system.render(jm.error()));
    log.info("task host of job {} ({}): node on {}:{}", job_id.str(), job->name, bind, *port);

    caf::scoped_actor self{system};
    self->monitor(node);
    self->monitor(*jm);
    self->send(*jm, actors::host_ready_atom::value, job_id.str(), index, node,
               bind + ":" + std::to_string(*port));
    // Tells the node that started this task host that it is up: it paces launches by it.
    if (const auto fd = env_or("SAGE_TASK_HOST_READY_FD"); !fd.empty()) {
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
      " cluster jobs here, before it submitted job " + env_or("SAGE_TASK_HOST_SUBMISSION", "0") +
      ", the one this task host serves: it must submit the same jobs in the same order on every "
      "run");
}

}  // namespace

bool is_task_host() { return std::getenv("SAGE_TASK_HOST") != nullptr; }

std::shared_ptr<Runtime> task_host_runtime() {
  static const bool watched = std::atexit(task_host_program_ended) == 0;
  (void)watched;
  return std::make_shared<TaskHostRuntime>();
}

std::shared_ptr<Runtime> cluster_runtime(const std::string& host_arg, uint16_t port_arg,
                                         const Config& cfg) {
  if (is_task_host()) return task_host_runtime();
  // `sage job submit --address` (SAGE_ADDRESS) overrides the program's own address.
  std::string host = host_arg;
  uint16_t port = port_arg;
  if (const auto address = env_or("SAGE_ADDRESS"); !address.empty()) {
    const auto parsed = actors::parse_host_port(address, port);
    if (!parsed) throw SubmitError("SAGE_ADDRESS is not a HOST:PORT: " + address);
    host = parsed->host;
    port = parsed->port;
  }
  // One client per head and process, shared by its RemoteEnvironments.
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<Runtime>> clients;
  std::lock_guard<std::mutex> guard(mutex);
  auto& slot = clients[host + ":" + std::to_string(port)];
  if (auto rt = slot.lock()) return rt;
  auto rt = std::make_shared<RemoteRuntime>(host, port, client_tls(cfg));
  slot = rt;
  return rt;
}

}  // namespace sage::detail
