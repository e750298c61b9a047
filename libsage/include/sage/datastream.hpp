#pragma once
/// @file datastream.hpp
/// `DataStream<T>`, `KeyedStream<T, K>` and `DataStreamSink<T>` (API.md section 3).
/// Every call records a node in the environment's logical graph; nothing runs
/// before `submit()`.

#include <array>
#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <sage/collected.hpp>
#include <sage/detail/async_map.hpp>
#include <sage/detail/format_record.hpp>
#include <sage/detail/graph.hpp>
#include <sage/detail/joins.hpp>
#include <sage/detail/key_selector.hpp>
#include <sage/detail/time_operators.hpp>
#include <sage/detail/traits.hpp>
#include <sage/detail/typed_node.hpp>
#include <sage/error.hpp>
#include <sage/event_time.hpp>
#include <sage/functions.hpp>

namespace sage {

class Environment;
template <class T>
class DataStream;
template <class T, class K>
class KeyedStream;
template <class T>
class DataStreamSink;
template <class T, class K>
class WindowedStream;
template <class... Ins>
class ConnectedStreams;
template <class K, class... Ins>
class KeyedConnectedStreams;

namespace detail {

/// One input of an operator with several: the upstream operator and how the edge routes.
struct StreamInput {
  int node = -1;
  EdgeRouting routing;
};

/// What makes `to_actor`'s sink: defined in `<sage/caf.hpp>`, which a program
/// that has a CAF actor to send to includes.
template <class T, class Actor>
std::function<std::unique_ptr<OperatorInstance>()> actor_sink(Actor actor);

/// Adds an operator with one input per type of `Ins`, fed by `inputs` in order
/// (defined after `DataStream`).
template <class Out, class... Ins, class Factory>
DataStream<Out> add_multi_input(Environment* env, const char* kind,
                                const std::array<StreamInput, sizeof...(Ins)>& inputs,
                                Factory factory);

/// Whether a stream handle is a `KeyedStream`, and its key type (void if not).
template <class S>
struct stream_key {
  static constexpr bool keyed = false;
  using type = void;
};
template <class T, class K>
struct stream_key<KeyedStream<T, K>> {
  static constexpr bool keyed = true;
  using type = K;
};

/// The stream API's access to its environment (defined in environment.cpp).
struct EnvAccess {
  static Graph& graph(Environment& env);
  static void add_end_listener(Environment& env, std::shared_ptr<JobEndListener> listener);
  /// Sets parallelism, validating it (a `GraphError` below 1).
  static void set_parallelism(Environment& env, int node, int parallelism);
  static void set_name(Environment& env, int node, const std::string& name);
};

/// The settings every operator handle offers, applied to node `node_`.
template <class Self>
class OperatorSettings {
 public:
  /// The number of parallel instances (at least 1).
  Self& parallelism(int n) {
    EnvAccess::set_parallelism(*self().env_, self().node_, n);
    return self();
  }
  /// The operator's name in status, logs and errors (unique in the job).
  Self& name(const std::string& name) {
    EnvAccess::set_name(*self().env_, self().node_, name);
    return self();
  }
  /// What the operator needs of the node it runs on.
  Self& resources(Resources r) {
    EnvAccess::graph(*self().env_).nodes[self().node_]->resources = r;
    return self();
  }
  /// Runs the operator's instances in the submitting process (a
  /// `HybridEnvironment`'s job: a GPU or a file only that machine has), the
  /// rest of the job on the cluster; its records cross nodes, so they need codecs.
  Self& local() {
    EnvAccess::graph(*self().env_).nodes[self().node_]->runs_at_submitter = true;
    return self();
  }

 private:
  Self& self() { return static_cast<Self&>(*this); }
};

/// The operators of a stream of `T`: shared by `DataStream<T>` and `KeyedStream<T, K>`.
/// The next operator is fed through an edge routed by `routing_`.
template <class T>
class StreamOps {
 public:
  using value_type = T;

  /// One output per record: `R(const T&)`, or `map<F>(args...)` with a `MapFunction<T, R>`.
  template <Callable F>
  auto map(F&& f)
      -> DataStream<std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>&, const T&>>> {
    using Fn = std::decay_t<F>;
    using R = std::remove_cvref_t<std::invoke_result_t<Fn&, const T&>>;
    return add_transform<R>("map", [fn = Fn(std::forward<F>(f))] {
      return std::make_unique<MapInstance<T, R, Fn>>(fn);
    });
  }
  template <FunctionClass F, class... A>
  DataStream<typename F::output_type> map(A&&... args) {
    static_assert(std::is_base_of_v<MapFunction<T, typename F::output_type>, F>,
                  "map<F>: F must derive from sage::MapFunction<T, Out>");
    using R = typename F::output_type;
    return add_transform<R>(
        "map", [a = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)] {
          return std::make_unique<MapInstance<T, R, std::unique_ptr<F>>>(construct_from<F>(a));
        });
  }

