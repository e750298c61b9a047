/// The embedded runtime behind `LocalEnvironment`: an actor system in this
/// process with a JobManager, shared by every LocalEnvironment of the process.

#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include <caf/io/middleman.hpp>

#include <sage/actors/credentials.hpp>
#include <sage/actors/job_registry.hpp>
#include <sage/actors/node_runtime.hpp>
#include <sage/actors/protocol.hpp>
#include <sage/actors/system.hpp>
#include <sage/detail/runtime.hpp>
#include <sage/error.hpp>

namespace sage::detail {

namespace {

caf::actor_system_config& configure(caf::actor_system_config& cfg, const Config& c) {
  const auto hw = std::max(1u, std::thread::hardware_concurrency());
  const auto threads = c.get_int(config_keys::scheduler_threads, hw);
  cfg.set("scheduler.max-threads", static_cast<size_t>(std::max<int64_t>(1, threads)));
  // The network layer, for nodes in other actor systems (authenticated with
  // the config's `cluster.tls-dir` or `cluster.secret-file`, if it names one).
  // It opens no port by itself; automatic connections stay off (they would listen
  // on all interfaces). A busy task yields its thread after 64 messages, so
  // that tasks outnumbering threads still all make progress.
  actors::configure_cluster_system(cfg, actors::named_credentials(c));
  return cfg;
}

/// SAGE's own actor system, when the runtime has one.
struct OwnSystem {
  explicit OwnSystem(const Config& c) : system(configure(cfg, c)) {}
  caf::actor_system_config cfg;
  caf::actor_system system;
};

class EmbeddedRuntime final : public Runtime {
 public:
  explicit EmbeddedRuntime(const Config& c)
      : own_(std::make_unique<OwnSystem>(c)), system_(own_->system) {
    start();
  }
  /// On an actor system that someone else owns (`sage::Node`).
  explicit EmbeddedRuntime(caf::actor_system& system) : system_(system) { start(); }

  void start() {
    node_ = actors::spawn_node(system_);
    actors::NodeInfo local;
    local.role = actors::NodeRole::local;
    job_manager_ = actors::spawn_job_manager(system_, node_, std::move(local));
    services_ = std::make_shared<actors::ServiceRouter>(system_, job_manager_);
  }

  ~EmbeddedRuntime() override {
    services_->stop();
    caf::anon_send_exit(job_manager_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(node_, caf::exit_reason::user_shutdown);
    job_manager_ = nullptr;
    node_ = nullptr;
    // The actor system's destructor waits for every actor to end (an
    // application's system: when the application lets it go).
  }

  void submit(std::shared_ptr<const JobSpec> job) override {
    actors::register_job(job);
    auto listener = actors::spawn_listener(system_, job);
    std::string refusal;
    caf::scoped_actor self{system_};
    self->request(job_manager_, caf::infinite, actors::submit_atom::value,
                  actors::make_job_plan(*job), node_, listener)
        .receive([] {},
                 [&](caf::error& err) {
                   refusal = actors::words_of(err);
                   if (refusal.empty()) refusal = system_.render(err);
                 });
    if (refusal.empty()) return;
    caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
    job->handle->finish(JobState::failed, refusal);
    throw SubmitError("job \"" + job->name + "\" refused: " + refusal);
  }

  void add_node(const std::string& host, uint16_t port) override {
    auto node = actors::connect_to(system_, host, port);
    if (!node)
      throw std::runtime_error("cannot reach the node at " + host + ":" + std::to_string(port) +
                               ": " + system_.render(node.error()));
    caf::anon_send(job_manager_, actors::add_node_atom::value, std::move(*node));
  }
  std::shared_ptr<ServiceClient> service_client() override { return services_; }

  void stop(const JobId& id) override {
    caf::anon_send(job_manager_, actors::stop_atom::value, id.str());
  }
  void cancel(const JobId& id) override {
    caf::anon_send(job_manager_, actors::cancel_atom::value, id.str());
  }

 private:
  std::unique_ptr<OwnSystem> own_;  ///< null on an application's system
  caf::actor_system& system_;
  caf::actor node_;
  caf::actor job_manager_;
  std::shared_ptr<actors::ServiceRouter> services_;
};

}  // namespace

std::shared_ptr<Runtime> runtime_on(caf::actor_system& system) {
  return std::make_shared<EmbeddedRuntime>(system);
}

std::shared_ptr<Runtime> embedded_runtime(const Config& cfg) {
  static std::mutex mutex;
  static std::weak_ptr<Runtime> current;
  std::lock_guard<std::mutex> guard(mutex);
  if (auto rt = current.lock()) return rt;
  auto rt = std::make_shared<EmbeddedRuntime>(cfg);
  current = rt;
  return rt;
}

}  // namespace sage::detail
