#pragma once
/// @file operator_instances.hpp
/// The typed operator instances, one template per operator kind (map, filter,
/// flat_map, sink, collect, the sources), and how they hold and call the
/// user's function. See operator_instance.hpp for the rules every instance keeps.

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
#include <sage/detail/operator_instance.hpp>
#include <sage/detail/record_flow.hpp>
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

/// Calls the user's function on one record: a function class's `execute`, else
/// the callable itself, with the record as `const&` and `extra` after it (a
/// `Collector`); the context points at the record meanwhile, and a throw
/// becomes an `OperatorFailure` naming the operator.
template <class F, class T, class... Extra>
decltype(auto) invoke_user(F& f, RuntimeContext& ctx, const T& x, Extra&... extra) {
  return guarded(ctx, [&]() -> decltype(auto) {
    CurrentRecord current(ctx, &x);
    auto& g = user_fn(f);
    if constexpr (std::is_base_of_v<BaseFunction, std::remove_cvref_t<decltype(g)>>)
      return g.execute(x, extra...);
    else
      return g(x, extra...);
  });
}

/// An operator that emits records of type `Out`.
template <class Out>
class Emitter {
 public:
  FanOut<Out>& out() { return out_; }

 protected:
  FanOut<Out> out_;
};

/// Operators whose instance holds one user function `F`: open/close handling.
/// `Base` is `OperatorInstance`, or `SourceInstance` for a source.
template <class F, class Base = OperatorInstance>
class WithFunction : public Base {
 public:
  explicit WithFunction(F f) : fn_(std::move(f)) {}
  void open() override {
    guarded(this->ctx_, [&] { open_user_fn(fn_, this->ctx_); });
  }
  void close() override {
    guarded(this->ctx_, [&] { close_user_fn(fn_); });
  }

 protected:
  F fn_;
};

// -- operator instances ----------------------------------------------------------

template <class In, class Out, class F>
class MapInstance final : public WithFunction<F>, public Receiver<In>, public Emitter<Out> {
 public:
  using WithFunction<F>::WithFunction;
  void push(In&& x) override {
    ++this->records_in;
    Out r = invoke_user(this->fn_, this->ctx_, std::as_const(x));
    ++this->records_out;
    this->out_.push(std::move(r));
  }
};

template <class T, class F>
class FilterInstance final : public WithFunction<F>, public Receiver<T>, public Emitter<T> {
 public:
  using WithFunction<F>::WithFunction;
  void push(T&& x) override {
    ++this->records_in;
    const bool keep = static_cast<bool>(invoke_user(this->fn_, this->ctx_, std::as_const(x)));
    if (keep) {
      ++this->records_out;
      this->out_.push(std::move(x));
    }
  }
};

/// `union_with` and a future (`from_future`): the records of every input, as they come.
template <class T>
class UnionInstance final : public OperatorInstance, public Receiver<T>, public Emitter<T> {
 public:
  void open() override {}
  void close() override {}
  void push(T&& x) override {
    ++records_in;
    ++records_out;
    this->out_.push(std::move(x));
  }
};

/// `KeyedStream::reduce`: per key, the value so far (in keyed state) combined
/// with each record by `f(so_far, record)`; the new value is emitted after
/// every record.
template <class T, class F>
class ReduceInstance final : public WithFunction<F>, public Receiver<T>, public Emitter<T> {
 public:
  using WithFunction<F>::WithFunction;
  void push(T&& x) override {
    ++this->records_in;
    if (so_far_ == nullptr) so_far_ = &this->ctx_.template value_state<T>("reduce");
    T next = guarded(this->ctx_, [&]() -> T {
      CurrentRecord current(this->ctx_, &x);  // the key of `x` is the state's key
      std::optional<T> prev = so_far_->value();
      T r =
          prev ? static_cast<T>(user_fn(this->fn_)(std::as_const(*prev), std::as_const(x))) : T(x);
      so_far_->update(r);
      return r;
    });
    ++this->records_out;
    this->out_.push(std::move(next));
  }

 private:
  ValueState<T>* so_far_ = nullptr;
};

/// Flatmap: the function takes a `Collector<Out>&`, or (for lambdas) returns a
/// range of `Out`, whose elements are emitted in order.
template <class In, class Out, class F>
class FlatMapInstance final : public WithFunction<F>, public Receiver<In>, public Emitter<Out> {
 public:
  using WithFunction<F>::WithFunction;
  void push(In&& x) override {
    ++this->records_in;
    Collector<Out> collector(this->out_, this->records_out);
    using G = std::remove_cvref_t<decltype(user_fn(this->fn_))>;
    if constexpr (std::is_base_of_v<BaseFunction, G> ||
                  std::is_invocable_v<G&, const In&, Collector<Out>&>) {
      invoke_user(this->fn_, this->ctx_, std::as_const(x), collector);
    } else {
      guarded(this->ctx_, [&] {  // the range is read inside: its iteration may throw too
        CurrentRecord current(this->ctx_, &x);
        for (auto&& y : user_fn(this->fn_)(std::as_const(x)))
          collector.collect(Out(std::forward<decltype(y)>(y)));
      });
    }
  }
};

template <class T, class F>
class SinkInstance final : public WithFunction<F>, public Receiver<T> {
 public:
  using WithFunction<F>::WithFunction;
  void push(T&& x) override {
    ++this->records_in;
    invoke_user(this->fn_, this->ctx_, std::as_const(x));
  }
};

/// `collect()`: hands records to the program's buffer, holding its task back
/// while the program reads behind.
template <class T>
class CollectInstance final : public OperatorInstance, public Receiver<T>, public HoldBack {
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
class BatchSourceInstance final : public WithFunction<std::unique_ptr<F>, SourceInstance>,
                                  public Emitter<T> {
 public:
  using WithFunction<std::unique_ptr<F>, SourceInstance>::WithFunction;
  SourceStep step(StepBudget& budget) override {
    size_t emitted = 0;
    while (emitted < budget.max_records && !budget.out_of_time()) {
      std::optional<T> next = guarded(this->ctx_, [&] { return this->fn_->execute(); });
      if (!next) return {emitted, true};
      ++this->records_out;
      ++emitted;
      this->out_.push(std::move(*next));
    }
    return {emitted, false};
  }
};

/// `from_source<F>`: a `SourceFunction<T>` per instance, called again and again.
template <class T, class F>
class FunctionSourceInstance final : public WithFunction<std::unique_ptr<F>, SourceInstance>,
                                     public Emitter<T> {
 public:
  using WithFunction<std::unique_ptr<F>, SourceInstance>::WithFunction;
  SourceStep step(StepBudget& budget) override {
    auto& out = this->records_out;
    SourceContext<T> sctx(this->out_, out);
    const uint64_t start = out;
    while (!sctx.stopped() && out - start < budget.max_records && !budget.out_of_time()) {
      const uint64_t before = out;
      guarded(this->ctx_, [&] { this->fn_->execute(sctx); });
      if (out == before) break;  // nothing now: let the task do other work
    }
    return {static_cast<size_t>(out - start), sctx.stopped()};
  }
};

}  // namespace sage::detail
