#pragma once
/// @file footprint.hpp
/// About how many bytes a record takes: its own size and what it owns (a
/// string's characters, a vector's elements, an inspectable struct's fields).
/// Channel writers cut batches by it (`batch.max_bytes`) and refuse records
/// above `record.max_bytes`, so that flow control bounds bytes, not only
/// batches. An estimate, not the encoded size: cheap enough for every record.

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sage/codec.hpp>

namespace sage::detail {

template <class T>
size_t footprint(const T& x);

/// Sums the footprints of an inspectable struct's fields.
class FootprintInspector {
 public:
  using result_type = void;
  static constexpr bool reads_state = true;
  static constexpr bool writes_state = false;
  template <class... Ts>
  void operator()(Ts&&... xs) {
    (field(xs), ...);
  }
  size_t bytes = 0;

 private:
  template <class T>
  void field(const T& x) {
    if constexpr (!caf::meta::is_annotation<T>::value) bytes += footprint(x);
  }
};

/// Whether every record of `T` has the same footprint, `sizeof(T)`.
template <class T>
inline constexpr bool fixed_footprint = std::is_trivially_copyable_v<T>;

template <class T>
size_t footprint(const T& x) {
  using U = std::remove_cvref_t<T>;
  if constexpr (fixed_footprint<U>) {
    return sizeof(U);
  } else if constexpr (std::is_same_v<U, std::string>) {
    return sizeof(U) + x.size();
  } else if constexpr (requires {
                         typename U::value_type;
                         x.begin();
                         x.end();
                         x.size();
                       }) {
    using E = std::remove_cvref_t<typename U::value_type>;
    if constexpr (fixed_footprint<E>) {
      return sizeof(U) + x.size() * sizeof(E);
    } else {
      size_t n = sizeof(U);
      for (const auto& e : x) n += footprint(e);
      return n;
    }
  } else if constexpr (requires {
                         x.first;
                         x.second;
                       }) {
    return footprint(x.first) + footprint(x.second);
  } else if constexpr (requires {
                         x.has_value();
                         *x;
                       }) {
    return sizeof(U) + (x.has_value() ? footprint(*x) : 0);
  } else if constexpr (requires { std::tuple_size<U>::value; }) {
    return std::apply([](const auto&... e) { return (size_t{0} + ... + footprint(e)); }, x);
  } else if constexpr (Inspectable<U>) {
    FootprintInspector f;
    inspect(f, const_cast<U&>(x));  // reads only (reads_state)
    return sizeof(U) > f.bytes ? sizeof(U) : f.bytes;
  } else {
    return sizeof(U);
  }
}

}  // namespace sage::detail
