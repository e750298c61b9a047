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
#include <sage/detail/traits.hpp>
#include <sage/detail/typed_node.hpp>
#include <sage/functions.hpp>

namespace sage {

class Environment;
template <class T>
class DataStream;
template <class T, class K>
class KeyedStream;
template <class T>
class DataStreamSink;

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
