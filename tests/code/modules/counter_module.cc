// A test module, "counter", built once per COUNTER_VERSION (tests/code/CMakeLists.txt):
//   1  counts messages and checks per-sender order; state "count=N\nviolations=V\npoison=P\n" + "s<id>=<seq>\n"
//   2  same, plus a field "generation" that its code_change from 1 adds (generation=2)
//   3  its code_change from 2 rejects a state with poison=1
//   4  its code_change from 1 sleeps 2 s (a migration that times out)
//   5  its code_change from 1 throws
// The behaviour "worker" (every version) cannot be upgraded in place: its
// processes are restarted. Protocol: cast or call "<sender> <seq>" records
// a message; call "get" answers "version=V count=N violations=V generation=G";
// cast "poison" marks the state; call "crash" throws (the process crashes).
#include <chrono>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>

#include "canopy/core/module.hpp"

#ifndef COUNTER_VERSION
#error COUNTER_VERSION must be defined
#endif
#ifndef COUNTER_NAME
#define COUNTER_NAME "counter"
#endif
#define STR2(x) #x
#define STR(x) STR2(x)

namespace {

struct State {
  long count = 0;
  long violations = 0;
  long poison = 0;
  long generation = 1;
  std::map<long, long> last;

  void record(std::string_view body) {
    const size_t sp = body.find(' ');
    if (sp == std::string_view::npos) throw std::runtime_error("bad message: " + std::string(body));
    const long sender = std::stol(std::string(body.substr(0, sp)));
    const long seq = std::stol(std::string(body.substr(sp + 1)));
    auto [it, fresh] = last.emplace(sender, 0);
    if (seq != it->second + 1) ++violations;
    it->second = seq;
    ++count;
  }

  std::string save(bool with_generation) const {
    std::string s = "count=" + std::to_string(count) + "\nviolations=" + std::to_string(violations) +
                    "\npoison=" + std::to_string(poison) + "\n";
    if (with_generation) s += "generation=" + std::to_string(generation) + "\n";
    for (const auto& [k, v] : last) s += "s" + std::to_string(k) + "=" + std::to_string(v) + "\n";
    return s;
  }

  // Reads a saved state; `need_generation` says whether the form has it.
  static State parse(std::string_view text, bool need_generation) {
    State st;
    bool saw_count = false, saw_generation = false;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string_view::npos) nl = text.size();
      const std::string line(text.substr(pos, nl - pos));
      pos = nl + 1;
      const size_t eq = line.find('=');
      if (eq == std::string::npos) throw std::runtime_error("state line without '=': " + line);
      const std::string key = line.substr(0, eq);
      const long value = std::stol(line.substr(eq + 1));
      if (key == "count") {
        st.count = value;
        saw_count = true;
      } else if (key == "violations") {
        st.violations = value;
      } else if (key == "poison") {
        st.poison = value;
      } else if (key == "generation") {
        st.generation = value;
        saw_generation = true;
      } else if (key.size() > 1 && key[0] == 's') {
        st.last[std::stol(key.substr(1))] = value;
      } else {
        throw std::runtime_error("unknown state field '" + key + "'");
      }
    }
    if (!saw_count) throw std::runtime_error("not a counter state (no count)");
    if (need_generation != saw_generation) throw std::runtime_error("state of another version (generation field)");
    return st;
  }
};

constexpr bool kHasGeneration = COUNTER_VERSION >= 2 && COUNTER_VERSION <= 3;

struct Counter {
  State st;
  static Counter* create(std::string_view arg) {
    if (arg == "fail") throw std::runtime_error("refused to start");
    auto* c = new Counter;
    if (kHasGeneration) c->st.generation = 2;
    return c;
  }
  std::string handle_call(std::string_view req) {
    if (req == "get") {
      return "version=" STR(COUNTER_VERSION) " count=" + std::to_string(st.count) +
             " violations=" + std::to_string(st.violations) + " generation=" + std::to_string(st.generation);
    }
    if (req == "crash") throw std::runtime_error("asked to crash");
    if (req == "state") return save_state();
    st.record(req);
    return "ok";
  }
  void handle_cast(std::string_view msg) {
    if (msg == "poison") {
      st.poison = 1;
      return;
    }
    if (msg == "crash") throw std::runtime_error("asked to crash");
    st.record(msg);
  }
  std::string save_state() const { return st.save(kHasGeneration); }

  static Counter* from_previous(std::string_view old) {
#if COUNTER_VERSION == 2
    auto* c = new Counter;
    c->st = State::parse(old, false);
    c->st.generation = 2;
    return c;
#elif COUNTER_VERSION == 3
    State st = State::parse(old, true);
    if (st.poison != 0) throw std::runtime_error("refusing a poisoned state (count=" + std::to_string(st.count) + ")");
    auto* c = new Counter;
    c->st = st;
    return c;
#elif COUNTER_VERSION == 4
    std::this_thread::sleep_for(std::chrono::seconds(2));
    auto* c = new Counter;
    c->st = State::parse(old, false);
    return c;
#elif COUNTER_VERSION == 5
    (void)old;
    throw std::logic_error("code_change of version 5 always throws");
#else
    (void)old;
    throw std::runtime_error("version 1 has no code_change");
#endif
  }
};

// Cannot change in place: an upgrade restarts it.
struct Worker {
  static Worker* create(std::string_view) { return new Worker; }
  std::string handle_call(std::string_view) { return "worker version=" STR(COUNTER_VERSION); }
  void handle_cast(std::string_view) {}
  std::string save_state() const { return {}; }
};

const canopy_behaviour_v1 kBehaviours[] = {
    canopy::module::Behaviour<Counter>::describe("counter"),
    canopy::module::Behaviour<Worker>::describe("worker", CANOPY_BEHAVIOUR_RESTART_ON_UPGRADE),
};

#if COUNTER_VERSION == 3
#define FROM_VERSION "2"
#else
#define FROM_VERSION "1"
#endif

const canopy_code_change_v1 kChanges[] = {
    {"counter", FROM_VERSION, &canopy::module::code_change<&Counter::from_previous>},
};

#ifdef COUNTER_BAD_ABI
constexpr uint32_t kAbi = 99;
#else
constexpr uint32_t kAbi = CANOPY_MODULE_ABI_VERSION;
#endif

}  // namespace

CANOPY_MODULE((canopy_module_v1{kAbi, COUNTER_NAME, STR(COUNTER_VERSION), kBehaviours, 2, kChanges,
                                COUNTER_VERSION == 1 ? 0u : 1u}))