  /// One output per record, computed asynchronously (API.md section 9): `f`
  /// is `sage::Future<R>(const T&)` (a `call_service_async`, say), with up to
  /// `opts.capacity` calls in flight per instance, results in input order if
  /// `opts.ordered`, each call failing after `opts.timeout` and retried up to
  /// `opts.retries` times; a call that fails after that fails the job.
  template <Callable F>
  auto map_async(F&& f, async_options opts = {}) -> DataStream<typename future_result<
      std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>&, const T&>>>::type> {
    using Fn = std::decay_t<F>;
    using R =
        typename future_result<std::remove_cvref_t<std::invoke_result_t<Fn&, const T&>>>::type;
    return add_transform<R>("map_async", [fn = Fn(std::forward<F>(f)), opts] {
      return std::make_unique<AsyncMapInstance<T, R, Fn>>(fn, opts);
    });
  }
  /// The same with an `AsyncFunction<T, R>` built per instance from `args`;
  /// `sage::async_options` may come first: `map_async<F>(opts, args...)`.
  template <FunctionClass F, class... A>
  DataStream<typename F::output_type> map_async(A&&... args) {
    static_assert(std::is_base_of_v<AsyncFunction<T, typename F::output_type>, F>,
                  "map_async<F>: F must derive from sage::AsyncFunction<T, Out>");
    using R = typename F::output_type;
    auto [opts, ctor] = split_async_options(std::forward<A>(args)...);
    return add_transform<R>("map_async", [opts = opts, a = std::move(ctor)] {
      return std::make_unique<AsyncMapInstance<T, R, std::unique_ptr<F>>>(construct_from<F>(a),
                                                                          opts);
    });
  }

  /// Keeps the records for which `f` is true.
  template <Callable F>
  DataStream<T> filter(F&& f) {
    using Fn = std::decay_t<F>;
    static_assert(std::is_invocable_v<Fn&, const T&>, "filter: the callable must take const T&");
    return add_transform<T>("filter", [fn = Fn(std::forward<F>(f))] {
      return std::make_unique<FilterInstance<T, Fn>>(fn);
    });
  }
  template <FunctionClass F, class... A>
  DataStream<T> filter(A&&... args) {
    static_assert(std::is_base_of_v<FilterFunction<T>, F>,
                  "filter<F>: F must derive from sage::FilterFunction<T>");
    return add_transform<T>(
        "filter", [a = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)] {
          return std::make_unique<FilterInstance<T, std::unique_ptr<F>>>(construct_from<F>(a));
        });
  }

