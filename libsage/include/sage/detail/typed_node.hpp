#pragma once
/// @file typed_node.hpp
/// `TypedNode`: a logical graph node that knows its record types, and so can
/// make its instances, chain them, and make the writers and input ports of its
/// edges. The graph, the plan compiler and the runtime see it as a `Node`.

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <sage/detail/channel_writer.hpp>
#include <sage/detail/graph.hpp>
#include <sage/detail/input_port.hpp>
#include <sage/detail/operator_instances.hpp>

namespace sage::detail {

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

  void chain_side_output(OperatorInstance& from, const std::string& tag,
                         OperatorInstance& to) const override {
    if constexpr (std::is_void_v<In>) {
      throw std::logic_error("sage: a source reads no side output");
    } else {
      ContextAccess::side_output<In>(from.context(), tag).add(&input_of<In>(to));
    }
  }

  [[nodiscard]] std::unique_ptr<ChannelWriterBase> make_side_output_writer(
      OperatorInstance& from, const EdgeRouting& routing, WriterSetup setup) const override {
    if constexpr (std::is_void_v<In>) {
      throw std::logic_error("sage: a source reads no side output");
    } else {
      auto writer = std::make_unique<ChannelWriter<In>>(routing, std::move(setup), from.context());
      ContextAccess::side_output<In>(from.context(), routing.side_output).add(writer.get());
      return writer;
    }
  }

  [[nodiscard]] bool input_has_codec() const override {
    if constexpr (std::is_void_v<In>)
      return false;
    else
      return has_codec<In>;
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
  static Receiver<T>& input_of(OperatorInstance& inst) {
    auto* in = dynamic_cast<Receiver<T>*>(&inst);
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
