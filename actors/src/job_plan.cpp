// The job plan: built from a compiled job, fingerprinted, validated.
// Plain data and plain functions: nothing here talks to an actor.

#include <sage/actors/job_plan.hpp>

#include <algorithm>
#include <charconv>
#include <sstream>

#include <sage/detail/job_spec.hpp>

namespace sage::actors {

JobPlan make_job_plan(const detail::JobSpec& job) {
  JobPlan out;
  out.id = job.id.str();
  out.name = job.name;
  out.placement = job.placement.value_or(detail::PlacementMode::local);
  for (const auto& node : job.graph.nodes) {
    out.operators.push_back(node->name);
    out.contents.push_back(node->describe_contents ? node->describe_contents() : std::string{});
  }
  const auto& plan = job.plan;
  for (const auto& task : plan.tasks) {
    const auto& chain = plan.chains[task.chain];
    PlannedTask t;
    t.chain = chain.name;
    t.instance = task.instance;
    t.input_slots = static_cast<uint32_t>(task.inputs.size());
    t.output_slots = static_cast<uint32_t>(task.output_slot_count);
    for (int n : chain.nodes) {
      const auto& node = *job.graph.nodes[n];
      t.operators.push_back(n);
      t.cpus += node.resources.cpus;
      t.memory_mb += node.resources.memory_mb;
      t.gpus += node.resources.gpus;
      for (const auto& [k, v] : node.resources.labels) t.labels[k] = v;
      if (node.runs_at_submitter) t.at_submitter = true;
    }
    t.is_source = job.graph.nodes[chain.nodes.front()]->kind == detail::NodeKind::source;
    t.serves = !job.graph.nodes[chain.nodes.front()]->serves.empty();
    t.loop = task.loop;
    if (task.loop >= 0) {
      const auto& heads = plan.loops[task.loop].heads;
      t.loop_head = std::find(heads.begin(), heads.end(), task.id) != heads.end();
    }
    out.tasks.push_back(std::move(t));
  }
  for (const auto& ch : plan.channels) {
    const auto& edge = job.graph.edges[ch.edge];
    const auto& producer = *job.graph.nodes[edge.from];
    // A side output carries the consumer's input type, which only the consumer knows.
    const bool side = !edge.routing.side_output.empty();
    const auto& consumer = *job.graph.nodes[edge.to];
    out.channels.push_back(PlannedChannel{
        ch.from_task, static_cast<uint32_t>(ch.from_slot), ch.to_task,
        static_cast<uint32_t>(ch.to_slot),
        side ? producer.name + " (side output " + edge.routing.side_output + ")" : producer.name,
        side ? "the side output's type" : producer.output_type_name(),
        side ? consumer.input_has_codec(edge.input) : producer.output_has_codec()});
  }
  for (size_t s = 0; s < job.graph.services.size(); ++s) {
    const auto& decl = job.graph.services[s];
    for (int i = 0; i < decl.parallelism; ++i) {
      PlannedTask t;
      t.chain = decl.name;
      t.instance = i;
      t.service = static_cast<int32_t>(s);
      t.cpus = decl.resources.cpus;
      t.memory_mb = decl.resources.memory_mb;
      t.gpus = decl.resources.gpus;
      t.labels = decl.resources.labels;
      out.services.push_back(std::move(t));
    }
  }
  out.fingerprint = fingerprint(out);
  return out;
}

std::vector<std::string> describe_lines(const JobPlan& plan) {
  std::vector<std::string> lines;
  lines.push_back("job \"" + plan.name + "\"");
  for (size_t op = 0; op < plan.operators.size(); ++op) {
    std::string line = "operator \"" + plan.operators[op] + "\"";
    if (op < plan.contents.size() && !plan.contents[op].empty())
      line += " holding " + plan.contents[op];
    lines.push_back(std::move(line));
  }
  for (const auto& t : plan.tasks) {
    std::ostringstream line;
    line << "task \"" << t.chain << "\" instance " << t.instance << ", " << t.input_slots
         << " inputs, " << t.output_slots << " outputs"
         << (t.at_submitter ? ", at the submitter" : "");
    if (t.loop >= 0) line << ", in loop " << t.loop << (t.loop_head ? " (its future)" : "");
    line << ", operators";
    for (int32_t op : t.operators) line << ' ' << op;
    lines.push_back(line.str());
  }
  for (const auto& t : plan.services)
    lines.push_back("service \"" + t.chain + "\" (" + std::to_string(t.service) + ") instance " +
                    std::to_string(t.instance));
  for (const auto& c : plan.channels) {
    std::ostringstream line;
    line << "channel " << c.from_task << ':' << c.from_slot << " -> " << c.to_task << ':'
         << c.to_slot << " of \"" << c.producer << "\" (" << c.type_name
         << (c.has_codec ? "" : ", no codec") << ')';
    lines.push_back(line.str());
  }
  return lines;
}

uint64_t fingerprint(const JobPlan& plan) {
  uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (const auto& line : describe_lines(plan)) {
    for (unsigned char c : line) {
      h ^= c;
      h *= 1099511628211ULL;
    }
    h ^= '\n';
    h *= 1099511628211ULL;
  }
  return h;
}

std::string first_difference(const std::vector<std::string>& here,
                             const std::vector<std::string>& there) {
  for (size_t i = 0; i < std::max(here.size(), there.size()); ++i) {
    if (i < here.size() && i < there.size() && here[i] == there[i]) continue;
    const std::string mine = i < here.size() ? here[i] : "nothing";
    const std::string theirs = i < there.size() ? there[i] : "nothing";
    return "here " + mine + ", where it was submitted " + theirs;
  }
  return {};
}

std::string validate(const JobPlan& plan) {
  // Bounds far above any real job, far below what would exhaust a node.
  constexpr size_t max_tasks = 100'000, max_slots = 100'000, max_operators = 10'000;
  if (plan.id.empty() || plan.id.size() > 64 ||
      plan.id.find_first_not_of("0123456789abcdef") != std::string::npos)
    return "a job id must be up to 64 hex digits";
  if ((plan.tasks.empty() && plan.services.empty()) || plan.tasks.size() > max_tasks ||
      plan.services.size() > max_tasks)
    return "no tasks, or too many";
  if (plan.placement > detail::PlacementMode::cluster) return "an unknown placement mode";
  if (plan.operators.size() > max_operators) return "too many operators";
  if (!plan.contents.empty() && plan.contents.size() != plan.operators.size())
    return "what the operators hold does not match them";
  for (const auto& t : plan.tasks) {
    if (t.instance < 0 || t.input_slots > max_slots || t.output_slots > max_slots ||
        t.operators.empty() || t.loop < -1 || t.loop >= static_cast<int64_t>(plan.tasks.size()))
      return "task \"" + t.chain + "\" is malformed";
    for (int32_t op : t.operators)
      if (op < 0 || static_cast<size_t>(op) >= plan.operators.size())
        return "task \"" + t.chain + "\" names an unknown operator";
  }
  for (const auto& t : plan.services)
    if (t.chain.empty() || t.chain.size() > 1000 || t.instance < 0 || t.service < 0 ||
        static_cast<size_t>(t.service) >= plan.services.size() || !t.operators.empty() ||
        t.input_slots != 0 || t.output_slots != 0)
      return "service \"" + t.chain.substr(0, 80) + "\" is malformed";
  for (const auto& c : plan.channels) {
    const auto tasks = static_cast<int64_t>(plan.tasks.size());
    if (c.from_task < 0 || c.from_task >= tasks || c.to_task < 0 || c.to_task >= tasks ||
        c.from_slot >= plan.tasks[c.from_task].output_slots ||
        c.to_slot >= plan.tasks[c.to_task].input_slots)
      return "a channel joins tasks or slots that do not exist";
  }
  return {};
}

}  // namespace sage::actors