  /// Any number of outputs per record: `void(const T&, Collector<R>&)`, a
  /// callable returning a range of `R`, or `flatmap<F>(args...)` with a `FlatMapFunction<T, R>`.
  template <Callable F>
  auto flatmap(F&& f) -> DataStream<typename flatmap_result<std::decay_t<F>, T>::type> {
    using Fn = std::decay_t<F>;
    using R = typename flatmap_result<Fn, T>::type;
    return add_transform<R>("flatmap", [fn = Fn(std::forward<F>(f))] {
      return std::make_unique<FlatMapInstance<T, R, Fn>>(fn);
    });
  }
  template <FunctionClass F, class... A>
  DataStream<typename F::output_type> flatmap(A&&... args) {
    static_assert(std::is_base_of_v<FlatMapFunction<T, typename F::output_type>, F>,
                  "flatmap<F>: F must derive from sage::FlatMapFunction<T, Out>");
    using R = typename F::output_type;
    return add_transform<R>(
        "flatmap", [a = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)] {
          return std::make_unique<FlatMapInstance<T, R, std::unique_ptr<F>>>(construct_from<F>(a));
        });
  }

  /// Consumes every record: `void(const T&)`, or `sink<F>(args...)` with a `SinkFunction<T>`.
  template <Callable F>
  DataStreamSink<T> sink(F&& f) {
    using Fn = std::decay_t<F>;
    return add_sink("sink", [fn = Fn(std::forward<F>(f))] {
      return std::make_unique<SinkInstance<T, Fn>>(fn);
    });
  }
  template <FunctionClass F, class... A>
  DataStreamSink<T> sink(A&&... args) {
    static_assert(std::is_base_of_v<SinkFunction<T>, F>,
                  "sink<F>: F must derive from sage::SinkFunction<T>");
    return add_sink("sink", [a = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)] {
      return std::make_unique<SinkInstance<T, std::unique_ptr<F>>>(construct_from<F>(a));
    });
  }

  /// Prints every record to stdout, one line each, after `prefix`.
  DataStreamSink<T> print(std::string prefix = "") {
    auto writer = [prefix = std::move(prefix)](const T& x) {
      write_stdout_line(prefix + format_record(x));
    };
    return add_sink(
        "print", [writer] { return std::make_unique<SinkInstance<T, decltype(writer)>>(writer); });
  }

  /// Brings every record back to the submitting program (bounded while the
  /// program reads as the job runs: see `CollectBuffer`).
  Collected<T> collect() {
    auto buffer = std::make_shared<CollectBuffer<T>>();
    EnvAccess::add_end_listener(*env_, buffer);
    const int id = add_node<T, void>(NodeKind::sink, "collect", [buffer] {
      return std::make_unique<CollectInstance<T>>(buffer);
    });
    EnvAccess::graph(*env_).nodes[id]->runs_at_submitter = true;
    return Collected<T>(buffer);
  }

  /// Sends the records to the CAF actor `actor` (API.md section 10; include
  /// `<sage/caf.hpp>`): batches as `std::vector<T>`, then `sage::eos_atom` at
  /// the stream's end. Runs in this process, where the actor is.
  template <class Actor>
  DataStreamSink<T> to_actor(Actor actor) {
    const int id =
        add_node<T, void>(NodeKind::sink, "to_actor", actor_sink<T, Actor>(std::move(actor)));
    auto& node = *EnvAccess::graph(*env_).nodes[id];
    node.runs_at_submitter = true;
    node.parallelism = 1;  // one eos_atom (with more instances: one each)
    return DataStreamSink<T>(env_, id);
  }

  /// Partitions by key: every record of one key reaches the same instance of the
  /// next operator (`Partition::hash`), or every instance (`broadcast`), or the
  /// instances in turn (`round_robin`); the next operator reads `ctx().key<K>()`.
  template <class F>
  auto key_by(F&& f, Partition p = Partition::hash)
      -> KeyedStream<T, std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>&, const T&>>> {
    using Fn = std::decay_t<F>;
    using K = std::remove_cvref_t<std::invoke_result_t<Fn&, const T&>>;
    auto selector = std::make_shared<TypedKeySelector<T, K, Fn>>(Fn(std::forward<F>(f)));
    EdgeRouting r;
    r.kind = p == Partition::hash        ? Routing::hash
             : p == Partition::broadcast ? Routing::broadcast
                                         : Routing::round_robin;
    r.key_selector = std::static_pointer_cast<const KeySelector<T>>(selector);  // of T, not K
    r.key_extractor = std::static_pointer_cast<const KeyExtractor<K>>(selector);
    return KeyedStream<T, K>(env_, node_, std::move(r));
  }

  /// Event time (API.md section 3.2): `ts(record)` (`int64_t(const T&)`, ms) is
  /// each record's timestamp, and `strategy` says how watermarks follow them
  /// (`bounded_out_of_order(d)`, `monotonous()`, `.with_idleness(d)`). Runs
  /// with its input's parallelism, chained to it; watermarks go out every
  /// `watermark.interval` ms.
  template <class F>
  DataStream<T> assign_timestamps(F&& ts, WatermarkStrategy strategy) {
    using Fn = std::decay_t<F>;
    static_assert(std::is_convertible_v<std::invoke_result_t<Fn&, const T&>, int64_t>,
                  "assign_timestamps: the function must be int64_t(const T&), event time in ms");
    auto out = add_transform<T>("timestamps", [fn = Fn(std::forward<F>(ts)), strategy] {
      return std::make_unique<TimestampsInstance<T, Fn>>(fn, strategy);
    });
    auto& node = *EnvAccess::graph(*env_).nodes[out.node_id()];
    node.timestamped = true;
    node.sets_timestamps = true;
    node.parallelism_of_input = true;
    return out;
  }

  /// Every record of this stream and of `others` (streams of the same type,
  /// each routed as it says: `key_by`, `rebalance`, ...); ends when all have ended.
  template <class... Others>
  DataStream<T> union_with(const Others&... others) {
    static_assert(sizeof...(Others) >= 1, "union_with: give at least one other stream");
    static_assert((std::is_same_v<typename Others::value_type, T> && ...),
                  "union_with: every stream must have the record type of this one");
    auto& graph = EnvAccess::graph(*env_);
    auto node = std::make_shared<TypedNode<T, T>>(
        NodeKind::transform, "union",
        []() -> std::unique_ptr<OperatorInstance> { return std::make_unique<UnionInstance<T>>(); });
    node->timestamped = graph.nodes[node_]->timestamped;
    ((node->timestamped = node->timestamped || graph.nodes[others.node_]->timestamped), ...);
    ((others.env_ == env_ ? void()
                          : throw GraphError("union_with: a stream of another environment")),
     ...);
    const int id = graph.add_node(std::move(node));
    graph.add_edge(node_, id, routing_);
    (graph.add_edge(others.node_, id, others.routing_), ...);
    return DataStream<T>(env_, id, EdgeRouting{});
  }

  /// Closes the feedback loop opened by `env.from_future<T>(name)`: this
  /// stream's records come out of `future` again, routed as this stream says.
  /// A future is filled once (a `GraphError` naming it otherwise).
  void fill_future(const DataStream<T>& future) {
    if (future.env_ != env_) throw GraphError("fill_future: a future of another environment");
    auto& graph = EnvAccess::graph(*env_);
    graph.add_feedback_edge(node_, future.node_, routing_);
    // What goes around keeps its event time.
    graph.nodes[future.node_]->timestamped = graph.nodes[node_]->timestamped;
  }

  /// The next operator receives the records in turn, evenly.
  DataStream<T> rebalance() { return repartition(Routing::round_robin, nullptr); }
  /// Every instance of the next operator receives every record.
  DataStream<T> broadcast() { return repartition(Routing::broadcast, nullptr); }
  /// The next operator's instance is `p.partition(record, n)`; `p` is copied per instance.
  template <class P>
  DataStream<T> partition_custom(P p) {
    auto factory = std::make_shared<TypedPartitionerFactory<T, P>>(std::move(p));
    return repartition(Routing::custom,
                       std::static_pointer_cast<const PartitionerFactory<T>>(factory));
  }

 protected:
  StreamOps(Environment* env, int node, EdgeRouting routing)
      : env_(env), node_(node), routing_(std::move(routing)) {}

  /// `map_async<F>`'s arguments: its options (if they come first) and the
  /// constructor's arguments, decayed.
  template <class First, class... A>
  static auto split_async_options(First&& first, A&&... args) {
    if constexpr (std::is_same_v<std::decay_t<First>, async_options>)
      return std::pair{async_options(first),
                       std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)};
    else
      return std::pair{async_options{},
                       std::make_tuple(std::decay_t<First>(std::forward<First>(first)),
                                       std::decay_t<A>(std::forward<A>(args))...)};
  }
  static auto split_async_options() { return std::pair{async_options{}, std::tuple<>{}}; }

  template <class R, class Factory>
  DataStream<R> add_transform(const char* kind, Factory factory) {
    const int id = add_node<T, R>(NodeKind::transform, kind, std::move(factory));
    return DataStream<R>(env_, id, EdgeRouting{});
  }
  template <class Factory>
  DataStreamSink<T> add_sink(const char* kind, Factory factory) {
    const int id = add_node<T, void>(NodeKind::sink, kind, std::move(factory));
    return DataStreamSink<T>(env_, id);
  }
  template <class In, class Out, class Factory>
  int add_node(NodeKind kind, const char* kind_name, Factory factory) {
    auto& graph = EnvAccess::graph(*env_);
    auto node = std::make_shared<TypedNode<In, Out>>(
        kind, kind_name, [factory]() -> std::unique_ptr<OperatorInstance> { return factory(); });
    node->timestamped = graph.nodes[node_]->timestamped;
    const int id = graph.add_node(std::move(node));
    graph.add_edge(node_, id, routing_);
    return id;
  }
  DataStream<T> repartition(Routing kind,
                            std::shared_ptr<const PartitionerFactoryBase> partitioner) {
    EdgeRouting r;
    r.kind = kind;
    r.partitioner = std::move(partitioner);
    return DataStream<T>(env_, node_, std::move(r));
  }

  Environment* env_;
  int node_;
  EdgeRouting routing_;

  template <class>
  friend class OperatorSettings;
  friend class ::sage::Environment;  // a pipeline service's reply sink
  template <class, class>
  friend class ::sage::WindowedStream;
  template <class>
  friend class StreamOps;
  template <class... Ins>
  friend class ::sage::ConnectedStreams;
  template <class, class>
  friend class ::sage::KeyedStream;
  template <class>
  friend class ::sage::DataStream;
};

}  // namespace detail

