#pragma once
/// @file log.hpp
/// SAGE's own loggers: one per component (`runtime`, `cluster`, ...), named
/// `sage.<component>`, all writing to stderr. Stdout belongs to `print()` and
/// to the user's program; SAGE never logs through spdlog's default logger
/// (which writes to stdout).

#include <memory>
#include <string>

#include <spdlog/logger.h>

namespace sage::detail {

/// The logger of `component`, created on first use.
spdlog::logger& log(const std::string& component);

/// A logger of its own (for one operator instance), on the same stderr sink.
std::shared_ptr<spdlog::logger> make_stderr_logger(const std::string& name);

}  // namespace sage::detail
