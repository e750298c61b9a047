#pragma once
/// @file operators.hpp
/// The typed building blocks of a task: one instance template per operator kind,
/// the channel writer that partitions a stream over network channels, the input
/// port that feeds arriving batches into an operator, and `TypedNode`, which
/// makes them from a logical graph node.

#include <algorithm>
#include <concepts>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <sage/collected.hpp>
#include <sage/detail/footprint.hpp>
#include <sage/detail/graph.hpp>
#include <sage/detail/record_flow.hpp>
#include <sage/detail/task_body.hpp>
#include <sage/functions.hpp>

namespace sage::detail {

// -- holding a user function -----------------------------------------------------

/// A function class is held through a `unique_ptr` (built per instance from its
/// constructor arguments); a lambda or function object by value (copied per instance).
template <class F>
F& user_fn(F& f) {
  return f;
}
template <class F>
F& user_fn(std::unique_ptr<F>& f) {
  return *f;
}

template <class F>
void open_user_fn(F& f, RuntimeContext& ctx) {
  auto& g = user_fn(f);
  if constexpr (std::is_base_of_v<BaseFunction, std::remove_cvref_t<decltype(g)>>) {
    FunctionAccess::bind(g, ctx);
    g.open(ctx);
  }
}

template <class F>
void close_user_fn(F& f) {
  auto& g = user_fn(f);
  if constexpr (std::is_base_of_v<BaseFunction, std::remove_cvref_t<decltype(g)>>) g.close();
}

/// Runs `body`; a throw becomes an `OperatorFailure` naming `ctx`'s operator.
template <class Body>
decltype(auto) guarded(const RuntimeContext& ctx, Body&& body) {
  try {
    return body();
  } catch (...) {
    rethrow_as_operator_failure(ctx);
  }
}

/// Points the context at the record being processed (for `ctx().key<K>()`) for
/// the duration of one user call, and no longer: the record may be gone after.
class CurrentRecord {
 public:
  CurrentRecord(RuntimeContext& ctx, const void* record) : ctx_(&ctx) {
    ContextAccess::set_current_record(ctx, record);
  }
  ~CurrentRecord() { ContextAccess::set_current_record(*ctx_, nullptr); }
  CurrentRecord(const CurrentRecord&) = delete;
  CurrentRecord& operator=(const CurrentRecord&) = delete;

 private:
  RuntimeContext* ctx_;
};

/// An operator that emits records of type `Out`.
template <class Out>
class Emitter {
 public:
  FanOut<Out>& out() { return out_; }

 protected:
  FanOut<Out> out_;
};

/// Operators whose instance holds one user function `F`: open/close handling.
template <class F>
class WithFunction : public OperatorInstance {
 public:
  explicit WithFunction(F f) : fn_(std::move(f)) {}
  void open() override {
    guarded(ctx_, [&] { open_user_fn(fn_, ctx_); });
  }
  void close() override {
    guarded(ctx_, [&] { close_user_fn(fn_); });
  }

