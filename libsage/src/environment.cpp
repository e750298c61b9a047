#include <sage/environment.hpp>

#include <atomic>
#include <cctype>
#include <csignal>
#include <cstdlib>
#include <string_view>
#include <vector>

#include <spdlog/spdlog.h>

#include <sage/detail/log.hpp>

#include <sage/detail/environment_variables.hpp>
#include <sage/detail/runtime.hpp>
#include <sage/error.hpp>

namespace sage {

namespace detail {

Graph& EnvAccess::graph(Environment& env) { return env.graph_; }

void EnvAccess::add_end_listener(Environment& env, std::shared_ptr<JobEndListener> listener) {
  env.end_listeners_.push_back(std::move(listener));
}

void EnvAccess::set_parallelism(Environment& env, int node, int parallelism) {
  auto& n = *env.graph_.nodes.at(node);
  if (parallelism < 1)
    throw GraphError("operator '" + n.name + "': parallelism must be at least 1, got " +
                     std::to_string(parallelism));
  n.parallelism = parallelism;
}

void EnvAccess::set_name(Environment& env, int node, const std::string& name) {
  env.graph_.rename(node, name);
}

}  // namespace detail

namespace {

/// Ctrl-C while `submit(true)` waits: counted here, acted on by the waiting thread.
std::atomic<int> interrupts{0};
extern "C" void on_interrupt(int) {
  // The first two presses are handled by the waiting thread (stop, then
  // cancel); a third one means the program does not react: end it.
  if (interrupts.fetch_add(1) >= 2) {
    std::signal(SIGINT, SIG_DFL);
    std::raise(SIGINT);
  }
}

/// Installs the Ctrl-C handler for the lifetime of a blocking wait.
class InterruptScope {
 public:
  InterruptScope() {
    interrupts.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    installed_ = sigaction(SIGINT, &sa, &previous_) == 0;
  }
  ~InterruptScope() {
    if (installed_) sigaction(SIGINT, &previous_, nullptr);
  }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  struct sigaction previous_ {};
  bool installed_ = false;
};

}  // namespace

Environment::Environment(std::string name, Config cfg)
    : name_(std::move(name)), config_(std::move(cfg)) {}

Environment::~Environment() = default;

JobId Environment::submit(bool autostop) {
  if (job_ && !is_terminal(job_->state()))
    throw GraphError("environment '" + name_ + "' already runs job " + job_->id().str());
  auto runtime_for_job = runtime();
  auto spec = std::make_shared<detail::JobSpec>();
  spec->id = runtime_for_job->assign_job_id();
  spec->name = name_;
  // A pipeline service's stream ends only when the rest of the job has: an
  // operator outside it that read it would wait for that forever.
  for (const auto& e : graph_.edges) {
    const auto& from = *graph_.nodes[e.from];
    const auto& to = *graph_.nodes[e.to];
    if (!from.serves.empty() && to.serves != from.serves)
      throw GraphError("operator '" + to.name + "' reads the stream of operator '" + from.name +
                       "', inside pipeline service '" + from.serves +
                       "': only the service's own operators may (call the service instead)");
  }
  spec->graph = graph_.snapshot();
  spec->plan = detail::compile_plan(spec->graph, config_, runtime_for_job->plan_options());
  spec->config = std::make_shared<const Config>(config_);
  detail::read_job_settings(*spec, config_);
  spec->handle = std::make_shared<detail::JobHandle>(spec->id, name_, spec->graph, spec->plan);
  spec->outputs = end_listeners_;
  spec->services = runtime_for_job->service_client();
  for (const auto& l : end_listeners_) {
    l->job_started();
    spec->handle->on_end([l](JobState s, const std::string& e) { l->job_ended(s, e); });
  }
  job_ = spec->handle;
  job_runtime_ = std::move(runtime_for_job);
  job_runtime_->submit(spec);
  // Accepted by the runtime. Without autostop, submit() returns once the job
  // runs (its services answer by name), or has ended.
  if (autostop)
    wait_interruptible();
  else
    job_->wait_running();
  return spec->id;
}

ServiceRegistration Environment::add_service(
    std::string name, std::function<std::unique_ptr<detail::ServiceObject>()> make) {
  if (name.empty()) throw GraphError("register_service: a service needs a name");
  for (const auto& s : graph_.services)
    if (s.name == name)
      throw GraphError("register_service: environment '" + name_ + "' registers a service named '" +
                       name + "' twice");
  detail::ServiceDecl decl;
  decl.name = std::move(name);
  decl.make = std::move(make);
  graph_.services.push_back(std::move(decl));
  return ServiceRegistration(&graph_, graph_.services.size() - 1);
}

namespace {

/// Takes back the nodes from `first` on and every edge that touches them.
void take_back_nodes(detail::Graph& graph, size_t first) {
  const auto added = [first](int node) { return node >= static_cast<int>(first); };
  size_t keep = graph.edges.size();
  for (size_t e = 0; e < graph.edges.size(); ++e)
    if (added(graph.edges[e].from) || added(graph.edges[e].to)) {
      keep = e;  // edges are added with their nodes: the rest are later ones
      break;
    }
  graph.edges.resize(keep);
  graph.nodes.resize(first);
  for (auto& node : graph.nodes)
    for (auto* list : {&node->in_edges, &node->out_edges})
      std::erase_if(*list, [keep](int e) { return e >= static_cast<int>(keep); });
}

}  // namespace

void Environment::check_pipeline_service(const std::string& name, size_t first, int requests,
                                         int result) {
  const auto fail = [&](const std::string& why) {
    take_back_nodes(graph_, first);
    throw GraphError("register_pipeline_service '" + name + "': " + why);
  };
  if (name.empty()) fail("a service needs a name");
  if (result < 0 || static_cast<size_t>(result) >= graph_.nodes.size())
    fail("build returned a stream of no operator");
  // The result must come from the requests: a request's identity is the
  // event time its records carry.
  std::vector<bool> reached(graph_.nodes.size(), false);
  std::vector<int> todo{requests};
  reached[requests] = true;
  while (!todo.empty()) {
    const int n = todo.back();
    todo.pop_back();
    for (int e : graph_.nodes[n]->out_edges) {
      const int to = graph_.edges[e].to;
      if (!reached[to]) {
        reached[to] = true;
        todo.push_back(to);
      }
    }
  }
  if (!reached[result])
    fail("build must return a stream made from the requests it is given (operator '" +
         graph_.nodes[result]->name + "' is not)");
  for (size_t n = first; n < graph_.nodes.size(); ++n)
    if (graph_.nodes[n]->sets_timestamps)
      fail("operator '" + graph_.nodes[n]->name +
           "' gives records timestamps of its own (assign_timestamps, an event-time window or "
           "join): inside a pipeline service a record's event time is its request's identity");
}

PipelineServiceRegistration Environment::finish_pipeline_service(
    std::string name, size_t first, int requests, int replies,
    std::function<std::unique_ptr<detail::ServiceObject>()> make_front) {
  std::vector<int> inside;
  try {
    graph_.rename(requests, name + ".requests");
    graph_.rename(replies, name + ".replies");
    graph_.nodes[replies]->parallelism = 1;  // one place that sees every request's records
    for (size_t n = first; n < graph_.nodes.size(); ++n) {
      graph_.nodes[n]->serves = name;
      if (static_cast<int>(n) != requests && static_cast<int>(n) != replies)
        inside.push_back(static_cast<int>(n));
    }
    add_service(name, std::move(make_front));
  } catch (...) {
    take_back_nodes(graph_, first);
    throw;
  }
  return PipelineServiceRegistration(&graph_, graph_.services.size() - 1, std::move(inside));
}

PipelineServiceRegistration& PipelineServiceRegistration::parallelism(int n) {
  if (n < 1)
    throw GraphError("pipeline service '" + graph_->services.at(service_).name +
                     "': parallelism must be at least 1, got " + std::to_string(n));
  for (int node : nodes_)
    if (graph_->nodes.at(node)->parallelism == 0) graph_->nodes[node]->parallelism = n;
  return *this;
}

PipelineServiceRegistration& PipelineServiceRegistration::resources(Resources r) {
  for (int node : nodes_) graph_->nodes.at(node)->resources = r;
  graph_->services.at(service_).resources = std::move(r);
  return *this;
}

detail::ServiceClient& Environment::services() {
  // The runtime owns its client (its actor system's router): kept up while
  // this environment lives.
  if (!service_runtime_) service_runtime_ = job_runtime_ ? job_runtime_ : runtime();
  auto client = service_runtime_->service_client();
  if (!client)
    throw std::logic_error("environment '" + name_ + "': its runtime reaches no services");
  return *client;
}

ServiceRegistration& ServiceRegistration::parallelism(int n) {
  if (n < 1)
    throw GraphError("service '" + graph_->services.at(index_).name +
                     "': parallelism must be at least 1, got " + std::to_string(n));
  graph_->services.at(index_).parallelism = n;
  return *this;
}

ServiceRegistration& ServiceRegistration::resources(Resources r) {
  graph_->services.at(index_).resources = std::move(r);
  return *this;
}

void Environment::program_waits() {
  for (const auto& l : end_listeners_) l->program_waits();
}

void Environment::wait_interruptible() {
  program_waits();
  {
    InterruptScope scope;
    int acted_on = 0;
    while (!job_->wait_for(std::chrono::milliseconds(50))) {
      const int seen = interrupts.load();
      if (seen > acted_on) {
        acted_on = seen;
        if (seen == 1) {
          detail::log("runtime").warn("interrupted: stopping job {} (Ctrl-C again cancels it)",
                                      job_->id().str());
          job_runtime_->stop(job_->id());
        } else {
          detail::log("runtime").warn("interrupted again: cancelling job {}", job_->id().str());
          job_runtime_->cancel(job_->id());
        }
      }
    }
  }
  throw_if_not_finished();
}

void Environment::throw_if_not_finished() const {
  if (job_->state() == JobState::failed) throw JobFailed(job_->error());
  if (job_->state() == JobState::cancelled)
    throw JobCancelled("job " + job_->id().str() + " (" + name_ + ") was cancelled" +
                       (job_->error().empty() ? std::string{} : ": " + job_->error()));
}

void Environment::wait() {
  if (!job_) return;
  program_waits();
  job_->wait();
  throw_if_not_finished();
}

void Environment::stop() {
  if (!job_ || is_terminal(job_->state())) return;
  program_waits();
  job_runtime_->stop(job_->id());
  job_->wait();
}

void Environment::close() {
  if (!job_) return;
  if (!is_terminal(job_->state())) job_runtime_->cancel(job_->id());
  job_->wait();
}

JobStatus Environment::status() const {
  if (!job_) {
    JobStatus s;
    s.name = name_;
    for (const auto& n : graph_.nodes) {
      OperatorStatus op;
      op.name = n->name;
      op.parallelism = n->parallelism;
      s.operators.push_back(std::move(op));
    }
    return s;
  }
  if (!is_terminal(job_->state())) job_runtime_->refresh(*job_);
  return job_->snapshot();
}

LocalEnvironment::LocalEnvironment(std::string name, Config cfg)
    : Environment(std::move(name), std::move(cfg)) {}

LocalEnvironment::~LocalEnvironment() { close(); }

std::shared_ptr<detail::Runtime> LocalEnvironment::runtime() {
  // Under `sage job submit` (and in the task hosts it leads to) the program's
  // jobs run on the cluster, whichever environment it builds them with.
  // Otherwise a LocalEnvironment job runs in this process, in a task host too:
  // it is part of what the program computes before its cluster jobs.
  const bool under_job_submit = std::getenv(detail::env::job_submit) != nullptr;
  if (under_job_submit && detail::is_task_host()) return detail::task_host_runtime();
  if (under_job_submit)
    return detail::cluster_runtime("127.0.0.1", detail::default_head_port, config());
  return detail::embedded_runtime(config());
}

RemoteEnvironment::RemoteEnvironment(std::string name, std::string host, uint16_t port, Config cfg)
    : Environment(std::move(name), std::move(cfg)), host_(std::move(host)), port_(port) {}

RemoteEnvironment::~RemoteEnvironment() { close(); }

std::shared_ptr<detail::Runtime> RemoteEnvironment::runtime() {
  return detail::cluster_runtime(host_, port_, config());
}

}  // namespace sage
