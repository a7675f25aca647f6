#pragma once
// Everything a user of canopy::core needs.
#include "canopy/core/actor.hpp"
#include "canopy/core/call.hpp"
#include "canopy/core/dynamic_size.hpp"
#include "canopy/core/exit_reason.hpp"
#include "canopy/core/gen_server.hpp"
#include "canopy/core/info.hpp"
#include "canopy/core/message.hpp"
#include "canopy/core/options.hpp"
#include "canopy/core/pid.hpp"
#include "canopy/core/registry.hpp"
#include "canopy/core/result.hpp"
#include "canopy/core/runtime.hpp"
