#pragma once
/// @file job_registry.hpp
/// The jobs this process can host tasks of, by id. The submitting process
/// registers the job it compiled; a task host registers the job it built from
/// the same program. A node spawns a job's tasks only from this registry, which
/// holds them weakly: an ended job is forgotten.

#include <memory>
#include <string>

#include <sage/detail/job_spec.hpp>

namespace sage::actors {

void register_job(const std::shared_ptr<const detail::JobSpec>& job);
std::shared_ptr<const detail::JobSpec> find_job(const std::string& id);

}  // namespace sage::actors
