#include <sage/detail/plan.hpp>

#include <algorithm>
#include <functional>

#include <sage/detail/key_groups.hpp>
#include <sage/error.hpp>

namespace sage::detail {

namespace {

void validate(const Graph& graph) {
  // A job of services only serves until it is stopped.
  if (graph.nodes.empty() && !graph.services.empty()) return;
  if (graph.nodes.empty())
    throw GraphError("the job has no operators: add a source and a sink, or register a service");
  bool has_source = false;
  for (const auto& n : graph.nodes) {
    if (n->kind == NodeKind::source) has_source = true;
    if (n->future && n->in_edges.empty())
      throw GraphError("the future '" + n->name +
                       "' is never filled: close its loop with stream.fill_future(" + n->name +
                       ")");
    if (n->num_inputs > 0 && n->in_edges.empty())
      throw GraphError("operator '" + n->name + "' has no input");
    if (n->num_inputs == 0 && !n->in_edges.empty())
      throw GraphError("operator '" + n->name + "' is a source and takes no input");
  }
  if (!has_source) throw GraphError("the job has no source");
  // As Flink refuses it: records would flow and go nowhere.
  if (std::none_of(graph.nodes.begin(), graph.nodes.end(),
                   [](const auto& n) { return n->kind == NodeKind::sink; }))
    throw GraphError(
        "the job has no sink: end its streams in sink(), print(), collect() or another sink");
  // Edges run from earlier operators to later ones, except the feedback edges
  // that close loops (fill_future), which run back to a future.
  for (const auto& e : graph.edges)
    if (!e.feedback && e.from >= e.to)
      throw GraphError("the graph has a cycle through '" + graph.nodes[e.to]->name + "'");
}

std::vector<int> resolve_parallelism(const Graph& graph, const Config& config) {
  const auto fallback = config.get_int(config_keys::parallelism, 1);
  if (fallback < 1)
    throw GraphError("config 'parallelism' must be at least 1, got " + std::to_string(fallback));
  std::vector<int> p;
  for (const auto& n : graph.nodes) {
    int v = n->parallelism == 0 ? static_cast<int>(fallback) : n->parallelism;
    // Nodes come after their inputs (edges run from lower ids to higher).
    if (n->parallelism == 0 && n->parallelism_of_input && !n->in_edges.empty())
      v = p.at(static_cast<size_t>(graph.edges[n->in_edges.front()].from));
    if (v < 1)
      throw GraphError("operator '" + n->name + "': parallelism must be at least 1, got " +
                       std::to_string(v));
    p.push_back(v);
  }
  return p;
}

/// By node: the feedback loop it lies on (a strongly connected component
/// with a cycle, numbered by its first node), or -1. Graphs are small: a
/// reachability search from every node is enough.
std::vector<int> loop_of_nodes(const Graph& graph, int& loops) {
  const size_t n = graph.nodes.size();
  std::vector<std::vector<bool>> reach(n, std::vector<bool>(n, false));
  for (size_t s = 0; s < n; ++s) {
    std::vector<int> stack{static_cast<int>(s)};
    while (!stack.empty()) {
      const int v = stack.back();
      stack.pop_back();
      for (int e : graph.nodes[v]->out_edges)
        if (const int w = graph.edges[e].to; !reach[s][w]) {
          reach[s][w] = true;
          stack.push_back(w);
        }
    }
  }
  std::vector<int> loop(n, -1);
  loops = 0;
  for (size_t a = 0; a < n; ++a) {
    if (loop[a] >= 0 || !reach[a][a]) continue;
    for (size_t b = a; b < n; ++b)
      if (reach[a][b] && reach[b][a]) loop[b] = loops;
    ++loops;
  }
  return loop;
}

}  // namespace

PhysicalPlan compile_plan(const Graph& graph, const Config& config, const PlanOptions& options) {
  validate(graph);
  PhysicalPlan plan;
  plan.parallelism = resolve_parallelism(graph, config);
  const bool chaining = config.get_bool(config_keys::chaining, true);
  const auto max_parallelism =
      config.get_int(config_keys::max_parallelism, default_max_parallelism);
  if (max_parallelism < 1 || max_parallelism > max_max_parallelism)
    throw GraphError("config 'state.max_parallelism' must be between 1 and " +
                     std::to_string(max_max_parallelism) + ", got " +
                     std::to_string(max_parallelism));
  plan.max_parallelism = static_cast<int>(max_parallelism);

  // Routing: the default is forward between equal parallelisms, else round-robin.
  for (const auto& e : graph.edges) {
    Routing r = e.routing.kind;
    const bool equal = plan.parallelism[e.from] == plan.parallelism[e.to];
    if (r == Routing::unset) r = equal ? Routing::forward : Routing::round_robin;
    if (r == Routing::forward && !equal)
      throw GraphError("forward edge from '" + graph.nodes[e.from]->name + "' to '" +
                       graph.nodes[e.to]->name + "' needs equal parallelism");
    if (r == Routing::hash && plan.parallelism[e.to] > plan.max_parallelism)
      throw GraphError("operator '" + graph.nodes[e.to]->name + "' on a keyed stream has " +
                       std::to_string(plan.parallelism[e.to]) +
                       " instances, more than its key groups (state.max_parallelism " +
                       std::to_string(plan.max_parallelism) + ")");
    plan.routing.push_back(r);
    // Chained: a forward edge of equal parallelism into an operator with one
    // input edge, where both ends allow it (never a feedback edge: its target,
    // a future, heads a chain, so that no chain is a cycle).
    const auto& from = *graph.nodes[e.from];
    const auto& to = *graph.nodes[e.to];
    // What runs at the submitter (collect(), `.local()` operators) is a task
    // of its own there, never chained with what runs on the cluster.
    const bool apart = options.collect_apart && from.runs_at_submitter != to.runs_at_submitter;
    plan.chained.push_back(chaining && !e.feedback && r == Routing::forward &&
                           to.in_edges.size() == 1 && to.num_inputs == 1 &&
                           to.chaining == Chaining::always && from.chaining != Chaining::never &&
                           !apart);
  }

  // Chains: each head collects the nodes reachable over chained edges.
  plan.chain_of_node.assign(graph.nodes.size(), -1);
  for (const auto& head : graph.nodes) {
    const bool chained_in = head->in_edges.size() == 1 && plan.chained[head->in_edges.front()];
    if (chained_in) continue;
    ChainPlan chain;
    chain.parallelism = plan.parallelism[head->id];
    std::function<void(int)> visit = [&](int n) {
      chain.nodes.push_back(n);
      for (int e : graph.nodes[n]->out_edges)
        if (plan.chained[e]) visit(graph.edges[e].to);
    };
    visit(head->id);
    std::sort(chain.nodes.begin(), chain.nodes.end());
    for (size_t i = 0; i < chain.nodes.size(); ++i)
      chain.name += (i ? " -> " : "") + graph.nodes[chain.nodes[i]]->name;
    const int chain_id = static_cast<int>(plan.chains.size());
    for (int n : chain.nodes) plan.chain_of_node[n] = chain_id;
    plan.chains.push_back(std::move(chain));
  }

  // Tasks: one per chain instance.
  plan.tasks_of_chain.resize(plan.chains.size());
  for (size_t c = 0; c < plan.chains.size(); ++c) {
    for (int i = 0; i < plan.chains[c].parallelism; ++i) {
      TaskPlan t;
      t.id = static_cast<int>(plan.tasks.size());
      t.chain = static_cast<int>(c);
      t.instance = i;
      t.parallelism = plan.chains[c].parallelism;
      plan.tasks_of_chain[c].push_back(t.id);
      plan.tasks.push_back(std::move(t));
    }
  }

  // Loops: a task is in the loop of its chain's head. (Only a head can be
  // entered from another task, so a chain that reaches into a loop starts in it.)
  int loop_count = 0;
  const auto loop_of_node = loop_of_nodes(graph, loop_count);
  plan.loops.resize(static_cast<size_t>(loop_count));
  for (auto& task : plan.tasks) {
    const int head = plan.chains[task.chain].nodes.front();
    task.loop = loop_of_node[head];
    if (task.loop < 0) continue;
    auto& loop = plan.loops[task.loop];
    loop.tasks.push_back(task.id);
    if (!graph.nodes[head]->future) continue;
    loop.heads.push_back(task.id);
    if (task.instance == 0)
      loop.futures += (loop.futures.empty() ? "'" : ", '") + graph.nodes[head]->name + "'";
  }

  // Channels: every unchained edge joins its upstream instances to its downstream
  // instances (all to all, or i to i for forward).
  for (size_t e = 0; e < graph.edges.size(); ++e) {
    if (plan.chained[e]) continue;
    const auto& edge = graph.edges[e];
    const auto& up = plan.tasks_of_chain[plan.chain_of_node[edge.from]];
    const auto& down = plan.tasks_of_chain[plan.chain_of_node[edge.to]];
    for (int ut : up) {
      auto& from = plan.tasks[ut];
      TaskOutput out;
      out.edge = static_cast<int>(e);
      std::vector<int> targets;
      if (plan.routing[e] == Routing::forward)
        targets.push_back(down[from.instance]);
      else
        targets = down;
      for (int dt : targets) {
        auto& to = plan.tasks[dt];
        ChannelPlan ch;
        ch.id = static_cast<int>(plan.channels.size());
        ch.edge = static_cast<int>(e);
        ch.from_task = ut;
        ch.from_slot = from.output_slot_count++;
        ch.to_task = dt;
        ch.to_slot = static_cast<int>(to.inputs.size());
        if (from.loop >= 0 && from.loop == to.loop) ch.loop = from.loop;
        ch.feedback = edge.feedback && ch.loop >= 0;
        to.inputs.push_back(TaskInput{static_cast<int>(e), ch.id});
        out.slots.push_back(ch.from_slot);
        plan.channels.push_back(ch);
      }
      from.outputs.push_back(std::move(out));
    }
  }
  return plan;
}

}  // namespace sage::detail