/// A stream of records of type `T`. A handle: copies refer to the same operator.
template <class T>
class DataStream : public detail::StreamOps<T>, public detail::OperatorSettings<DataStream<T>> {
 public:
  DataStream(Environment* env, int node, detail::EdgeRouting routing)
      : detail::StreamOps<T>(env, node, std::move(routing)) {}
  /// The id of the operator that produces this stream in the logical graph.
  [[nodiscard]] int node_id() const { return this->node_; }

  /// The records the operator emitted to `tag` (a window's late records,
  /// `ctx().output(tag, value)` in a function), as a stream of their own.
  template <class U>
  DataStream<U> side_output(const OutputTag<U>& tag) const {
    detail::EdgeRouting r;
    r.side_output = tag.name();
    return DataStream<U>(this->env_, this->node_, std::move(r));
  }

  /// Two to five inputs of any types, in this order (input 0 is this one),
  /// for `comap` and `coflatmap` (section 3.1 of API.md).
  template <class... Others>
  ConnectedStreams<T, typename Others::value_type...> connect(const Others&... others) {
    static_assert(sizeof...(Others) >= 1 && sizeof...(Others) <= 4,
                  "connect: 2 to 5 inputs in all");
    static_assert((!detail::stream_key<Others>::keyed && ...),
                  "connect: a stream that is not keyed connects with streams that are not keyed; "
                  "key every input (by the same key type) for a keyed connect");
    return ConnectedStreams<T, typename Others::value_type...>(
        this->env_, {detail::StreamInput{this->node_, this->routing_},
                     detail::StreamInput{others.node_, others.routing_}...});
  }

