#pragma once
/// @file service_call.hpp
/// What a service call is, apart from any service: its options
/// (`sage::method`, `sage::timeout`), its arguments and result as a `Payload`,
/// and the `ServiceClient` that carries it (the runtime's side). A
/// `RuntimeContext` calls through this; `sage/service.hpp` adds the services.

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <sage/codec.hpp>
#include <sage/error.hpp>
#include <sage/future.hpp>

namespace sage {

/// Names a method other than `process` in a call: `sage::method("lookup")`.
struct method {
  explicit method(std::string n) : name(std::move(n)) {}
  std::string name;
};

/// How long a call may take before it fails with `ServiceTimeout` (10 s by default).
struct timeout {
  template <class Rep, class Period>
  timeout(std::chrono::duration<Rep, Period> d)  // NOLINT(google-explicit-constructor)
      : value(std::chrono::duration_cast<std::chrono::milliseconds>(d)) {}
  std::chrono::milliseconds value;
};

/// The default timeout of a call.
inline constexpr std::chrono::milliseconds default_call_timeout{10'000};

namespace detail {

/// A call's arguments (a `std::tuple`) or its result: within a process the
/// value itself, handed over without a copy to bytes; bytes when it crossed a
/// node. `encode` makes the bytes of a value whose type has a codec.
class Payload {
 public:
  Payload() = default;

  template <class V>
  static Payload of(V v) {
    Payload p;
    auto value = std::make_shared<const V>(std::move(v));
    p.type_ = &typeid(V);
    if constexpr (std::is_copy_assignable_v<V>)
      p.copy_ = [](void* to, const void* from) {
        *static_cast<V*>(to) = *static_cast<const V*>(from);
      };
    if constexpr (has_codec<V>) {
      p.encode_ = [value] {
        std::vector<uint8_t> out;
        ByteWriter w(out);
        Codec<V>::encode(w, *value);
        return out;
      };
    }
    p.value_ = std::move(value);
    return p;
  }
  /// One argument of a call made of separate values (a plain CAF actor's
  /// message: API.md section 10): its type and where it is.
  struct Element {
    const std::type_info* type = nullptr;
    const void* value = nullptr;
  };
  /// The arguments `elements`, kept valid by `keep` (the message that holds
  /// them): taken as a `std::tuple` whose element types are theirs, exactly.
  static Payload of_elements(std::vector<Element> elements, std::shared_ptr<const void> keep) {
    Payload p;
    p.elements_ = std::make_shared<const std::vector<Element>>(std::move(elements));
    p.value_ = std::move(keep);
    return p;
  }
  static Payload from_bytes(std::vector<uint8_t> bytes) {
    Payload p;
    p.bytes_ = std::move(bytes);
    p.has_bytes_ = true;
    return p;
  }

  /// The bytes, for a call that crosses a node: `ServiceError` if the type has no codec.
  [[nodiscard]] std::vector<uint8_t> bytes() const {
    if (has_bytes_) return bytes_;
    if (!encode_)
      throw ServiceError("a call's " + (type_ ? type_name(*type_) : std::string("value")) +
                         " has no codec (sage/codec.hpp): it cannot cross nodes");
    return encode_();
  }
  /// The value as a `V`: the one handed over if it is a `V`, else decoded from
  /// the bytes (`ServiceError` if they do not decode as a `V`).
  template <class V>
  [[nodiscard]] V take(const char* what) const {
    if (type_ != nullptr && *type_ == typeid(V)) return *static_cast<const V*>(value_.get());
    if (elements_) return take_elements<V>(what);
    if constexpr (has_codec<V>) {
      if (has_bytes_ || encode_) {
        const std::vector<uint8_t> b = bytes();
        try {
          ByteReader r(b.data(), b.size());
          V v{};
          Codec<V>::decode(r, v);
          if (r.remaining() == 0) return v;
        } catch (const DecodeError&) {
        }
      }
    }
    throw ServiceError(std::string(what) + ": " +
                       (type_ ? type_name(*type_) : std::string("bytes")) + " given, " +
                       type_name(typeid(V)) + " expected");
  }

  /// The type of the value handed over (null: bytes, or elements).
  [[nodiscard]] const std::type_info* type() const { return type_; }
  /// Copies the value into `target`, a `V` for the `V` of `type()`; false if there is none.
  bool copy_to(void* target) const {
    if (!copy_ || !value_) return false;
    copy_(target, value_.get());
    return true;
  }

 private:
  template <class V>
  V take_elements(const char* what) const {
    const auto& e = *elements_;
    std::string given = "(";
    for (size_t i = 0; i < e.size(); ++i)
      given += (i ? ", " : "") + (e[i].type ? type_name(*e[i].type) : std::string("?"));
    given += ")";
    if constexpr (is_tuple<V>::value) {
      if (e.size() == std::tuple_size_v<V>) {
        auto fits = [&]<size_t... I>(std::index_sequence<I...>) {
          return ((e[I].type != nullptr && *e[I].type == typeid(std::tuple_element_t<I, V>)) &&
                  ...);
        };
        if (fits(std::make_index_sequence<std::tuple_size_v<V>>{}))
          return [&]<size_t... I>(std::index_sequence<I...>) {
            return V(*static_cast<const std::tuple_element_t<I, V>*>(e[I].value)...);
          }
        (std::make_index_sequence<std::tuple_size_v<V>>{});
      }
    }
    throw ServiceError(std::string(what) + ": " + given + " given, " + type_name(typeid(V)) +
                       " expected");
  }
  template <class T>
  struct is_tuple : std::false_type {};
  template <class... T>
  struct is_tuple<std::tuple<T...>> : std::true_type {};

  std::shared_ptr<const std::vector<Element>> elements_;
  void (*copy_)(void*, const void*) = nullptr;
  std::shared_ptr<const void> value_;
  const std::type_info* type_ = nullptr;
  std::function<std::vector<uint8_t>()> encode_;
  std::vector<uint8_t> bytes_;
  bool has_bytes_ = false;
};

/// What a method returns, as a payload (`void`: an empty tuple).
template <class R>
using payload_result_t = std::conditional_t<std::is_void_v<R>, std::tuple<>, std::decay_t<R>>;

/// One callable method of `S`, type-erased: decodes the arguments, calls, wraps the result.
template <class S>
using Invoker = std::function<Payload(S&, const Payload&)>;

/// A string literal argument is sent as a `std::string`.
template <class A>
using call_arg_t = std::conditional_t<std::is_convertible_v<const std::decay_t<A>&, std::string> &&
                                          !std::is_same_v<std::decay_t<A>, std::string> &&
                                          std::is_pointer_v<std::decay_t<A>>,
                                      std::string, std::decay_t<A>>;

/// A call's options and arguments, apart: `sage::method(...)` and
/// `sage::timeout(...)` may stand anywhere among the arguments.
struct CallOptions {
  std::string method = "process";
  std::chrono::milliseconds timeout = default_call_timeout;
};

template <class A>
constexpr bool is_call_option_v =
    std::is_same_v<std::decay_t<A>, sage::method> || std::is_same_v<std::decay_t<A>, sage::timeout>;

template <class A>
auto call_arg_tuple(A&& a) {
  if constexpr (is_call_option_v<A>)
    return std::tuple<>{};
  else
    return std::tuple<call_arg_t<A>>(std::forward<A>(a));
}
template <class A>
void call_option(CallOptions& o, const A& a) {
  if constexpr (std::is_same_v<std::decay_t<A>, sage::method>)
    o.method = a.name;
  else if constexpr (std::is_same_v<std::decay_t<A>, sage::timeout>)
    o.timeout = a.value;
}

/// Splits `args` into the call's options and its argument tuple, as a payload.
template <class... A>
std::pair<CallOptions, Payload> make_call(A&&... args) {
  CallOptions o;
  (call_option(o, args), ...);
  auto tuple = std::tuple_cat(call_arg_tuple(std::forward<A>(args))...);
  return {std::move(o), Payload::of(std::move(tuple))};
}

/// The result of a call as an `R`.
template <class R>
R call_result(const Payload& p) {
  if constexpr (std::is_void_v<R>)
    return;
  else
    return p.take<std::decay_t<R>>("the result does not fit the call");
}

/// Where calls go: the runtime's side of `call_service` (a CAF actor in the
/// runtime; nothing here knows). `done` runs once, on any thread, with the
/// result or the error (`ServiceError`, `ServiceTimeout`).
class ServiceClient {
 public:
  virtual ~ServiceClient() = default;
  virtual void call(const std::string& service, const CallOptions& options, Payload args,
                    std::function<void(Payload, std::exception_ptr)> done) = 0;
};

/// The future of a call already split into options and arguments.
template <class R>
Future<R> call_with(ServiceClient& client, const std::string& service, const CallOptions& options,
                    Payload payload) {
  Promise<R> promise;
  auto future = promise.future();
  client.call(service, options, std::move(payload),
              [promise](Payload result, std::exception_ptr error) mutable {
                if (error) {
                  promise.set_error(error);
                  return;
                }
                try {
                  if constexpr (std::is_void_v<R>) {
                    promise.set_value();
                  } else {
                    promise.set_value(call_result<R>(result));
                  }
                } catch (...) {
                  promise.set_error(std::current_exception());
                }
              });
  return future;
}

/// `call_service_async` through `client`: a future of the result.
template <class R, class... A>
Future<R> call_async(ServiceClient& client, const std::string& service, A&&... args) {
  auto [options, payload] = make_call(std::forward<A>(args)...);
  return call_with<R>(client, service, options, std::move(payload));
}

/// How long a synchronous caller waits beyond its call's timeout: the client
/// fails a call at its timeout itself; this only guards against a client that
/// is gone.
inline constexpr std::chrono::milliseconds sync_call_margin{5'000};

/// `call_service` through `client`: blocks the calling thread until the
/// result, or the call's error, is there.
template <class R, class... A>
R call_sync(ServiceClient& client, const std::string& service, A&&... args) {
  auto [options, payload] = make_call(std::forward<A>(args)...);
  return call_with<R>(client, service, options, std::move(payload))
      .get(options.timeout + sync_call_margin);
}

}  // namespace detail
}  // namespace sage
