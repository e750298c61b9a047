#pragma once
/// @file environment.hpp
/// `sage::Environment`, `sage::LocalEnvironment` and `sage::RemoteEnvironment`
/// (API.md section 2).

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ranges>
#include <string>
#include <type_traits>
#include <vector>

#include <sage/collected.hpp>
#include <sage/config.hpp>
#include <sage/datastream.hpp>
#include <sage/detail/actor_feed.hpp>
#include <sage/detail/graph.hpp>
#include <sage/detail/pipeline_service.hpp>
#include <sage/job.hpp>
#include <sage/service.hpp>

namespace sage {

namespace detail {
class JobHandle;
class Runtime;
}  // namespace detail

class Environment;

/// What `register_pipeline_service` returns: the parallelism of the
/// pipeline's operators that set none of their own, and the resources each
/// of them (and the service's front) asks of its node.
class PipelineServiceRegistration {
 public:
  /// A `GraphError` unless `n >= 1`.
  PipelineServiceRegistration& parallelism(int n);
  PipelineServiceRegistration& resources(Resources r);

 private:
  friend class Environment;
  PipelineServiceRegistration(detail::Graph* graph, size_t service, std::vector<int> nodes)
      : graph_(graph), service_(service), nodes_(std::move(nodes)) {}
  detail::Graph* graph_;
  size_t service_;
  std::vector<int> nodes_;  ///< the operators `build` added
};

/// What `register_service` returns: the service's parallelism and the
/// resources each instance asks of its node, set before `submit()`.
class ServiceRegistration {
 public:
  /// `n` instances behind the one name, placed like tasks; calls go to the
  /// least busy one. A `GraphError` unless `n >= 1`.
  ServiceRegistration& parallelism(int n);
  /// What each instance needs of the node it runs on (cluster placement).
  ServiceRegistration& resources(Resources r);

 private:
  friend class Environment;
  ServiceRegistration(detail::Graph* graph, size_t index) : graph_(graph), index_(index) {}
  detail::Graph* graph_;
  size_t index_;
};

/// Where a pipeline is described and from where it is submitted. One
/// environment runs one job at a time.
class Environment {
 public:
  Environment(std::string name, Config cfg);
  virtual ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  [[nodiscard]] const std::string& name() const { return name_; }

  /// A bounded source of the items of any container or range (copied now).
  template <std::ranges::input_range R>
  DataStream<std::ranges::range_value_t<R>> from_batch(R&& range) {
    using T = std::ranges::range_value_t<R>;
    auto items = std::make_shared<std::vector<T>>();
    if constexpr (std::ranges::sized_range<R>) items->reserve(std::ranges::size(range));
    for (auto&& x : range) items->push_back(std::forward<decltype(x)>(x));
    return add_items_source<T>(std::move(items));
  }
  /// A bounded source of the listed items: `env.from_batch({1, 2, 3})`.
  template <class T>
  DataStream<T> from_batch(std::initializer_list<T> items) {
    return add_items_source<T>(std::make_shared<std::vector<T>>(items));
  }

  /// A bounded source of strings: `env.from_batch({"a", "b"})` streams `std::string`.
  DataStream<std::string> from_batch(std::initializer_list<const char*> items) {
    return add_items_source<std::string>(
        std::make_shared<std::vector<std::string>>(items.begin(), items.end()));
  }

  /// A bounded source from a `BatchFunction<T>` class built per instance from `args`.
  template <class F, class... A>
  DataStream<typename F::output_type> from_collection(A&&... args) {
    using T = typename F::output_type;
    static_assert(std::is_base_of_v<BatchFunction<T>, F>,
                  "from_collection<F>: F must derive from sage::BatchFunction<T>");
    return add_source<T>(
        "collection", [a = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)] {
          return std::make_unique<detail::BatchSourceInstance<T, F>>(detail::construct_from<F>(a));
        });
  }

  /// An unbounded source from a `SourceFunction<T>` class built per instance from `args`.
  template <class F, class... A>
  DataStream<typename F::output_type> from_source(A&&... args) {
    using T = typename F::output_type;
    static_assert(std::is_base_of_v<SourceFunction<T>, F>,
                  "from_source<F>: F must derive from sage::SourceFunction<T>");
    return add_source<T>("source", [a = std::make_tuple(
                                        std::decay_t<A>(std::forward<A>(args))...)] {
      return std::make_unique<detail::FunctionSourceInstance<T, F>>(detail::construct_from<F>(a));
    });
  }