 private:
  friend class detail::OperatorSettings<DataStream<T>>;
};

/// A stream partitioned by a key of type `K`. Its operators read the current key
/// with `ctx().key<K>()`.
template <class T, class K>
class KeyedStream : public detail::StreamOps<T> {
 public:
  using key_type = K;
  KeyedStream(Environment* env, int node, detail::EdgeRouting routing)
      : detail::StreamOps<T>(env, node, std::move(routing)) {}

  /// A rolling reduce per key: `f(so_far, record)` (`T(const T&, const T&)`),
  /// emitting the new value after every record; the first record of a key is
  /// its first value. The value so far is keyed state, so `T` needs a codec.
  template <class F>
  DataStream<T> reduce(F f) {
    using Fn = std::decay_t<F>;
    static_assert(std::is_convertible_v<std::invoke_result_t<Fn&, const T&, const T&>, T>,
                  "reduce: f must be T(const T& so_far, const T& record)");
    static_assert(has_codec<T>,
                  "reduce: the value so far is keyed state, so the record type needs a codec "
                  "(sage/codec.hpp)");
    return this->template add_transform<T>("reduce", [f = Fn(std::move(f))] {
      return std::make_unique<detail::ReduceInstance<T, Fn>>(f);
    });
  }

  /// Records, keyed state and timers: `F` derives from
  /// `KeyedProcessFunction<K, T, Out>` and is built per instance from `args`.
  template <class F, class... A>
  DataStream<typename F::output_type> process(A&&... args) {
    using Out = typename F::output_type;
    static_assert(std::is_base_of_v<KeyedProcessFunction<K, T, Out>, F>,
                  "process<F>: F must derive from sage::KeyedProcessFunction<K, T, Out> with the "
                  "stream's key and record types");
    return this->template add_transform<Out>(
        "process", [a = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)] {
          return std::make_unique<detail::KeyedProcessInstance<K, T, Out, F>>(
              detail::construct_from<F>(a));
        });
  }

  /// Windows of time per key: `sage::tumbling(size)`, `sliding(size, slide)`,
  /// `session(gap)`; on event time if the stream has timestamps, else on
  /// processing time. A size, slide or gap that is not positive is a `GraphError`.
  WindowedStream<T, K> window(WindowAssigner assigner) {
    detail::WindowSpec spec = detail::time_window_spec(assigner);
    spec.event_time = detail::EnvAccess::graph(*this->env_).nodes[this->node_]->timestamped;
    return WindowedStream<T, K>(*this, std::move(spec));
  }

  /// A keyed connect: every input keyed by the same key type `K` (a compile
  /// error otherwise), partitioned by key; in `comap`, `coflatmap` and `join`
  /// `ctx().key<K>()` is the record's key, and keyed state is shared by the
  /// inputs for that key.
  template <class... Others>
  KeyedConnectedStreams<K, T, typename Others::value_type...> connect(const Others&... others) {
    static_assert(sizeof...(Others) >= 1 && sizeof...(Others) <= 4,
                  "connect: 2 to 5 inputs in all");
    static_assert((detail::stream_key<Others>::keyed && ...),
                  "connect: a keyed stream connects with keyed streams only");
    static_assert((std::is_same_v<typename detail::stream_key<Others>::type, K> && ...),
                  "connect: a keyed connect needs the same key type on every side");
    return KeyedConnectedStreams<K, T, typename Others::value_type...>(
        this->env_, {detail::StreamInput{this->node_, this->routing_},
                     detail::StreamInput{others.node_, others.routing_}...});
  }

  /// Every pair `(l, r)` of one key in the same window (`sage::tumbling`,
  /// `sliding`, `session`), as `f(l, r)` (`Out(const T&, const R&)`) when the
  /// window fires. Event time when both inputs have timestamps, processing
  /// time when neither has.
  template <class R, class K2, class F>
  auto window_join(const KeyedStream<R, K2>& other, WindowAssigner assigner, F f) -> DataStream<
      std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>&, const T&, const R&>>> {
    static_assert(std::is_same_v<K, K2>,
                  "window_join: both sides must be keyed by the same key type");
    using Fn = std::decay_t<F>;
    using Out = std::remove_cvref_t<std::invoke_result_t<Fn&, const T&, const R&>>;
    detail::WindowSpec spec = detail::time_window_spec(assigner);
    spec.event_time = both_timestamped(other, "window_join");
    auto out = detail::add_multi_input<Out, T, R>(
        this->env_, "window_join",
        {detail::StreamInput{this->node_, this->routing_},
         detail::StreamInput{other.node_, other.routing_}},
        [fn = Fn(std::move(f)), spec] {
          return std::make_unique<detail::WindowJoinInstance<K, T, R, Out, Fn>>(fn, spec);
        });
    detail::EnvAccess::graph(*this->env_).nodes[out.node_id()]->sets_timestamps = spec.event_time;
    return out;
  }

  /// Event time: every pair `(l, r)` of one key with
  /// `l.ts + lower <= r.ts <= l.ts + upper` (inclusive; either bound may be
  /// negative), as `f(l, r)` at the later of the two times. Buffered records are
  /// dropped once the watermark passes them; a record that arrives behind the
  /// watermark is late (dropped and counted).
  template <class R, class K2, class Rep1, class Period1, class Rep2, class Period2, class F>
  auto interval_join(const KeyedStream<R, K2>& other, std::chrono::duration<Rep1, Period1> lower,
                     std::chrono::duration<Rep2, Period2> upper, F f)
      -> DataStream<
          std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>&, const T&, const R&>>> {
    static_assert(std::is_same_v<K, K2>,
                  "interval_join: both sides must be keyed by the same key type");
    using Fn = std::decay_t<F>;
    using Out = std::remove_cvref_t<std::invoke_result_t<Fn&, const T&, const R&>>;
    const int64_t lo = detail::to_ms(lower);
    const int64_t hi = detail::to_ms(upper);
    if (lo > hi)
      throw GraphError("interval_join: the lower bound (" + std::to_string(lo) +
                       " ms) is above the upper bound (" + std::to_string(hi) + " ms)");
    if (!both_timestamped(other, "interval_join"))
      throw GraphError(
          "interval_join works on event time: give both inputs timestamps (assign_timestamps)");
    auto out = detail::add_multi_input<Out, T, R>(
        this->env_, "interval_join",
        {detail::StreamInput{this->node_, this->routing_},
         detail::StreamInput{other.node_, other.routing_}},
        [fn = Fn(std::move(f)), lo, hi] {
          return std::make_unique<detail::IntervalJoinInstance<K, T, R, Out, Fn>>(fn, lo, hi);
        });
    detail::EnvAccess::graph(*this->env_).nodes[out.node_id()]->sets_timestamps = true;
    return out;
  }

  /// Windows of `size` records per key, or (with `slide`) of the last `size`
  /// records every `slide` records, as Flink's `countWindow`. A window that is
  /// not full when the stream ends does not fire.
  WindowedStream<T, K> count_window(int64_t size) { return counted(size, 0); }
  WindowedStream<T, K> count_window(int64_t size, int64_t slide) {
    if (slide <= 0)
      throw GraphError("a count window's slide must be positive, got " + std::to_string(slide));
    return counted(size, slide);
  }

 private:
  WindowedStream<T, K> counted(int64_t size, int64_t slide) {
    if (size <= 0)
      throw GraphError("a count window's size must be positive, got " + std::to_string(size));
    detail::WindowSpec spec;
    spec.kind = detail::WindowSpec::Kind::count;
    spec.size = size;
    spec.slide = slide;
    spec.event_time = detail::EnvAccess::graph(*this->env_).nodes[this->node_]->timestamped;
    return WindowedStream<T, K>(*this, std::move(spec));
  }

  /// Whether both inputs of a join have event time; one with and one without is a `GraphError`.
  template <class R>
  bool both_timestamped(const KeyedStream<R, K>& other, const char* op) {
    auto& nodes = detail::EnvAccess::graph(*this->env_).nodes;
    const bool mine = nodes[this->node_]->timestamped;
    const bool theirs = nodes[other.node_]->timestamped;
    if (mine != theirs)
      throw GraphError(std::string(op) +
                       ": one input has timestamps and the other has none; give both "
                       "timestamps (assign_timestamps) or neither");
    return mine;
  }

  template <class, class>
  friend class WindowedStream;
  template <class, class>
  friend class KeyedStream;
};

