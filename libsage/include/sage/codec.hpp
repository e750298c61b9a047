#pragma once
/// @file codec.hpp
/// Record codecs (API.md section 7): how a record is written to bytes when its
/// batch crosses a node. Out of the box for arithmetic types, enums, `bool`,
/// `std::string`, `std::vector`, `std::array`, `std::map`, `std::unordered_map`,
/// `std::optional`, `std::pair`, `std::tuple`, and every struct with a CAF-style
/// `inspect` overload:
///
/// ```cpp
/// struct Order { std::string user; double amount; int64_t ts; };
/// template <class Inspector> auto inspect(Inspector& f, Order& x) {
///   return f(caf::meta::type_name("Order"), x.user, x.amount, x.ts);
/// }
/// ```
///
/// The format is compact and fixed: little-endian fixed-width numbers, sizes as
/// LEB128 varints, fields in declaration order. Decoding checks every length
/// against the bytes left and fails with `DecodeError`, never reads past the end.
/// A type gets a codec of its own by specializing `sage::Codec<T>` with
/// `encode(ByteWriter&, const T&)` and `decode(ByteReader&, T&)`.

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/meta/annotation.hpp>
#include <caf/meta/type_name.hpp>

namespace sage {

/// Bytes that do not decode as the expected record type.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Appends encoded values to a byte buffer.
class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>& out) : out_(&out) {}
  void bytes(const void* data, size_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    out_->insert(out_->end(), p, p + n);
  }
  template <class T>
  void fixed(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    // Written as in memory: the codec's byte order is little-endian, so the
    // platform must be (every one SAGE builds on is).
    static_assert(std::endian::native == std::endian::little,
                  "SAGE's record codecs assume a little-endian platform");
    bytes(&v, sizeof v);
  }
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_->push_back(static_cast<uint8_t>(v) | 0x80);
      v >>= 7;
    }
    out_->push_back(static_cast<uint8_t>(v));
  }

 private:
  std::vector<uint8_t>* out_;
};

/// Reads encoded values, checking every read against the end of the input.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  [[nodiscard]] size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  const uint8_t* take(size_t n) {
    if (n > remaining()) throw DecodeError("record data ends early");
    const uint8_t* p = p_;
    p_ += n;
    return p;
  }
  template <class T>
  T fixed() {
    T v;
    std::memcpy(&v, take(sizeof v), sizeof v);
    return v;
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const uint8_t b = *take(1);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    throw DecodeError("malformed length");
  }
  /// A size of `n` elements of at least `min_bytes` each: never more than the bytes left.
  size_t size(size_t min_bytes = 1) {
    const uint64_t n = varint();
    if (min_bytes > 0 && n > remaining() / min_bytes)
      throw DecodeError("a length exceeds the data left");
    return static_cast<size_t>(n);
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

/// The codec of `T`; the primary template means "none". Specialize it for a type
/// of your own.
template <class T, class Enable = void>
struct Codec {
  static constexpr bool available = false;
};

/// Whether records of type `T` can cross a node.
template <class T>
inline constexpr bool has_codec = Codec<std::remove_cvref_t<T>>::available;

namespace detail {

/// The inspector that writes an inspectable struct: CAF annotations are skipped.
class EncodeInspector {
 public:
  using result_type = void;
  static constexpr bool reads_state = true;
  static constexpr bool writes_state = false;
  explicit EncodeInspector(ByteWriter& w) : w_(&w) {}
  template <class... Ts>
  void operator()(Ts&&... xs) {
    (field(xs), ...);
  }

 private:
  template <class T>
  void field(const T& x) {
    if constexpr (!caf::meta::is_annotation<T>::value) Codec<T>::encode(*w_, x);
  }
  ByteWriter* w_;
};

/// The inspector that reads an inspectable struct back.
class DecodeInspector {
 public:
  using result_type = void;
  static constexpr bool reads_state = false;
  static constexpr bool writes_state = true;
  explicit DecodeInspector(ByteReader& r) : r_(&r) {}
  template <class... Ts>
  void operator()(Ts&&... xs) {
    (field(xs), ...);
  }

 private:
  template <class T>
  void field(T& x) {
    if constexpr (!caf::meta::is_annotation<std::remove_cvref_t<T>>::value)
      Codec<std::remove_cvref_t<T>>::decode(*r_, x);
  }
  ByteReader* r_;
};

template <class T>
concept Inspectable = requires(EncodeInspector& e, DecodeInspector& d, T& x) {
  inspect(e, x);
  inspect(d, x);
};

template <class T>
concept Arithmetic = std::is_arithmetic_v<T> || std::is_enum_v<T>;

}  // namespace detail

// -- numbers and enums ---------------------------------------------------------------

template <detail::Arithmetic T>
struct Codec<T> {
  static constexpr bool available = true;
  static void encode(ByteWriter& w, const T& x) { w.fixed(x); }
  static void decode(ByteReader& r, T& x) { x = r.fixed<T>(); }
};

template <>
struct Codec<bool> {
  static constexpr bool available = true;
  static void encode(ByteWriter& w, const bool& x) { w.fixed<uint8_t>(x ? 1 : 0); }
  static void decode(ByteReader& r, bool& x) {
    const auto b = r.fixed<uint8_t>();
    if (b > 1) throw DecodeError("malformed bool");
    x = b == 1;
  }
};

// -- strings and containers ------------------------------------------------------------

template <>
struct Codec<std::string> {
  static constexpr bool available = true;
  static void encode(ByteWriter& w, const std::string& s) {
    w.varint(s.size());
    w.bytes(s.data(), s.size());
  }
  static void decode(ByteReader& r, std::string& s) {
    const size_t n = r.size(1);
    const auto* p = r.take(n);
    s.assign(reinterpret_cast<const char*>(p), n);
  }
};

template <class T>
struct Codec<std::vector<T>> {
  static constexpr bool available = has_codec<T>;
  static void encode(ByteWriter& w, const std::vector<T>& v) {
    w.varint(v.size());
    for (const auto& x : v) Codec<T>::encode(w, x);
  }
  static void decode(ByteReader& r, std::vector<T>& v) {
    // An empty element may take no bytes (e.g. an empty tuple), so only a size of
    // elements with a minimum size is checked against the data left.
    const size_t n = r.size(min_size());
    v.clear();
    v.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      T x{};
      Codec<T>::decode(r, x);
      v.push_back(std::move(x));
    }
  }
  static constexpr size_t min_size() { return std::is_arithmetic_v<T> ? sizeof(T) : 1; }
};

