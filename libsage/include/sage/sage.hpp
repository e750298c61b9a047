#pragma once
/// @file sage.hpp
/// The one header a SAGE program includes.

#include <sage/codec.hpp>
#include <sage/collected.hpp>
#include <sage/config.hpp>
#include <sage/datastream.hpp>
#include <sage/environment.hpp>
#include <sage/error.hpp>
#include <sage/event_time.hpp>
#include <sage/functions.hpp>
#include <sage/job.hpp>
#include <sage/runtime_context.hpp>