/// A keyed stream cut into windows (`KeyedStream::window`, `count_window`):
/// set the lateness and the side output of late records, then say what each
/// window computes.
template <class T, class K>
class WindowedStream {
 public:
  WindowedStream(KeyedStream<T, K> keyed, detail::WindowSpec spec)
      : keyed_(std::move(keyed)), spec_(std::move(spec)) {}

  /// A window that fired fires again, updated, for records up to `d` late
  /// (event time); it is dropped once the watermark passes its end plus `d`.
  template <class Rep, class Period>
  WindowedStream& allowed_lateness(std::chrono::duration<Rep, Period> d) {
    spec_.allowed_lateness = detail::to_ms(d);
    if (spec_.allowed_lateness < 0)
      throw GraphError("allowed_lateness must not be negative, got " +
                       std::to_string(spec_.allowed_lateness) + " ms");
    return *this;
  }
  /// Records later than that go to `result.side_output(tag)` instead of being
  /// dropped (and counted in `records_late_dropped`).
  WindowedStream& side_output_late(const OutputTag<T>& tag) {
    spec_.late_tag = tag.name();
    return *this;
  }

  /// `T(const T&, const T&)`, combined as records come: one value per key and window.
  template <class F>
  DataStream<T> reduce(F f) {
    using Fn = detail::ReduceWindowFunction<T, std::decay_t<F>>;
    static_assert(
        std::is_convertible_v<std::invoke_result_t<std::decay_t<F>&, const T&, const T&>, T>,
        "window reduce: f must be T(const T&, const T&)");
    return add<T>(Fn{std::move(f)});
  }

