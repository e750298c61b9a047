#pragma once
/// @file datastream.hpp
/// `DataStream<T>`, `KeyedStream<T, K>` and `DataStreamSink<T>` (API.md section 3).
/// Every call records a node in the environment's logical graph; nothing runs
/// before `submit()`.

#include <initializer_list>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <sage/collected.hpp>
#include <sage/detail/format_record.hpp>
#include <sage/detail/graph.hpp>
#include <sage/detail/key_selector.hpp>
#include <sage/detail/time_operators.hpp>
#include <sage/detail/traits.hpp>
#include <sage/detail/typed_node.hpp>
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

namespace detail {

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
    node.parallelism_of_input = true;
    return out;
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
  template <class, class>
  friend class ::sage::WindowedStream;
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
    detail::WindowSpec spec;
    switch (assigner.kind) {
      case WindowAssigner::Kind::tumbling:
        spec.kind = detail::WindowSpec::Kind::tumbling;
        spec.size = assigner.size_ms;
        if (spec.size <= 0)
          throw GraphError("a tumbling window's size must be positive, got " +
                           std::to_string(spec.size) + " ms");
        break;
      case WindowAssigner::Kind::sliding:
        spec.kind = detail::WindowSpec::Kind::sliding;
        spec.size = assigner.size_ms;
        spec.slide = assigner.slide_ms;
        if (spec.size <= 0 || spec.slide <= 0)
          throw GraphError("a sliding window's size and slide must be positive, got " +
                           std::to_string(spec.size) + " ms and " + std::to_string(spec.slide) +
                           " ms");
        break;
      case WindowAssigner::Kind::session:
        spec.kind = detail::WindowSpec::Kind::session;
        spec.gap = assigner.gap_ms;
        if (spec.gap <= 0)
          throw GraphError("a session window's gap must be positive, got " +
                           std::to_string(spec.gap) + " ms");
        break;
    }
    spec.event_time = detail::EnvAccess::graph(*this->env_).nodes[this->node_]->timestamped;
    return WindowedStream<T, K>(*this, std::move(spec));
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

  template <class, class>
  friend class WindowedStream;
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
    return keyed_.template add_transform<Out>("window", [fn = std::move(fn), spec = spec_] {
      return std::make_unique<detail::WindowInstance<T, K, Fn>>(fn, spec);
    });
  }

  KeyedStream<T, K> keyed_;
  detail::WindowSpec spec_;
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
