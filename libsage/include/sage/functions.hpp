#pragma once
/// @file functions.hpp
/// The function classes a user derives from (API.md section 4), and the
/// `Collector` and `SourceContext` handed to them.

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>

#include <sage/detail/record_flow.hpp>
#include <sage/future.hpp>
#include <sage/runtime_context.hpp>

namespace sage {

namespace detail {
struct FunctionAccess;
}

/// The base of every function class. `open` runs once per instance before the
/// first record; `close` exactly once after the last record of a job that ends
/// normally (on failure or cancellation only the destructor runs).
class BaseFunction {
 public:
  virtual ~BaseFunction() = default;
  virtual void open(RuntimeContext& /*ctx*/) {}
  virtual void close() {}

  /// This instance's context; valid from `open` on.
  RuntimeContext& ctx() {
    if (ctx_ == nullptr) throw std::logic_error("sage: ctx() used before open()");
    return *ctx_;
  }

 private:
  friend struct detail::FunctionAccess;
  RuntimeContext* ctx_ = nullptr;
};

namespace detail {
struct FunctionAccess {
  static void bind(BaseFunction& f, RuntimeContext& ctx) { f.ctx_ = &ctx; }
};
}  // namespace detail

/// Hands records downstream from a flatmap (any number per input record).
template <class T>
class Collector {
 public:
  explicit Collector(detail::FanOut<T>& out, uint64_t& count) : out_(&out), count_(&count) {}
  void collect(const T& x) {
    ++*count_;
    out_->push(x);
  }
  void collect(T&& x) {
    ++*count_;
    out_->push(std::move(x));
  }
  /// Same as `collect`.
  void operator()(T x) { collect(std::move(x)); }

 private:
  detail::FanOut<T>* out_;
  uint64_t* count_;
};

/// Handed to `SourceFunction::execute`: `emit` any number of records per call,
/// `stop()` to end the stream after this call.
template <class T>
class SourceContext {
 public:
  SourceContext(detail::FanOut<T>& out, uint64_t& count) : out_(&out), count_(&count) {}
  void emit(const T& x) {
    ++*count_;
    out_->push(x);
  }
  void emit(T&& x) {
    ++*count_;
    out_->push(std::move(x));
  }
  /// Ends the stream once the current call returns.
  void stop() { stopped_ = true; }
  [[nodiscard]] bool stopped() const { return stopped_; }