  /// `agg.create()`, `agg.add(record, acc)`, and `agg.result(acc)` or
  /// `agg.result(key, window, acc)` (and `agg.merge(acc, other)` if it has one,
  /// for session windows): one accumulator per key and window.
  template <class A>
  auto aggregate(A agg) {
    using Fn = detail::AggregateWindowFunction<T, K, A>;
    return add<typename Fn::Out>(Fn{std::move(agg)});
  }

  /// `void(const K&, const Window&, const std::vector<T>&, Collector<Out>&)`,
  /// with every record of the window.
  template <class F>
  auto process(F f) {
    using Out = typename detail::last_collector_output<std::decay_t<F>>::type;
    using Fn = detail::ProcessWindowFunction<T, K, Out, std::decay_t<F>>;
    return add<Out>(Fn{std::move(f)});
  }

 private:
  template <class Out, class Fn>
  DataStream<Out> add(Fn fn) {
    auto out = keyed_.template add_transform<Out>("window", [fn = std::move(fn), spec = spec_] {
      return std::make_unique<detail::WindowInstance<T, K, Fn>>(fn, spec);
    });
    detail::EnvAccess::graph(*keyed_.env_).nodes[out.node_id()]->sets_timestamps = spec_.event_time;
    return out;
  }

  KeyedStream<T, K> keyed_;
  detail::WindowSpec spec_;
};

namespace detail {
/// Adds an operator with one input per type of `Ins`, fed by `inputs` in order.
template <class Out, class... Ins, class Factory>
DataStream<Out> add_multi_input(Environment* env, const char* kind,
                                const std::array<StreamInput, sizeof...(Ins)>& inputs,
                                Factory factory) {
  auto& graph = EnvAccess::graph(*env);
  auto node = std::make_shared<MultiInputNode<Out, Ins...>>(
      kind, [factory]() -> std::unique_ptr<OperatorInstance> { return factory(); });
  for (const auto& in : inputs)
    node->timestamped = node->timestamped || graph.nodes[in.node]->timestamped;
  const int id = graph.add_node(std::move(node));
  for (size_t i = 0; i < inputs.size(); ++i)
    graph.add_edge(inputs[i].node, id, inputs[i].routing, static_cast<int>(i));
  return DataStream<Out>(env, id, EdgeRouting{});
}
}  // namespace detail

/// Two to five streams of any types (`a.connect(b, c...)`), for an operator
/// with one function per input: `comap` and `coflatmap`. Input `i` is the
/// `i`-th stream; the operator ends when every instance of every input has.
template <class... Ins>
class ConnectedStreams {
 public:
  static constexpr size_t input_count = sizeof...(Ins);
  ConnectedStreams(Environment* env, std::array<detail::StreamInput, sizeof...(Ins)> inputs)
      : env_(env), inputs_(std::move(inputs)) {
    for (const auto& in : inputs_)
      if (in.node < 0) throw GraphError("connect: an input without an operator");
  }