 protected:
  F fn_;
};

// -- operator instances ----------------------------------------------------------

template <class In, class Out, class F>
class MapInstance final : public WithFunction<F>, public Output<In>, public Emitter<Out> {
 public:
  using WithFunction<F>::WithFunction;
  void push(In&& x) override {
    ++this->records_in;
    Out r = guarded(this->ctx_, [&]() -> Out {
      CurrentRecord current(this->ctx_, &x);
      auto& g = user_fn(this->fn_);
      if constexpr (std::is_base_of_v<BaseFunction, std::remove_cvref_t<decltype(g)>>)
        return g.execute(std::as_const(x));
      else
        return g(std::as_const(x));
    });
    ++this->records_out;
    this->out_.push(std::move(r));
  }
};

template <class T, class F>
class FilterInstance final : public WithFunction<F>, public Output<T>, public Emitter<T> {
 public:
  using WithFunction<F>::WithFunction;
  void push(T&& x) override {
    ++this->records_in;
    const bool keep = guarded(this->ctx_, [&]() -> bool {
      CurrentRecord current(this->ctx_, &x);
      auto& g = user_fn(this->fn_);
      if constexpr (std::is_base_of_v<BaseFunction, std::remove_cvref_t<decltype(g)>>)
        return g.execute(std::as_const(x));
      else
        return static_cast<bool>(g(std::as_const(x)));
    });
    if (keep) {
      ++this->records_out;
      this->out_.push(std::move(x));
    }
  }
};

/// Flatmap: the function takes a `Collector<Out>&`, or (for lambdas) returns a
/// range of `Out`, whose elements are emitted in order.
template <class In, class Out, class F>
class FlatMapInstance final : public WithFunction<F>, public Output<In>, public Emitter<Out> {
 public:
  using WithFunction<F>::WithFunction;
  void push(In&& x) override {
    ++this->records_in;
    Collector<Out> collector(this->out_, this->records_out);
    guarded(this->ctx_, [&] {
      CurrentRecord current(this->ctx_, &x);
      auto& g = user_fn(this->fn_);
      using G = std::remove_cvref_t<decltype(g)>;
      if constexpr (std::is_base_of_v<BaseFunction, G>) {
        g.execute(std::as_const(x), collector);
      } else if constexpr (std::is_invocable_v<G&, const In&, Collector<Out>&>) {
        g(std::as_const(x), collector);
      } else {
        for (auto&& y : g(std::as_const(x))) collector.collect(Out(std::forward<decltype(y)>(y)));
      }
    });
  }
};

template <class T, class F>
class SinkInstance final : public WithFunction<F>, public Output<T> {
 public:
  using WithFunction<F>::WithFunction;
  void push(T&& x) override {
    ++this->records_in;
    guarded(this->ctx_, [&] {
      CurrentRecord current(this->ctx_, &x);
      auto& g = user_fn(this->fn_);
      if constexpr (std::is_base_of_v<BaseFunction, std::remove_cvref_t<decltype(g)>>)
        g.execute(std::as_const(x));
      else
        g(std::as_const(x));
    });
  }
};

/// `collect()`: hands records to the program's buffer, holding its task back
/// while the program reads behind.
template <class T>
class CollectInstance final : public OperatorInstance, public Output<T>, public HoldBack {
 public:
  explicit CollectInstance(std::shared_ptr<CollectBuffer<T>> buffer) : buffer_(std::move(buffer)) {}
  void open() override {}
  void close() override {}
  void push(T&& x) override {
    ++records_in;
    buffer_->push(std::move(x));
  }
  [[nodiscard]] bool holding() const override { return buffer_->full(); }
  void wake_when_ready(std::function<void()> wake) override {
    buffer_->wake_when_ready(std::move(wake));
  }

 private:
  std::shared_ptr<CollectBuffer<T>> buffer_;
};

/// "100 items, digest 0123abcd...": what a `from_batch` source holds, so that a
/// task host that built other items is noticed. Items are compared by their
/// codec's bytes; without a codec, by their bytes where those are the value,
/// else only their number is.
template <class T>
std::string describe_items(const std::vector<T>& items) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  auto mix = [&h](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  };
  const char* how = "";
  if constexpr (has_codec<T>) {
    std::vector<uint8_t> bytes;
    for (const auto& x : items) {
      bytes.clear();
      ByteWriter w(bytes);
      Codec<T>::encode(w, x);
      const uint64_t n = bytes.size();
      mix(reinterpret_cast<const uint8_t*>(&n), sizeof n);
      mix(bytes.data(), bytes.size());
    }
  } else if constexpr (std::is_trivially_copyable_v<T> &&
                       std::has_unique_object_representations_v<T>) {
    mix(reinterpret_cast<const uint8_t*>(items.data()), items.size() * sizeof(T));
  } else {
    how = " (no codec: only their number is compared)";
  }
  char digest[17];
  std::snprintf(digest, sizeof digest, "%016llx", static_cast<unsigned long long>(h));
  return std::to_string(items.size()) + " items, digest " + digest + how;
}

