#pragma once
/// @file service.hpp
/// Services (API.md section 6): a class whose public methods are callable by
/// name from any operator, from other services and from driver code.
///
/// ```cpp
/// struct FeatureStore : sage::Service {
///   Features process(const std::string& user);                 // the default method
///   Features lookup(const std::string& user, int window_days);
///   static void methods(sage::Methods<FeatureStore>& m) { m.add("lookup", &FeatureStore::lookup);
///   }
/// };
/// ```
///
/// `process`, if the class has one, is callable without naming it; every other
/// method is one line of `methods`. A call's arguments travel as they are
/// within a process and through their codecs across nodes (docs/services.md).

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <sage/codec.hpp>
#include <sage/detail/record_flow.hpp>
#include <sage/error.hpp>
#include <sage/functions.hpp>
#include <sage/future.hpp>

namespace sage {

/// The base of a service: `open(ctx)` and `close()` as any function class, and
/// `ctx()` (to call other services, log, read the config). One instance serves
/// one request at a time; its members are its own.
class Service : public BaseFunction {};

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

 private:
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

}  // namespace detail

/// The methods of service `S` callable by name (`S::methods(Methods<S>&)`).
template <class S>
class Methods {
 public:
  /// Makes `m` callable as `name`.
  template <class R, class C, class... A>
  Methods& add(std::string name, R (C::*m)(A...)) {
    invokers_[std::move(name)] = [m](S& s, const detail::Payload& args) {
      return call<R, A...>(args, [&](auto&... a) -> decltype(auto) { return (s.*m)(a...); });
    };
    return *this;
  }
  template <class R, class C, class... A>
  Methods& add(std::string name, R (C::*m)(A...) const) {
    invokers_[std::move(name)] = [m](S& s, const detail::Payload& args) {
      return call<R, A...>(args, [&](auto&... a) -> decltype(auto) { return (s.*m)(a...); });
    };
    return *this;
  }

  [[nodiscard]] const detail::Invoker<S>* find(const std::string& name) const {
    auto it = invokers_.find(name);
    return it == invokers_.end() ? nullptr : &it->second;
  }
  [[nodiscard]] std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [n, i] : invokers_) out.push_back(n);
    return out;
  }

 private:
  /// Decodes the arguments as the method's, calls `f` with them, wraps its result.
  template <class R, class... A, class F>
  static detail::Payload call(const detail::Payload& args, F&& f) {
    auto tuple = args.take<std::tuple<std::decay_t<A>...>>("the arguments do not fit the method");
    if constexpr (std::is_void_v<R>) {
      std::apply(f, tuple);
      return detail::Payload::of(std::tuple<>{});
    } else {
      return detail::Payload::of(detail::payload_result_t<R>(std::apply(f, tuple)));
    }
  }

  std::map<std::string, detail::Invoker<S>> invokers_;
};

namespace detail {

/// The methods of `S`: `process` (if it has exactly one) and those of `S::methods`.
template <class S>
Methods<S> methods_of() {
  Methods<S> m;
  if constexpr (requires { &S::process; }) m.add("process", &S::process);
  if constexpr (requires(Methods<S> & t) { S::methods(t); }) S::methods(m);
  return m;
}

/// A service instance, type-erased, as the runtime's service actor holds it.
class ServiceObject {
 public:
  virtual ~ServiceObject() = default;
  virtual BaseFunction& function() = 0;
  /// Serves one call; `ServiceError` for an unknown method or arguments that
  /// do not fit, any exception of the method as it is.
  virtual Payload call(const std::string& method, const Payload& args) = 0;
  [[nodiscard]] virtual std::vector<std::string> method_names() const = 0;
};

template <class S>
class TypedServiceObject final : public ServiceObject {
 public:
  explicit TypedServiceObject(std::unique_ptr<S> s) : s_(std::move(s)), methods_(methods_of<S>()) {}
  BaseFunction& function() override { return *s_; }
  Payload call(const std::string& method, const Payload& args) override {
    const Invoker<S>* m = methods_.find(method);
    if (m == nullptr) {
      std::string known;
      for (const auto& n : methods_.names()) known += (known.empty() ? "" : ", ") + n;
      throw ServiceError("the service has no method '" + method +
                         "' (it has: " + (known.empty() ? std::string("none") : known) + ")");
    }
    return (*m)(*s_, args);
  }
  [[nodiscard]] std::vector<std::string> method_names() const override { return methods_.names(); }

 private:
  std::unique_ptr<S> s_;
  Methods<S> methods_;
};

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

/// `call_service_async` through `client`: a future of the result.
template <class R, class... A>
Future<R> call_async(ServiceClient& client, const std::string& service, A&&... args) {
  auto [options, payload] = make_call(std::forward<A>(args)...);
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

}  // namespace detail
}  // namespace sage
