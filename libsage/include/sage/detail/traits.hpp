#pragma once
/// @file traits.hpp
/// Compile-time helpers of the stream API: telling function classes from
/// callables, and the element type a flatmap lambda collects.

#include <ranges>
#include <type_traits>

#include <sage/functions.hpp>

namespace sage::detail {

template <class F>
concept FunctionClass = std::is_base_of_v<BaseFunction, F>;

template <class F>
concept Callable =
    !FunctionClass<std::remove_cvref_t<F>> && std::is_copy_constructible_v<std::decay_t<F>>;

/// The `R` of a flatmap callable's `Collector<R>&` parameter.
template <class M>
struct collector_of_member {};
template <class C, class Ret, class A, class R>
struct collector_of_member<Ret (C::*)(A, Collector<R>&) const> {
  using type = R;
};
template <class C, class Ret, class A, class R>
struct collector_of_member<Ret (C::*)(A, Collector<R>&)> {
  using type = R;
};
template <class C, class Ret, class A, class R>
struct collector_of_member<Ret (C::*)(A, Collector<R>&) const noexcept> {
  using type = R;
};
template <class C, class Ret, class A, class R>
struct collector_of_member<Ret (C::*)(A, Collector<R>&) noexcept> {
  using type = R;
};

template <class F, class = void>
struct flatmap_output {};
template <class F>
struct flatmap_output<F, std::void_t<decltype(&F::operator())>>
    : collector_of_member<decltype(&F::operator())> {};
template <class Ret, class A, class R>
struct flatmap_output<Ret (*)(A, Collector<R>&)> {
  using type = R;
};
template <class Ret, class A, class R>
struct flatmap_output<Ret (*)(A, Collector<R>&) noexcept> {
  using type = R;
};

/// The output type of a flatmap callable `F` on records `T`: the collector's
/// element type, or the element type of the range it returns.
template <class F, class T>
struct flatmap_result {
  using type = typename flatmap_output<F>::type;
};
template <class F, class T>
requires std::is_invocable_v<F&, const T&>
struct flatmap_result<F, T> {
  using type = std::remove_cvref_t<std::ranges::range_value_t<std::invoke_result_t<F&, const T&>>>;
};

/// The `R` of a window's `process(key, window, records, Collector<R>&)` callable.
template <class M>
struct last_collector_of_member {};
template <class C, class Ret, class A, class B, class D, class R>
struct last_collector_of_member<Ret (C::*)(A, B, D, Collector<R>&) const> {
  using type = R;
};
template <class C, class Ret, class A, class B, class D, class R>
struct last_collector_of_member<Ret (C::*)(A, B, D, Collector<R>&)> {
  using type = R;
};
template <class F, class = void>
struct last_collector_output {};
template <class F>
struct last_collector_output<F, std::void_t<decltype(&F::operator())>>
    : last_collector_of_member<decltype(&F::operator())> {};
template <class Ret, class A, class B, class D, class R>
struct last_collector_output<Ret (*)(A, B, D, Collector<R>&)> {
  using type = R;
};

/// Builds `F` from a tuple of stored constructor arguments.
template <class F, class Tuple>
std::unique_ptr<F> construct_from(const Tuple& args) {
  return std::apply([](const auto&... a) { return std::make_unique<F>(a...); }, args);
}

}  // namespace sage::detail