/// `from_batch`: the items of a container, shared by the instances; instance i
/// emits the items at positions i, i+p, i+2p, ...
template <class T>
class ItemsSourceInstance final : public SourceInstance, public Emitter<T> {
 public:
  explicit ItemsSourceInstance(std::shared_ptr<const std::vector<T>> items)
      : items_(std::move(items)) {}
  void open() override { next_ = static_cast<size_t>(ctx_.index()); }
  void close() override {}
  SourceStep step(StepBudget& budget) override {
    const size_t max_records = budget.max_records;  // no user code here: no clock needed
    const auto& items = *items_;
    const auto stride = static_cast<size_t>(ctx_.parallelism());
    size_t emitted = 0;
    while (emitted < max_records && next_ < items.size() && !budget.output_blocked()) {
      ++records_out;
      this->out_.push(items[next_]);
      next_ += stride;
      ++emitted;
    }
    return {emitted, next_ >= items.size()};
  }

 private:
  std::shared_ptr<const std::vector<T>> items_;
  size_t next_ = 0;
};

/// `from_collection<F>`: a `BatchFunction<T>` per instance; `nullopt` ends it.
template <class T, class F>
class BatchSourceInstance final : public SourceInstance, public Emitter<T> {
 public:
  explicit BatchSourceInstance(std::unique_ptr<F> f) : fn_(std::move(f)) {}
  void open() override {
    guarded(ctx_, [&] { open_user_fn(fn_, ctx_); });
  }
  void close() override {
    guarded(ctx_, [&] { close_user_fn(fn_); });
  }
  SourceStep step(StepBudget& budget) override {
    size_t emitted = 0;
    while (emitted < budget.max_records && !budget.out_of_time()) {
      std::optional<T> next = guarded(ctx_, [&] { return fn_->execute(); });
      if (!next) return {emitted, true};
      ++records_out;
      ++emitted;
      this->out_.push(std::move(*next));
    }
    return {emitted, false};
  }

 private:
  std::unique_ptr<F> fn_;
};

/// `from_source<F>`: a `SourceFunction<T>` per instance, called again and again.
template <class T, class F>
class FunctionSourceInstance final : public SourceInstance, public Emitter<T> {
 public:
  explicit FunctionSourceInstance(std::unique_ptr<F> f) : fn_(std::move(f)) {}
  void open() override {
    guarded(ctx_, [&] { open_user_fn(fn_, ctx_); });
  }
  void close() override {
    guarded(ctx_, [&] { close_user_fn(fn_); });
  }
  SourceStep step(StepBudget& budget) override {
    SourceContext<T> sctx(this->out_, records_out);
    const uint64_t start = records_out;
    while (!sctx.stopped() && records_out - start < budget.max_records && !budget.out_of_time()) {
      const uint64_t before = records_out;
      guarded(ctx_, [&] { fn_->execute(sctx); });
      if (records_out == before) break;  // nothing now: let the task do other work
    }
    return {static_cast<size_t>(records_out - start), sctx.stopped()};
  }

 private:
  std::unique_ptr<F> fn_;
};

// -- between tasks ---------------------------------------------------------------

/// Makes the per-instance partitioner of a custom edge.
template <class T>
class PartitionerFactory {
 public:
  virtual ~PartitionerFactory() = default;
  [[nodiscard]] virtual std::function<size_t(const T&, size_t)> make() const = 0;
};

template <class T, class P>
class TypedPartitionerFactory final : public PartitionerFactory<T> {
 public:
  explicit TypedPartitionerFactory(P p) : prototype_(std::move(p)) {}
  [[nodiscard]] std::function<size_t(const T&, size_t)> make() const override {
    auto p = std::make_shared<P>(prototype_);
    return [p](const T& x, size_t n) { return static_cast<size_t>(p->partition(x, n)); };
  }

 private:
  P prototype_;
};