  /// A source fed by CAF actors (API.md section 10, `<sage/caf.hpp>`): once the
  /// job runs, `sage::Node::source(job, name)` is the actor that takes its
  /// batches (`std::vector<T>`, each answered once accepted: backpressure) and
  /// `sage::eos_atom` (the stream's end). It runs in this process, where the
  /// actors are, whatever the environment; `name` is its operator's name.
  template <class T>
  DataStream<T> from_actor(std::string name) {
    static_assert(std::is_copy_constructible_v<T>, "from_actor<T>: T must be copyable");
    auto stream = add_source<T>(
        "from_actor", [name] { return std::make_unique<detail::ActorSourceInstance<T>>(name); });
    graph_.nodes.back()->runs_at_submitter = true;
    try {
      graph_.rename(stream.node_id(), name);
    } catch (...) {
      graph_.nodes.pop_back();  // a name taken (or empty): as if never called
      throw;
    }
    return stream;
  }

  /// A placeholder stream of `T`, named `name`, that `stream.fill_future(f)`
  /// closes later: the records of that stream come out of it again (a
  /// feedback loop; docs/streams.md). A job with a loop ends by itself once
  /// every source has ended and no record is left in the loop.
  template <class T>
  DataStream<T> from_future(std::string name) {
    static_assert(std::is_copy_constructible_v<T>, "from_future<T>: T must be copyable");
    auto node = std::make_shared<detail::TypedNode<T, T>>(
        detail::NodeKind::transform, "future", []() -> std::unique_ptr<detail::OperatorInstance> {
          return std::make_unique<detail::UnionInstance<T>>();
        });
    node->future = true;
    node->chaining = detail::Chaining::head;
    const int id = graph_.add_node(std::move(node));
    try {
      graph_.rename(id, name);
    } catch (...) {
      graph_.nodes.pop_back();  // a name taken (or empty): as if never called
      throw;
    }
    return DataStream<T>(this, id, detail::EdgeRouting{});
  }

  /// Deploys the service `S` (a `sage::Service`) with the job, built per
  /// instance from `args`, callable by `name` from every job of the same
  /// runtime or cluster while this one runs (API.md section 6). A name
  /// registered twice here is a `GraphError`; one that a running job has
  /// registered makes `submit()` throw `SubmitError`.
  template <class S, class... A>
  ServiceRegistration register_service(std::string name, A&&... args) {
    static_assert(std::is_base_of_v<Service, S>,
                  "register_service<S>: S must derive from sage::Service");
    return add_service(
        std::move(name),
        [a = std::make_tuple(std::decay_t<A>(
             std::forward<A>(args))...)]() -> std::unique_ptr<detail::ServiceObject> {
          return std::make_unique<detail::TypedServiceObject<S>>(detail::construct_from<S>(a));
        });
  }

  /// Deploys the pipeline `build` makes (`DataStream<Resp>(DataStream<Req>)`)
  /// as a service named `name`, called as any service: each request enters the
  /// pipeline, and the one record it becomes at the end answers it (none, or
  /// more than one, is a `ServiceError` at the caller). Any parallelism,
  /// `key_by` and placement inside; a request's identity travels with its
  /// records as their event time, so the pipeline may not assign timestamps
  /// or use event-time windows or joins (a `GraphError`). The pipeline serves
  /// while the rest of the job runs (a job of pipeline services only: until
  /// it is stopped). docs/services.md, "Pipeline services".
  template <class Req, class Resp, class Build>
  PipelineServiceRegistration register_pipeline_service(std::string name, Build&& build) {
    static_assert(std::is_invocable_r_v<DataStream<Resp>, Build&, DataStream<Req>>,
                  "register_pipeline_service<Req, Resp>: build must be "
                  "sage::DataStream<Resp>(sage::DataStream<Req>)");
    static_assert(std::is_copy_constructible_v<Req> && std::is_copy_constructible_v<Resp>,
                  "register_pipeline_service<Req, Resp>: requests and answers must be copyable");
    const size_t first = graph_.nodes.size();
    auto requests = add_source<Req>(
        "requests", [name] { return std::make_unique<detail::RequestSourceInstance<Req>>(name); });
    auto& source = *graph_.nodes.back();
    source.timestamped = true;  // a request's number is its event time
    source.chaining = detail::Chaining::head;
    DataStream<Resp> answers = build(requests);
    check_pipeline_service(name, first, requests.node_id(), answers.node_id());
    auto sink = answers.add_sink(
        "replies", [name] { return std::make_unique<detail::ReplySinkInstance<Resp>>(name); });
    auto front = [name]() -> std::unique_ptr<detail::ServiceObject> {
      return std::make_unique<detail::PipelineFront<Req, Resp>>(name);
    };
    return finish_pipeline_service(std::move(name), first, requests.node_id(), sink.node_id(),
                                   std::move(front));
  }

  /// Calls a service from driver code, as `ctx().call_service` does in an
  /// operator: blocks until the result or the call's error is there.
  template <class R, class... A>
  R call_service(const std::string& service, A&&... args) {
    return detail::call_sync<R>(services(), service, std::forward<A>(args)...);
  }
  /// The same without waiting.
  template <class R, class... A>
  Future<R> call_service_async(const std::string& service, A&&... args) {
    return detail::call_async<R>(services(), service, std::forward<A>(args)...);
  }