template <class T, size_t N>
struct Codec<std::array<T, N>> {
  static constexpr bool available = has_codec<T>;
  static void encode(ByteWriter& w, const std::array<T, N>& a) {
    for (const auto& x : a) Codec<T>::encode(w, x);
  }
  static void decode(ByteReader& r, std::array<T, N>& a) {
    for (auto& x : a) Codec<T>::decode(r, x);
  }
};

template <class Map>
struct MapCodec {
  using K = typename Map::key_type;
  using V = typename Map::mapped_type;
  static constexpr bool available = has_codec<K> && has_codec<V>;
  static void encode(ByteWriter& w, const Map& m) {
    w.varint(m.size());
    for (const auto& [k, v] : m) {
      Codec<K>::encode(w, k);
      Codec<V>::encode(w, v);
    }
  }
  static void decode(ByteReader& r, Map& m) {
    const size_t n = r.size(1);
    m.clear();
    for (size_t i = 0; i < n; ++i) {
      K k{};
      V v{};
      Codec<K>::decode(r, k);
      Codec<V>::decode(r, v);
      m.insert_or_assign(std::move(k), std::move(v));
    }
  }
};

template <class K, class V, class C, class A>
struct Codec<std::map<K, V, C, A>> : MapCodec<std::map<K, V, C, A>> {};

template <class K, class V, class H, class E, class A>
struct Codec<std::unordered_map<K, V, H, E, A>> : MapCodec<std::unordered_map<K, V, H, E, A>> {};

template <class T>
struct Codec<std::optional<T>> {
  static constexpr bool available = has_codec<T>;
  static void encode(ByteWriter& w, const std::optional<T>& o) {
    w.fixed<uint8_t>(o ? 1 : 0);
    if (o) Codec<T>::encode(w, *o);
  }
  static void decode(ByteReader& r, std::optional<T>& o) {
    const auto flag = r.fixed<uint8_t>();
    if (flag > 1) throw DecodeError("malformed optional");
    if (flag == 0) {
      o.reset();
      return;
    }
    T x{};
    Codec<T>::decode(r, x);
    o = std::move(x);
  }
};

template <class A, class B>
struct Codec<std::pair<A, B>> {
  static constexpr bool available = has_codec<A> && has_codec<B>;
  static void encode(ByteWriter& w, const std::pair<A, B>& p) {
    Codec<std::remove_const_t<A>>::encode(w, p.first);
    Codec<B>::encode(w, p.second);
  }
  static void decode(ByteReader& r, std::pair<A, B>& p) {
    Codec<std::remove_const_t<A>>::decode(r, const_cast<std::remove_const_t<A>&>(p.first));
    Codec<B>::decode(r, p.second);
  }
};

template <class... Ts>
struct Codec<std::tuple<Ts...>> {
  static constexpr bool available = (has_codec<Ts> && ...);
  static void encode(ByteWriter& w, const std::tuple<Ts...>& t) {
    std::apply(
        [&](const auto&... e) { (Codec<std::remove_cvref_t<decltype(e)>>::encode(w, e), ...); }, t);
  }
  static void decode(ByteReader& r, std::tuple<Ts...>& t) {
    std::apply([&](auto&... e) { (Codec<std::remove_cvref_t<decltype(e)>>::decode(r, e), ...); },
               t);
  }
};

// -- structs with a CAF-style inspect overload ---------------------------------------

template <class T>
requires(!detail::Arithmetic<T> && detail::Inspectable<T>) struct Codec<T> {
  static constexpr bool available = true;
  static void encode(ByteWriter& w, const T& x) {
    detail::EncodeInspector f(w);
    inspect(f, const_cast<T&>(x));  // an encoding inspector only reads
  }
  static void decode(ByteReader& r, T& x) {
    detail::DecodeInspector f(r);
    inspect(f, x);
  }
};

/// Encodes `records` into `out` (appending).
template <class T>
void encode_records(const std::vector<T>& records, std::vector<uint8_t>& out) {
  ByteWriter w(out);
  for (const auto& x : records) Codec<T>::encode(w, x);
}

/// Decodes exactly `count` records from `data`; throws `DecodeError` when the
/// bytes do not hold exactly that.
template <class T>
std::vector<T> decode_records(const uint8_t* data, size_t size, size_t count) {
  ByteReader r(data, size);
  std::vector<T> out;
  out.reserve(std::min(count, size));  // never trust a count for an allocation
  for (size_t i = 0; i < count; ++i) {
    T x{};
    Codec<T>::decode(r, x);
    out.push_back(std::move(x));
  }
  if (r.remaining() != 0) throw DecodeError("bytes left over after the last record");
  return out;
}

}  // namespace sage