/// Partitions the records of one edge over its channels, one batch buffer per
/// channel, and ships a buffer through the transport once it holds a batch.
template <class T>
class ChannelWriter final : public Output<T>, public ChannelWriterBase {
 public:
  ChannelWriter(const EdgeRouting& routing, WriterSetup setup, const RuntimeContext& ctx)
      : kind_(routing.kind),
        setup_(std::move(setup)),
        buffers_(setup_.channels.size()),
        bytes_(setup_.channels.size(), 0),
        ctx_(&ctx) {
    // Records of one size: the byte bound is a count bound, with no cost per record.
    if constexpr (fixed_footprint<T>)
      setup_.batch_size =
          std::max<size_t>(1, std::min(setup_.batch_size, setup_.batch_bytes / sizeof(T)));
    if (kind_ == Routing::hash)
      key_ = std::static_pointer_cast<const KeySelector<T>>(routing.key_selector)->clone_selector();
    if (kind_ == Routing::custom)
      custom_ = std::static_pointer_cast<const PartitionerFactory<T>>(routing.partitioner)->make();
    next_ = static_cast<size_t>(setup_.instance) % buffers_.size();
    for (auto& b : buffers_) b.reserve(setup_.batch_size);
  }

  void push(T&& x) override {
    const size_t n = buffers_.size();
    size_t i = 0;
    switch (kind_) {
      case Routing::hash:
        i = key_hash(x) % n;
        break;
      case Routing::round_robin:
        i = next_;
        next_ = (next_ + 1 == n) ? 0 : next_ + 1;
        break;
      case Routing::custom:
        i = guarded(*ctx_, [&] { return custom_(x, n); });
        if (i >= n)
          throw OperatorFailure(ctx_->operator_name(), ctx_->index(),
                                "partitioner returned " + std::to_string(i) + " for " +
                                    std::to_string(n) + " instances");
        break;
      case Routing::broadcast:
        for (size_t j = 0; j + 1 < n; ++j) append(j, T(x));
        i = n - 1;
        break;
      default:  // forward: a single channel
        break;
    }
    append(i, std::move(x));
  }

  void flush() override {
    for (size_t i = 0; i < buffers_.size(); ++i)
      if (!buffers_[i].empty()) ship(i);
  }

  [[nodiscard]] bool has_partial() const override {
    for (const auto& b : buffers_)
      if (!b.empty()) return true;
    return false;
  }

 private:
  /// The user's key selector runs here, in the operator whose output is keyed:
  /// a throw fails the job under that operator's name.
  size_t key_hash(const T& x) {
    try {
      return key_->hash(x);
    } catch (const std::exception& e) {
      throw OperatorFailure(ctx_->operator_name(), ctx_->index(),
                            std::string("its key selector (key_by) threw: ") + e.what());
    } catch (...) {
      throw OperatorFailure(ctx_->operator_name(), ctx_->index(),
                            "its key selector (key_by) threw an unknown exception");
    }
  }

  void append(size_t i, T&& x) {
    auto& b = buffers_[i];
    if constexpr (fixed_footprint<T>) {
      b.push_back(std::move(x));
      if (b.size() >= setup_.batch_size) ship(i);
    } else {
      const size_t bytes = footprint(x);
      if (bytes > setup_.record_max_bytes)
        throw OperatorFailure(ctx_->operator_name(), ctx_->index(),
                              "a record of " + std::to_string(bytes) +
                                  " bytes exceeds record.max_bytes (" +
                                  std::to_string(setup_.record_max_bytes) + ")");
      b.push_back(std::move(x));
      bytes_[i] += bytes;
      if (b.size() >= setup_.batch_size || bytes_[i] >= setup_.batch_bytes) ship(i);
    }
  }

  void ship(size_t i) {
    auto batch = std::make_shared<Batch<T>>(std::move(buffers_[i]));
    bytes_[i] = 0;
    buffers_[i] = std::vector<T>();
    buffers_[i].reserve(setup_.batch_size);
    setup_.transport->send(setup_.channels[i], std::move(batch));
  }

  Routing kind_;
  WriterSetup setup_;
  std::vector<std::vector<T>> buffers_;
  std::vector<size_t> bytes_;  ///< the footprint of each buffer's records
  std::unique_ptr<KeySelector<T>> key_;
  std::function<size_t(const T&, size_t)> custom_;
  size_t next_ = 0;
  const RuntimeContext* ctx_;
};

