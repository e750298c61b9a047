#pragma once
/// @file typed_node.hpp
/// `TypedNode` and `MultiInputNode`: logical graph nodes that know their record
/// types, and so can make their instances, chain them, and make the writers
/// and input ports of their edges. The graph, the plan compiler and the
/// runtime see them as a `Node`.

#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include <sage/detail/channel_writer.hpp>
#include <sage/detail/graph.hpp>
#include <sage/detail/input_port.hpp>
#include <sage/detail/multi_input.hpp>
#include <sage/detail/operator_instances.hpp>

namespace sage::detail {

// -- the output side ----------------------------------------------------------------

/// What every typed node knows of its output `Out` (`void` for a sink): how to
/// chain it into the next operator and how to write it to channels; and how to
/// make its instances.
template <class Out>
class NodeOutput : public Node {
 public:
  using Factory = std::function<std::unique_ptr<OperatorInstance>()>;
  NodeOutput(NodeKind kind, std::string kind_name, Factory factory)
      : Node(kind, std::move(kind_name)), factory_(std::move(factory)) {}

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
      emitter(from).out().add(&receiver_of<Out>(to));
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

 protected:
  template <class T>
  static Receiver<T>& receiver_of(OperatorInstance& inst) {
    auto* in = dynamic_cast<Receiver<T>*>(&inst);
    if (in == nullptr)
      throw std::logic_error("sage: chained operators disagree on the record type");
    return *in;
  }
  /// A writer of side output records of type `T` (an input type of the consumer).
  template <class T>
  static std::unique_ptr<ChannelWriterBase> side_output_writer(OperatorInstance& from,
                                                               EdgeRouting routing,
                                                               WriterSetup setup) {
    const std::string tag = routing.side_output;
    auto writer = std::make_unique<ChannelWriter<T>>(routing, std::move(setup), from.context());
    ContextAccess::side_output<T>(from.context(), tag).add(writer.get());
    return writer;
  }

 private:
  template <class T = Out>
  static Emitter<T>& emitter(OperatorInstance& inst) {
    auto* e = dynamic_cast<Emitter<T>*>(&inst);
    if (e == nullptr) throw std::logic_error("sage: operator does not emit the expected type");
    return *e;
  }

  Factory factory_;
};

// -- one input ------------------------------------------------------------------------

/// A logical node consuming `In` and emitting `Out` (`void` for sources and
/// sinks respectively).
template <class In, class Out>
class TypedNode final : public NodeOutput<Out> {
 public:
  using NodeOutput<Out>::NodeOutput;

  [[nodiscard]] std::shared_ptr<Node> clone() const override {
    return std::make_shared<TypedNode>(*this);
  }

  void chain_side_output(OperatorInstance& from, const std::string& tag,
                         OperatorInstance& to) const override {
    if constexpr (std::is_void_v<In>) {
      throw std::logic_error("sage: a source reads no side output");
    } else {
      ContextAccess::side_output<In>(from.context(), tag).add(&this->template receiver_of<In>(to));
    }
  }

  [[nodiscard]] std::unique_ptr<ChannelWriterBase> make_side_output_writer(
      OperatorInstance& from, const Edge& /*edge*/, EdgeRouting routing,
      WriterSetup setup) const override {
    if constexpr (std::is_void_v<In>) {
      throw std::logic_error("sage: a source reads no side output");
    } else {
      return this->template side_output_writer<In>(from, std::move(routing), std::move(setup));
    }
  }

  [[nodiscard]] bool input_has_codec(int /*input*/) const override {
    if constexpr (std::is_void_v<In>)
      return false;
    else
      return has_codec<In>;
  }

  [[nodiscard]] std::unique_ptr<InputPortBase> make_input_port(OperatorInstance& to,
                                                               const Edge& edge) const override {
    if constexpr (std::is_void_v<In>) {
      throw std::logic_error("sage: a source has no input");
    } else {
      return std::make_unique<InputPort<In>>(&this->template receiver_of<In>(to), to.context(),
                                             edge.routing.key_extractor.get());
    }
  }
};

// -- several inputs ------------------------------------------------------------------

/// A logical node with one input per type of `Ins` (`connect`, the joins):
/// edge `e` feeds input `e.input`, whose records are of the `e.input`-th type.
template <class Out, class... Ins>
class MultiInputNode final : public NodeOutput<Out> {
 public:
  using Factory = typename NodeOutput<Out>::Factory;
  MultiInputNode(std::string kind_name, Factory factory)
      : NodeOutput<Out>(NodeKind::transform, std::move(kind_name), std::move(factory)) {
    this->num_inputs = static_cast<int>(sizeof...(Ins));
  }

  [[nodiscard]] std::shared_ptr<Node> clone() const override {
    return std::make_shared<MultiInputNode>(*this);
  }

  void chain_side_output(OperatorInstance&, const std::string&, OperatorInstance&) const override {
    throw std::logic_error("sage: an operator with several inputs is never chained");
  }

  [[nodiscard]] std::unique_ptr<ChannelWriterBase> make_side_output_writer(
      OperatorInstance& from, const Edge& edge, EdgeRouting routing,
      WriterSetup setup) const override {
    std::unique_ptr<ChannelWriterBase> writer;
    for_input(edge.input, [&]<size_t I>() {
      writer = this->template side_output_writer<std::tuple_element_t<I, Inputs>>(
          from, std::move(routing), std::move(setup));
    });
    return writer;
  }

  [[nodiscard]] bool input_has_codec(int input) const override {
    bool has = false;
    for_input(input, [&]<size_t I>() { has = has_codec<std::tuple_element_t<I, Inputs>>; });
    return has;
  }

  [[nodiscard]] std::unique_ptr<InputPortBase> make_input_port(OperatorInstance& to,
                                                               const Edge& edge) const override {
    auto* inputs = dynamic_cast<MultiInput<Ins...>*>(&to);
    if (inputs == nullptr) throw std::logic_error("sage: operator does not take these inputs");
    std::unique_ptr<InputPortBase> port;
    for_input(edge.input, [&]<size_t I>() {
      port = std::make_unique<InputPort<std::tuple_element_t<I, Inputs>>>(
          &inputs->template input<I>(), to.context(), edge.routing.key_extractor.get());
    });
    return port;
  }

 private:
  using Inputs = std::tuple<Ins...>;
  /// Calls `f.template operator()<I>()` for `I == input`.
  template <class F>
  static void for_input(int input, F&& f) {
    bool found = false;
    [&]<size_t... I>(std::index_sequence<I...>) {
      ((static_cast<int>(I) == input ? (f.template operator()<I>(), found = true) : false), ...);
    }
    (std::index_sequence_for<Ins...>{});
    if (!found) throw std::logic_error("sage: no input " + std::to_string(input));
  }
};

}  // namespace sage::detail