  /// One callable per input, `Out(const In_i&)`, all returning the same `Out`.
  template <detail::Callable... Fs>
  requires(sizeof...(Fs) == sizeof...(Ins)) auto comap(Fs&&... fs) {
    static_assert((std::is_invocable_v<std::decay_t<Fs>&, const Ins&> && ...),
                  "comap: the i-th callable must take const In_i& (the i-th input's record)");
    using Out = std::remove_cvref_t<
        std::invoke_result_t<std::tuple_element_t<0, std::tuple<std::decay_t<Fs>...>>&,
                             const std::tuple_element_t<0, std::tuple<Ins...>>&>>;
    static_assert(
        (std::is_same_v<std::remove_cvref_t<std::invoke_result_t<std::decay_t<Fs>&, const Ins&>>,
                        Out> &&
         ...),
        "comap: every callable must return the same type");
    using Fn = std::tuple<std::decay_t<Fs>...>;
    return add<Out>("comap", [fn = Fn(std::forward<Fs>(fs)...)] {
      return std::make_unique<detail::CoMapInstance<Out, Fn, Ins...>>(fn);
    });
  }
  /// `F` derives from `CoMapFunction<Out, In0, In1, ...>`, built per instance from `args`.
  template <detail::FunctionClass F, class... A>
  DataStream<typename F::output_type> comap(A&&... args) {
    using Out = typename F::output_type;
    static_assert(std::is_base_of_v<CoMapFunction<Out, Ins...>, F>,
                  "comap<F>: F must derive from sage::CoMapFunction<Out, In0, In1, ...> with the "
                  "inputs' record types in order");
    return add<Out>("comap", [a = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)] {
      return std::make_unique<detail::CoMapInstance<Out, std::unique_ptr<F>, Ins...>>(
          detail::construct_from<F>(a));
    });
  }

  /// One callable per input, `void(const In_i&, Collector<Out>&)`, any number
  /// of outputs per record.
  template <detail::Callable... Fs>
  requires(sizeof...(Fs) == sizeof...(Ins)) auto coflatmap(Fs&&... fs) {
    using Out = typename detail::flatmap_output<
        std::tuple_element_t<0, std::tuple<std::decay_t<Fs>...>>>::type;
    static_assert(
        (std::is_invocable_v<std::decay_t<Fs>&, const Ins&, Collector<Out>&> && ...),
        "coflatmap: the i-th callable must be void(const In_i&, sage::Collector<Out>&), one Out");
    using Fn = std::tuple<std::decay_t<Fs>...>;
    return add<Out>("coflatmap", [fn = Fn(std::forward<Fs>(fs)...)] {
      return std::make_unique<detail::CoFlatMapInstance<Out, Fn, Ins...>>(fn);
    });
  }
  /// `F` derives from `CoFlatMapFunction<Out, In0, In1, ...>`.
  template <detail::FunctionClass F, class... A>
  DataStream<typename F::output_type> coflatmap(A&&... args) {
    using Out = typename F::output_type;
    static_assert(std::is_base_of_v<CoFlatMapFunction<Out, Ins...>, F>,
                  "coflatmap<F>: F must derive from sage::CoFlatMapFunction<Out, In0, In1, ...> "
                  "with the inputs' record types in order");
    return add<Out>("coflatmap", [a = std::make_tuple(std::decay_t<A>(std::forward<A>(args))...)] {
      return std::make_unique<detail::CoFlatMapInstance<Out, std::unique_ptr<F>, Ins...>>(
          detail::construct_from<F>(a));
    });
  }

 protected:
  template <class Out, class Factory>
  DataStream<Out> add(const char* kind, Factory factory) {
    return detail::add_multi_input<Out, Ins...>(env_, kind, inputs_, std::move(factory));
  }

  Environment* env_;
  std::array<detail::StreamInput, sizeof...(Ins)> inputs_;
};

/// Connected streams that are all keyed by `K` (`ka.connect(kb)`): the same
/// operators, with `ctx().key<K>()` and keyed state shared by the inputs, and
/// `join<F>()`.
template <class K, class... Ins>
class KeyedConnectedStreams : public ConnectedStreams<Ins...> {
 public:
  using key_type = K;
  using ConnectedStreams<Ins...>::ConnectedStreams;

  /// `F` derives from `JoinFunction<K, L, R, Out>`: `left` per record of input
  /// 0, `right` per record of input 1, each with its key; it keeps what it must
  /// remember in keyed state.
  template <class F, class... A>
  DataStream<typename F::output_type> join(A&&... args) {
    static_assert(sizeof...(Ins) == 2, "join<F>: a join has two inputs");
    using L = std::tuple_element_t<0, std::tuple<Ins...>>;
    using R = std::tuple_element_t<1, std::tuple<Ins...>>;
    using Out = typename F::output_type;
    static_assert(std::is_base_of_v<JoinFunction<K, L, R, Out>, F>,
                  "join<F>: F must derive from sage::JoinFunction<K, L, R, Out> with the streams' "
                  "key and record types");
    return this->template add<Out>("join", [a = std::make_tuple(
                                                std::decay_t<A>(std::forward<A>(args))...)] {
      return std::make_unique<detail::JoinInstance<K, L, R, Out, F>>(detail::construct_from<F>(a));
    });
  }
};

/// The handle of a sink, for its own settings.
template <class T>
class DataStreamSink : public detail::OperatorSettings<DataStreamSink<T>> {
 public:
  DataStreamSink(Environment* env, int node) : env_(env), node_(node) {}
  [[nodiscard]] int node_id() const { return node_; }

 private:
  friend class detail::OperatorSettings<DataStreamSink<T>>;
  Environment* env_;
  int node_;
};

}  // namespace sage