/// Feeds arriving batches of `T` into an operator instance.
template <class T>
class InputPort final : public InputPortBase {
 public:
  InputPort(Output<T>* target, RuntimeContext& ctx, const KeyExtractorBase* key)
      : target_(target), ctx_(&ctx), key_(key ? key->clone_extractor() : nullptr) {}
  size_t consume(BatchBase& batch) override {
    ContextAccess::set_key_extractor(*ctx_, key_.get());
    if (auto* encoded = dynamic_cast<EncodedBatch*>(&batch)) {
      auto records = decode_batch<T>(*encoded);
      return push_all(records);
    }
    return push_all(static_cast<Batch<T>&>(batch).records);
  }

 private:
  size_t push_all(std::vector<T>& records) {
    if constexpr (std::is_same_v<T, bool>) {
      for (bool b : records) target_->push(bool(b));  // std::vector<bool> has no bool&
    } else {
      for (auto& r : records) target_->push(std::move(r));
    }
    return records.size();
  }

  Output<T>* target_;
  RuntimeContext* ctx_;
  std::unique_ptr<KeyExtractorBase> key_;  // this instance's copy of the key selector
};

// -- the typed node ----------------------------------------------------------------

/// A logical node consuming `In` and emitting `Out` (`void` for sources and
/// sinks respectively), with a factory for its instances.
template <class In, class Out>
class TypedNode final : public Node {
 public:
  using Factory = std::function<std::unique_ptr<OperatorInstance>()>;
  TypedNode(NodeKind kind, std::string kind_name, Factory factory)
      : Node(kind, std::move(kind_name)), factory_(std::move(factory)) {}

  [[nodiscard]] std::shared_ptr<Node> clone() const override {
    return std::make_shared<TypedNode>(*this);
  }

  [[nodiscard]] bool output_has_codec() const override {
    if constexpr (std::is_void_v<Out>)
      return false;
    else
      return has_codec<Out>;
  }

  [[nodiscard]] std::string output_type_name() const override {
    if constexpr (std::is_void_v<Out>)
      return "void";
    else
      return type_name(typeid(Out));
  }

  [[nodiscard]] std::unique_ptr<OperatorInstance> instantiate() const override {
    return factory_();
  }

  void chain(OperatorInstance& from, OperatorInstance& to) const override {
    if constexpr (std::is_void_v<Out>) {
      throw std::logic_error("sage: a sink has no output to chain");
    } else {
      emitter(from).out().add(&input_of<Out>(to));
    }
  }

  [[nodiscard]] std::unique_ptr<ChannelWriterBase> make_writer(OperatorInstance& from,
                                                               const EdgeRouting& routing,
                                                               WriterSetup setup) const override {
    if constexpr (std::is_void_v<Out>) {
      throw std::logic_error("sage: a sink has no output to write");
    } else {
      auto writer = std::make_unique<ChannelWriter<Out>>(routing, std::move(setup), from.context());
      emitter(from).out().add(writer.get());
      return writer;
    }
  }

  [[nodiscard]] std::unique_ptr<InputPortBase> make_input_port(
      OperatorInstance& to, const EdgeRouting& routing) const override {
    if constexpr (std::is_void_v<In>) {
      throw std::logic_error("sage: a source has no input");
    } else {
      return std::make_unique<InputPort<In>>(&input_of<In>(to), to.context(),
                                             routing.key_extractor.get());
    }
  }

 private:
  template <class T>
  static Output<T>& input_of(OperatorInstance& inst) {
    auto* in = dynamic_cast<Output<T>*>(&inst);
    if (in == nullptr)
      throw std::logic_error("sage: chained operators disagree on the record type");
    return *in;
  }
  template <class T = Out>
  static Emitter<T>& emitter(OperatorInstance& inst) {
    auto* e = dynamic_cast<Emitter<T>*>(&inst);
    if (e == nullptr) throw std::logic_error("sage: operator does not emit the expected type");
    return *e;
  }

  Factory factory_;
};

}  // namespace sage::detail
