#pragma once
/// @file format_record.hpp
/// How `print()` writes a record: with fmt where the type is formattable
/// (including ranges, pairs and tuples), else through `operator<<`.

#include <cstdio>
#include <sstream>
#include <string>
#include <type_traits>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace sage::detail {

template <class T>
concept Streamable = requires(std::ostream& os, const T& x) { os << x; };

template <class T>
std::string format_record(const T& x) {
  if constexpr (fmt::is_formattable<T>::value) {
    return fmt::format("{}", x);
  } else if constexpr (Streamable<T>) {
    std::ostringstream os;
    os << x;
    return os.str();
  } else {
    static_assert(fmt::is_formattable<T>::value || Streamable<T>,
                  "print() needs a fmt::formatter<T> or an operator<< for the record type");
    return {};
  }
}

/// Writes one line to stdout in a single call, so lines of parallel sinks never interleave.
void write_stdout_line(const std::string& line);

}  // namespace sage::detail