  /// Compiles the pipeline and starts it. With `autostop`, blocks until the job
  /// ends (Ctrl-C stops it gracefully; a second Ctrl-C cancels it) and rethrows
  /// a failure as `JobFailed`. Throws `GraphError` for an invalid pipeline.
  JobId submit(bool autostop = false);
  /// Graceful stop: sources end their streams, in-flight records drain. Blocks
  /// until the job has ended.
  void stop();
  /// Releases the job: cancels it if it still runs, and waits for it to end.
  void close();
  /// The job's state, error and per-operator record counts.
  [[nodiscard]] JobStatus status() const;
  /// Blocks until the job ends; rethrows a failure as `JobFailed`.
  void wait();

  Config& config() { return config_; }
  [[nodiscard]] const Config& config() const { return config_; }

 protected:
  /// The runtime that runs this environment's jobs.
  virtual std::shared_ptr<detail::Runtime> runtime() = 0;

 private:
  friend struct detail::EnvAccess;

  template <class T>
  DataStream<T> add_items_source(std::shared_ptr<const std::vector<T>> items) {
    auto stream = add_source<T>(
        "from_batch", [items] { return std::make_unique<detail::ItemsSourceInstance<T>>(items); });
    graph_.nodes.back()->describe_contents = [items] { return detail::describe_items(*items); };
    return stream;
  }
  template <class T, class Factory>
  DataStream<T> add_source(const char* kind, Factory factory) {
    auto node = std::make_shared<detail::TypedNode<void, T>>(
        detail::NodeKind::source, kind,
        [factory]() -> std::unique_ptr<detail::OperatorInstance> { return factory(); });
    node->parallelism = 1;  // sources run one instance unless told otherwise (as in Flink)
    const int id = graph_.add_node(std::move(node));
    return DataStream<T>(this, id, detail::EdgeRouting{});
  }
  ServiceRegistration add_service(std::string name,
                                  std::function<std::unique_ptr<detail::ServiceObject>()> make);
  /// A `GraphError` (and the nodes from `first` on taken back) unless the
  /// pipeline service's result comes from its requests and keeps their event time.
  void check_pipeline_service(const std::string& name, size_t first, int requests, int result);
  /// Names the pipeline's source and sink, marks its nodes, registers its front.
  PipelineServiceRegistration finish_pipeline_service(
      std::string name, size_t first, int requests, int replies,
      std::function<std::unique_ptr<detail::ServiceObject>()> make_front);
  /// The runtime's client for service calls.
  detail::ServiceClient& services();
  void wait_interruptible();
  /// Throws `JobFailed` if the ended job failed, `JobCancelled` if it was cancelled.
  void throw_if_not_finished() const;
  /// Tells the collect() buffers that the program blocks until the job ends.
  void program_waits();

  std::string name_;
  Config config_;
  detail::Graph graph_;
  std::vector<std::shared_ptr<detail::JobEndListener>> end_listeners_;
  std::shared_ptr<detail::Runtime> job_runtime_;
  std::shared_ptr<detail::JobHandle> job_;
  std::shared_ptr<detail::Runtime> service_runtime_;  ///< env.call_service's
};

/// Runs jobs in this process, on an embedded actor system. Under `sage job
/// submit` (which sets SAGE_JOB_SUBMIT) its jobs go to that cluster instead, as
/// a RemoteEnvironment's would.
class LocalEnvironment : public Environment {
 public:
  explicit LocalEnvironment(std::string name = "sage", Config cfg = {});
  ~LocalEnvironment() override;

 protected:
  std::shared_ptr<detail::Runtime> runtime() override;
};

/// Runs jobs on a cluster: submits them to the JobManager at `host:port`
/// (`sage cluster start --head`). The pipeline is the same as for a
/// LocalEnvironment, lambdas included: the cluster ships this program to the
/// nodes it places tasks on and runs it there up to this `submit()`, which
/// builds the same graph (docs/operations.md, "How a job is shipped"). So the
/// program must build its graph the same way on every run, and do heavy work
/// inside functions, not before `submit()`. `collect()` brings records back to
/// this program. TLS: the config's `cluster.tls-dir`, else `SAGE_TLS_DIR`.
class RemoteEnvironment : public Environment {
 public:
  explicit RemoteEnvironment(std::string name = "sage", std::string host = "127.0.0.1",
                             uint16_t port = 19001, Config cfg = {});
  ~RemoteEnvironment() override;

  [[nodiscard]] const std::string& host() const { return host_; }
  [[nodiscard]] uint16_t port() const { return port_; }

 protected:
  std::shared_ptr<detail::Runtime> runtime() override;

 private:
  std::string host_;
  uint16_t port_;
};

/// A cluster job of which the operators marked `.local()` (and `collect()`)
/// run in this process, the rest on the cluster at `host:port`; otherwise a
/// `RemoteEnvironment`.
class HybridEnvironment : public RemoteEnvironment {
 public:
  using RemoteEnvironment::RemoteEnvironment;
};

}  // namespace sage