 private:
  detail::FanOut<T>* out_;
  uint64_t* count_;
  bool stopped_ = false;
};

template <class In, class Out>
class MapFunction : public BaseFunction {
 public:
  using input_type = In;
  using output_type = Out;
  virtual Out execute(const In& x) = 0;
};

/// A map whose result comes later: `stream.map_async<F>(opts, args...)`
/// (API.md section 9). `execute` starts the work (a `call_service_async`, a
/// request to any client through a `Promise`) and returns its future.
template <class In, class Out>
class AsyncFunction : public BaseFunction {
 public:
  using input_type = In;
  using output_type = Out;
  virtual Future<Out> execute(const In& x) = 0;
};

/// How `map_async` runs its calls: at most `capacity` in flight per instance
/// (a full instance takes no input: backpressure); results in input order if
/// `ordered`, else as they complete; a call without a result after `timeout`
/// frees its slot at once and counts as failed; a failed call is started again
/// up to `retries` times (after 100 ms, doubling), then fails the job.
struct async_options {
  size_t capacity = 100;
  bool ordered = true;
  std::chrono::milliseconds timeout{30'000};
  int retries = 0;
};

template <class T>
class FilterFunction : public BaseFunction {
 public:
  using input_type = T;
  using output_type = T;
  virtual bool execute(const T& x) = 0;
};

template <class In, class Out>
class FlatMapFunction : public BaseFunction {
 public:
  using input_type = In;
  using output_type = Out;
  virtual void execute(const In& x, Collector<Out>& out) = 0;
};

template <class T>
class SinkFunction : public BaseFunction {
 public:
  using input_type = T;
  virtual void execute(const T& x) = 0;
};

/// A bounded source: `execute` returns the next record, `std::nullopt` at the end.
template <class T>
class BatchFunction : public BaseFunction {
 public:
  using output_type = T;
  virtual std::optional<T> execute() = 0;
};

/// An unbounded source: `execute` is called again and again; a call that emits
/// nothing means "nothing now", `ctx.stop()` ends the stream.
template <class T>
class SourceFunction : public BaseFunction {
 public:
  using output_type = T;
  virtual void execute(SourceContext<T>& ctx) = 0;
};

/// Records of one key at a time, with keyed state and timers
/// (`KeyedStream::process<F>()`): `process` per record; `on_timer(ts, out)` once
/// per timer registered with `ctx().timers()`, with `ctx().key<K>()` the
/// timer's key; `ctx().current_watermark()` is the event time reached.
template <class K, class In, class Out>
class KeyedProcessFunction : public BaseFunction {
 public:
  using key_type = K;
  using input_type = In;
  using output_type = Out;
  virtual void process(const In& x, Collector<Out>& out) = 0;
  virtual void on_timer(int64_t /*timestamp*/, Collector<Out>& /*out*/) {}
};

namespace detail {
/// The per-input methods of `CoMapFunction` and `CoFlatMapFunction`, for 2 to 5 inputs.
template <class Out, class... Ins>
struct CoMapMethods {
  static_assert(sizeof...(Ins) >= 2 && sizeof...(Ins) <= 5,
                "CoMapFunction<Out, In0, In1, ...>: 2 to 5 inputs");
};
template <class Out, class A, class B>
struct CoMapMethods<Out, A, B> {
  virtual ~CoMapMethods() = default;
  virtual Out map0(const A& x) = 0;
  virtual Out map1(const B& x) = 0;
};
template <class Out, class A, class B, class C>
struct CoMapMethods<Out, A, B, C> : CoMapMethods<Out, A, B> {
  virtual Out map2(const C& x) = 0;
};
template <class Out, class A, class B, class C, class D>
struct CoMapMethods<Out, A, B, C, D> : CoMapMethods<Out, A, B, C> {
  virtual Out map3(const D& x) = 0;
};
template <class Out, class A, class B, class C, class D, class E>
struct CoMapMethods<Out, A, B, C, D, E> : CoMapMethods<Out, A, B, C, D> {
  virtual Out map4(const E& x) = 0;
};

template <class Out, class... Ins>
struct CoFlatMapMethods {
  static_assert(sizeof...(Ins) >= 2 && sizeof...(Ins) <= 5,
                "CoFlatMapFunction<Out, In0, In1, ...>: 2 to 5 inputs");
};
template <class Out, class A, class B>
struct CoFlatMapMethods<Out, A, B> {
  virtual ~CoFlatMapMethods() = default;
  virtual void flatmap0(const A& x, Collector<Out>& out) = 0;
  virtual void flatmap1(const B& x, Collector<Out>& out) = 0;
};
template <class Out, class A, class B, class C>
struct CoFlatMapMethods<Out, A, B, C> : CoFlatMapMethods<Out, A, B> {
  virtual void flatmap2(const C& x, Collector<Out>& out) = 0;
};
template <class Out, class A, class B, class C, class D>
struct CoFlatMapMethods<Out, A, B, C, D> : CoFlatMapMethods<Out, A, B, C> {
  virtual void flatmap3(const D& x, Collector<Out>& out) = 0;
};
template <class Out, class A, class B, class C, class D, class E>
struct CoFlatMapMethods<Out, A, B, C, D, E> : CoFlatMapMethods<Out, A, B, C, D> {
  virtual void flatmap4(const E& x, Collector<Out>& out) = 0;
};
}  // namespace detail

/// One method per input of `connect` (2 to 5): `Out map0(const In0&)`,
/// `Out map1(const In1&)`, ...; on a keyed connect `ctx().key<K>()` is the
/// record's key and keyed state is shared by the inputs.
template <class Out, class... Ins>
class CoMapFunction : public BaseFunction, public detail::CoMapMethods<Out, Ins...> {
 public:
  using output_type = Out;
};

/// As `CoMapFunction`, with any number of outputs per record:
/// `void flatmap0(const In0&, Collector<Out>&)`, `flatmap1`, ...
template <class Out, class... Ins>
class CoFlatMapFunction : public BaseFunction, public detail::CoFlatMapMethods<Out, Ins...> {
 public:
  using output_type = Out;
};

/// `ka.connect(kb).join<F>()`: the records of both keyed inputs, one key at a
/// time: `left` for each record of the first input, `right` for the second;
/// what it must remember it keeps in keyed state (shared by both sides).
template <class K, class L, class R, class Out>
class JoinFunction : public BaseFunction {
 public:
  using key_type = K;
  using left_type = L;
  using right_type = R;
  using output_type = Out;
  virtual void left(const K& key, const L& x, Collector<Out>& out) = 0;
  virtual void right(const K& key, const R& x, Collector<Out>& out) = 0;
};

/// Custom partitioning: the downstream instance of a record, in `[0, n)`.
template <class T>
class Partitioner {
 public:
  virtual ~Partitioner() = default;
  virtual size_t partition(const T& record, size_t n) = 0;
};

}  // namespace sage
