#pragma once
/// @file multi_input.hpp
/// Operators with several inputs (`connect`): each input is a `Receiver` of its
/// own type that forwards to the operator with the input's index, so that two
/// inputs of one type stay apart. Here: `comap`, `coflatmap` and `join<F>`;
/// the joins on time are in joins.hpp. The node side is `MultiInputNode`
/// (typed_node.hpp), the API side `ConnectedStreams` (datastream.hpp).

#include <cstddef>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include <sage/detail/operator_instances.hpp>
#include <sage/functions.hpp>

namespace sage::detail {

/// The inputs of an operator with one input per type of `Ins`.
template <class... Ins>
class MultiInput {
 public:
  using Inputs = std::tuple<Ins...>;
  virtual ~MultiInput() = default;
  /// Input `I`, which the task's input port for edges into input `I` feeds.
  template <size_t I>
  Receiver<std::tuple_element_t<I, Inputs>>& input() {
    return *std::get<I>(inputs_);
  }

 protected:
  /// Input `I` of `Owner`: forwards each record to `owner->push_input<I>(record)`.
  template <class Owner, size_t I, class T>
  class Side final : public Receiver<T> {
   public:
    explicit Side(Owner* owner) : owner_(owner) {}
    void push(T&& x) override { owner_->template push_input<I>(std::move(x)); }

   private:
    Owner* owner_;
  };

  /// Called by the owner's constructor: input `I` calls `owner->push_input<I>`.
  template <class Owner>
  void bind_inputs(Owner* owner) {
    [&]<size_t... I>(std::index_sequence<I...>) {
      ((std::get<I>(inputs_) = std::make_unique<Side<Owner, I, Ins>>(owner)), ...);
    }
    (std::index_sequence_for<Ins...>{});
  }

 private:
  std::tuple<std::unique_ptr<Receiver<Ins>>...> inputs_;
};

/// The function of input `I` of a `comap`: a tuple of callables (one per
/// input), or a `CoMapFunction` class.
template <size_t I, class F, class T>
decltype(auto) call_co_map(F& f, const T& x) {
  if constexpr (requires { std::get<I>(f); }) {
    return std::get<I>(f)(x);
  } else {
    auto& g = user_fn(f);
    if constexpr (I == 0) return g.map0(x);
    if constexpr (I == 1) return g.map1(x);
    if constexpr (I == 2) return g.map2(x);
    if constexpr (I == 3) return g.map3(x);
    if constexpr (I == 4) return g.map4(x);
  }
}

template <size_t I, class F, class T, class Out>
void call_co_flatmap(F& f, const T& x, Collector<Out>& out) {
  if constexpr (requires { std::get<I>(f); }) {
    std::get<I>(f)(x, out);
  } else {
    auto& g = user_fn(f);
    if constexpr (I == 0) g.flatmap0(x, out);
    if constexpr (I == 1) g.flatmap1(x, out);
    if constexpr (I == 2) g.flatmap2(x, out);
    if constexpr (I == 3) g.flatmap3(x, out);
    if constexpr (I == 4) g.flatmap4(x, out);
  }
}

/// `connect(...).comap(f0, f1, ...)` or `comap<F>()`: one output per record of any input.
template <class Out, class F, class... Ins>
class CoMapInstance final : public WithFunction<F>, public MultiInput<Ins...>, public Emitter<Out> {
 public:
  explicit CoMapInstance(F f) : WithFunction<F>(std::move(f)) { this->bind_inputs(this); }

  template <size_t I, class T>
  void push_input(T&& x) {
    ++this->records_in;
    Out r = guarded(this->ctx_, [&]() -> Out {
      CurrentRecord current(this->ctx_, &x);
      return call_co_map<I>(this->fn_, std::as_const(x));
    });
    ++this->records_out;
    this->out_.push(std::move(r));
  }
};

/// `connect(...).coflatmap(f0, f1, ...)` or `coflatmap<F>()`.
template <class Out, class F, class... Ins>
class CoFlatMapInstance final : public WithFunction<F>,
                                public MultiInput<Ins...>,
                                public Emitter<Out> {
 public:
  explicit CoFlatMapInstance(F f) : WithFunction<F>(std::move(f)) { this->bind_inputs(this); }

  template <size_t I, class T>
  void push_input(T&& x) {
    ++this->records_in;
    Collector<Out> out(this->out_, this->records_out);
    guarded(this->ctx_, [&] {
      CurrentRecord current(this->ctx_, &x);
      call_co_flatmap<I>(this->fn_, std::as_const(x), out);
    });
  }
};

/// `ka.connect(kb).join<F>()`: a `JoinFunction<K, L, R, Out>` per instance,
/// `left` for records of input 0, `right` for input 1, with their key.
template <class K, class L, class R, class Out, class F>
class JoinInstance final : public WithFunction<std::unique_ptr<F>>,
                           public MultiInput<L, R>,
                           public Emitter<Out> {
 public:
  explicit JoinInstance(std::unique_ptr<F> f) : WithFunction<std::unique_ptr<F>>(std::move(f)) {
    this->bind_inputs(this);
  }

  template <size_t I, class T>
  void push_input(T&& x) {
    ++this->records_in;
    Collector<Out> out(this->out_, this->records_out);
    guarded(this->ctx_, [&] {
      CurrentRecord current(this->ctx_, &x);
      const K key = this->ctx_.template key<K>();
      if constexpr (I == 0)
        this->fn_->left(key, std::as_const(x), out);
      else
        this->fn_->right(key, std::as_const(x), out);
    });
  }
};

}  // namespace sage::detail
