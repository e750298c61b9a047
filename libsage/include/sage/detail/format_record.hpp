#pragma once
/// @file format_record.hpp
/// How `print()` writes a record: with fmt where the type is formattable
/// (including ranges, pairs and tuples), else through `operator<<`.

#include <cstdio>
#include <ranges>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace sage::detail {

template <class T>
concept Streamable = requires(std::ostream& os, const T& x) {
  os << x;
};

template <class T>
struct is_pair_or_tuple : std::false_type {};
template <class A, class B>
struct is_pair_or_tuple<std::pair<A, B>> : std::true_type {};
template <class... Ts>
struct is_pair_or_tuple<std::tuple<Ts...>> : std::true_type {};

template <class T>
std::string format_record(const T& x);

/// An element inside a pair, tuple or range: strings quoted, as fmt does.
template <class T>
std::string format_element(const T& x) {
  if constexpr (std::is_convertible_v<const T&, std::string_view>)
    return fmt::format("{:?}", std::string_view(x));
  else
    return format_record(x);
}

/// A record as one line of text: with fmt where the type is formattable
/// (including ranges, pairs and tuples of formattable types), else through
/// `operator<<`, else element by element for pairs, tuples and ranges.
template <class T>
std::string format_record(const T& x) {
  if constexpr (fmt::is_formattable<T>::value) {
    return fmt::format("{}", x);
  } else if constexpr (Streamable<T>) {
    std::ostringstream os;
    os << x;
    return os.str();
  } else if constexpr (is_pair_or_tuple<T>::value) {
    std::string out = "(";
    std::apply(
        [&](const auto&... e) {
          size_t i = 0;
          ((out += (i++ ? ", " : "") + format_element(e)), ...);
        },
        x);
    return out + ")";
  } else if constexpr (std::ranges::input_range<const T>) {
    std::string out = "[";
    bool first = true;
    for (const auto& e : x) {
      out += (first ? "" : ", ") + format_element(e);
      first = false;
    }
    return out + "]";
  } else {
    static_assert(fmt::is_formattable<T>::value || Streamable<T>,
                  "print() needs a fmt::formatter<T> or an operator<< for the record type");
    return {};
  }
}

/// Writes one line to stdout in a single call, so lines of parallel sinks never interleave.
void write_stdout_line(const std::string& line);

}  // namespace sage::detail
