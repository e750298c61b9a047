/// The runtime behind `RemoteEnvironment` in the submitting program: a client
/// of the cluster's head. It ships the program (once per binary: the head
/// stores programs by digest), submits the job's plan, and hosts the job's
/// `collect()` sinks on a node of its own, so that collected records come back
/// to it whichever node produced them. In a task host the same environment
/// runs on the task host's runtime instead (task_host_runtime.cpp).

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

/// How long the head may take to accept a job (placement, not deployment).
constexpr auto submit_timeout = 60s;
/// How long shipping a program may take.
constexpr auto upload_timeout = 120s;

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

class RemoteRuntime final : public Runtime {
 public:
  RemoteRuntime(const std::string& host, uint16_t port, const actors::TlsFiles& tls)
      : address_(host + ":" + std::to_string(port)), system_(configure(cfg_, tls)) {
    auto jm = actors::connect_to(system_, host, port);
    if (!jm)
      throw SubmitError("cannot reach the cluster's head at " + address_ + ": " +
                        system_.render(jm.error()) + actors::credentials_hint(tls));
    job_manager_ = *jm;
    // Calls from this program (env.call_service, its collect() sinks) look
    // services up in the head's directory.
    services_ = std::make_shared<actors::ServiceRouter>(system_, job_manager_);
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
    services_->stop();
    caf::anon_send_exit(node_, caf::exit_reason::user_shutdown);
    node_ = nullptr;
    job_manager_ = nullptr;
  }

  PlanOptions plan_options() const override { return PlanOptions{.collect_apart = true}; }

  std::shared_ptr<ServiceClient> service_client() override { return services_; }

  void submit(std::shared_ptr<const JobSpec> job) override {
    actors::register_job(job);
    auto plan = actors::make_job_plan(*job);
    if (!job->placement) plan.placement = detail::PlacementMode::cluster;
    plan.submitter_address = node_address_;
    // What this submission does is recorded for the task hosts of later ones.
    const uint32_t seq = cluster_submissions.fetch_add(1);
    detail::run_record().begin(seq, job->id.str(), job->handle, job->outputs,
                               actors::describe_lines(plan));

    std::string refusal;
    try {
      plan.program = ship_program();
      plan.program.submission = seq;
      plan.program.under_job_submit = std::getenv(detail::env::job_submit) != nullptr;
      plan.program.submitter_address = node_address_;
    } catch (const std::exception& e) {
      refusal = e.what();
    }
    actors::ListenerHandle listener;
    if (refusal.empty()) {
      listener = actors::spawn_listener(system_, job, job_manager_);
      caf::scoped_actor self{system_};
      self->request(job_manager_, submit_timeout, actors::submit_atom::value, std::move(plan),
                    node_, listener)
          .receive([] {},
                   [&](caf::error& err) {
                     if (err.category() == actors::error_category)
                       refusal = actors::words_of(err);  // the head's refusal
                     else
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
    const char* fd = std::getenv(detail::env::job_id_fd);
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
              [] {},
              [&](const caf::error& err) {
                if (err.category() != actors::error_category) fail(err);
                throw SubmitError("the head did not store the program: " + actors::words_of(err));
              });
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
  std::shared_ptr<actors::ServiceRouter> services_;
  caf::actor node_;
  std::mutex program_mutex_;
  actors::ProgramLaunch program_;
};

}  // namespace

std::shared_ptr<Runtime> cluster_runtime(const std::string& host_arg, uint16_t port_arg,
                                         const Config& cfg) {
  if (is_task_host()) return task_host_runtime();
  // `sage job submit --address` (SAGE_ADDRESS) overrides the program's own address.
  std::string host = host_arg;
  uint16_t port = port_arg;
  if (const auto address = env_or(detail::env::address); !address.empty()) {
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
