#include <sage/detail/graph.hpp>

#include <algorithm>

#include <sage/error.hpp>

namespace sage::detail {

const char* to_string(Routing r) {
  switch (r) {
    case Routing::unset:
      return "default";
    case Routing::forward:
      return "forward";
    case Routing::hash:
      return "hash";
    case Routing::broadcast:
      return "broadcast";
    case Routing::round_robin:
      return "round_robin";
    case Routing::custom:
      return "custom";
  }
  return "?";
}

namespace {
bool name_taken(const Graph& g, const std::string& name, int except) {
  for (const auto& n : g.nodes)
    if (n->id != except && n->name == name) return true;
  return false;
}
}  // namespace

int Graph::add_node(std::shared_ptr<Node> node) {
  node->id = static_cast<int>(nodes.size());
  std::string name = node->kind_name;
  for (int suffix = 2; name_taken(*this, name, -1); ++suffix)
    name = node->kind_name + "-" + std::to_string(suffix);
  node->name = std::move(name);
  nodes.push_back(std::move(node));
  return nodes.back()->id;
}

void Graph::add_edge(int from, int to, EdgeRouting routing, int input) {
  if (from < 0 || from >= static_cast<int>(nodes.size()) || to < 0 ||
      to >= static_cast<int>(nodes.size()))
    throw GraphError("edge between unknown operators");
  const int id = static_cast<int>(edges.size());
  if (input < 0 || input >= std::max(1, nodes[to]->num_inputs))
    throw GraphError("operator '" + nodes[to]->name + "' has no input " + std::to_string(input));
  edges.push_back(Edge{from, to, std::move(routing), input});
  nodes[from]->out_edges.push_back(id);
  nodes[to]->in_edges.push_back(id);
}

void Graph::add_feedback_edge(int from, int future, EdgeRouting routing) {
  if (future < 0 || future >= static_cast<int>(nodes.size()) || !nodes[future]->future)
    throw GraphError("fill_future: the stream to fill is not a future (env.from_future)");
  if (!nodes[future]->in_edges.empty())
    throw GraphError("the future '" + nodes[future]->name +
                     "' is filled twice: a future is closed by one fill_future");
  add_edge(from, future, std::move(routing));
  edges.back().feedback = true;
}

void Graph::rename(int node, const std::string& name) {
  if (name.empty()) throw GraphError("an operator name cannot be empty");
  if (name_taken(*this, name, node))
    throw GraphError("two operators are named '" + name + "': names must be unique in a job");
  nodes.at(node)->name = name;
}

Graph Graph::snapshot() const {
  Graph copy;
  copy.edges = edges;
  copy.services = services;
  copy.nodes.reserve(nodes.size());
  for (const auto& n : nodes) copy.nodes.push_back(n->clone());
  return copy;
}

}  // namespace sage::detail
