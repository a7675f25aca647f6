#include "top_cli.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <thread>

#include "client_options.hpp"
#include "http_client.hpp"

namespace canopy::app {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr const char* kUsage =
    "usage: canopy top [--url http://127.0.0.1:9568] [--sort mailbox|heap|reductions|cpu|oldest]\n"
    "                  [--match TEXT] [--limit N] [--token-file FILE] [--once]\n"
    "  reductions and cpu sort by the rate over the last poll interval; on a terminal the keys\n"
    "  m h r c o change the sort, / filters by name or behaviour (Enter applies, Esc clears), q quits\n";

// The API's sort keys for the ones a person types.
const std::map<std::string, std::string> kSorts = {
    {"mailbox", "mailbox"}, {"heap", "heap"}, {"reductions", "reductions_rate"},
    {"cpu", "cpu_rate"},    {"oldest", "oldest"},
};
const std::map<char, std::string> kSortKeys = {
    {'m', "mailbox"}, {'h', "heap"}, {'r', "reductions"}, {'c', "cpu"}, {'o', "oldest"}};

struct TopOptions {
  std::string url = "http://127.0.0.1:9568";
  std::string sort = "mailbox";
  std::string match;
  int limit = 0;  // 0: what fits the screen (50 for a plain table)
  std::string token;
  bool once = false;
};

int usage(const std::string& message) {
  std::cerr << "canopy top: " << message << "\n" << kUsage;
  return 2;
}

// --------------------------------------------------------------- formatting

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string bytes(double n) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int i = 0;
  while (n >= 1024 && i < 4) {
    n /= 1024;
    ++i;
  }
  return (i == 0 ? fixed(n, 0) : fixed(n, n < 10 ? 2 : 1)) + " " + kUnits[i];
}

std::string duration(double s) {
  if (s <= 0) return "-";
  if (s < 1) return fixed(s * 1000, s < 0.01 ? 2 : 0) + " ms";
  if (s < 120) return fixed(s, 1) + " s";
  if (s < 7200) return fixed(s / 60, 1) + " min";
  if (s < 172800) return fixed(s / 3600, 1) + " h";
  return fixed(s / 86400, 1) + " d";
}

std::string count(double n) {
  if (n >= 1e9) return fixed(n / 1e9, 2) + "G";
  if (n >= 1e6) return fixed(n / 1e6, 2) + "M";
  if (n >= 1e4) return fixed(n / 1e3, 1) + "k";
  return fixed(n, n == static_cast<double>(static_cast<long long>(n)) ? 0 : 1);
}

// "canopy::app::(anonymous namespace)::Ledger" -> "Ledger"; templates stay whole.
std::string short_type(const std::string& t) {
  if (t.find('<') != std::string::npos) return t;
  const size_t colons = t.rfind("::");
  return colons == std::string::npos ? t : t.substr(colons + 2);
}

std::string pad(std::string s, size_t width, bool right = false) {
  if (s.size() > width) s = s.substr(0, width > 1 ? width - 1 : 0) + (width > 1 ? "~" : "");
  const std::string fill(width - s.size(), ' ');
  return right ? fill + s : s + fill;
}

// ------------------------------------------------------------------ fetching

struct Sample {
  json system;
  json schedulers;
  json processes;
  Clock::time_point at;
};

Result<json> get_json(const TopOptions& o, const std::string& path) {
  Result<HttpReply> r = http_request("GET", o.url, path, "", o.token, std::chrono::seconds(5));
  if (!r.ok()) return r.error();
  json doc = json::parse(r->body, nullptr, false);
  if (doc.is_discarded()) return Error(Errc::invalid_argument, o.url + path + ": the answer is not JSON");
  if (r->status != 200) {
    const std::string why = doc.is_object() && doc.contains("error") ? doc["error"].get<std::string>() : r->body;
    return Error(Errc::invalid_argument, o.url + path + ": HTTP " + std::to_string(r->status) + ": " + why);
  }
  return doc;
}

std::string escape_query(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

Result<Sample> fetch(const TopOptions& o, const std::string& sort, const std::string& match, int limit) {
  Sample s;
  s.at = Clock::now();
  auto system = get_json(o, "/api/v1/system");
  if (!system.ok()) return system.error();
  auto schedulers = get_json(o, "/api/v1/schedulers");
  if (!schedulers.ok()) return schedulers.error();
  std::string path = "/api/v1/processes?sort=" + kSorts.at(sort) + "&limit=" + std::to_string(std::max(1, limit));
  if (!match.empty()) path += "&match=" + escape_query(match);
  auto processes = get_json(o, path);
  if (!processes.ok()) return processes.error();
  s.system = std::move(*system);
  s.schedulers = std::move(*schedulers);
  s.processes = std::move(*processes);
  return s;
}

// ----------------------------------------------------------------- rendering

struct View {
  std::string sort;
  std::string match;
  bool editing = false;  // typing a filter after '/'
  std::string typed;
  std::string status;  // a disconnection, shown in the header
};

double number(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}

std::string text(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

double dropped_total(const json& system) {
  double sum = 0;
  if (auto it = system.find("messages_dropped"); it != system.end() && it->is_object()) {
    for (const auto& [k, v] : it->items())
      if (v.is_number()) sum += v.get<double>();
  }
  return sum;
}

// The header: node, processes, memory, schedulers, messages, keys.
std::vector<std::string> header(const TopOptions& o, const Sample& now, const Sample* before, const View& v) {
  std::vector<std::string> lines;
  const json& sys = now.system;
  const double procs = number(sys, "process_count"), limit = number(sys, "process_limit");
  lines.push_back("canopy " + text(sys, "version") + " at " + o.url + "  up " + duration(number(sys, "uptime_seconds")) +
                  "  processes " + count(procs) + "/" + count(limit) + " (" +
                  fixed(limit > 0 ? 100 * procs / limit : 0, 1) + "%)  in mailboxes " +
                  count(number(sys, "mailbox_messages")) + "  restarts " + count(number(sys, "supervisor_restarts")));
  std::string memory = "memory:";
  if (auto it = sys.find("memory"); it != sys.end() && it->is_object()) {
    for (const auto& [kind, value] : it->items())
      if (value.is_number()) memory += "  " + kind + " " + bytes(value.get<double>());
  }
  lines.push_back(memory);
  std::string util = "utilization:", queues = "  run queues:";
  const json& scheds = now.schedulers["schedulers"];
  for (const json& s : scheds) {
    const double id = number(s, "id");
    std::string u = "?";
    if (before) {
      for (const json& p : before->schedulers["schedulers"]) {
        if (number(p, "id") != id) continue;
        const double busy = number(s, "busy_seconds") - number(p, "busy_seconds");
        const double wall = busy + number(s, "idle_seconds") - number(p, "idle_seconds");
        u = fixed(wall > 0 ? 100 * std::clamp(busy / wall, 0.0, 1.0) : 0, 1) + "%";
      }
    }
    util += " " + fixed(id + 1, 0) + ":" + u;
    queues += " " + count(number(s, "run_queue_length"));
  }
  lines.push_back(util + queues);
  std::string messages = "messages: sent ";
  if (before) {
    const double dt = std::chrono::duration<double>(now.at - before->at).count();
    const double sent = number(sys, "messages_sent") - number(before->system, "messages_sent");
    const double dropped = dropped_total(sys) - dropped_total(before->system);
    messages += count(dt > 0 ? std::max(0.0, sent / dt) : 0) + "/s  dropped " +
                count(dt > 0 ? std::max(0.0, dropped / dt) : 0) + "/s";
  } else {
    messages += count(number(sys, "messages_sent")) + " total  dropped " + count(dropped_total(sys)) + " total";
  }
  lines.push_back(messages);
  std::string keys = "sort: " + v.sort + "   filter: " + (v.match.empty() ? "-" : v.match);
  if (!o.once) keys += "   keys: m mailbox  h heap  r reductions/s  c cpu  o oldest  / filter  q quit";
  lines.push_back(keys);
  if (v.editing) lines.push_back("filter (Enter applies, Esc clears): " + v.typed + "_");
  if (!v.status.empty()) lines.push_back(v.status);
  return lines;
}

std::vector<std::string> table(const Sample& now, size_t width, size_t rows) {
  std::vector<std::string> lines;
  auto row = [&](const std::string& pid, const std::string& name, const std::string& mailbox,
                 const std::string& oldest, const std::string& heap, const std::string& red, const std::string& cpu,
                 const std::string& status, const std::string& behaviour) {
    std::string line = pad(pid, 14) + " " + pad(name, 22) + " " + pad(mailbox, 9, true) + " " + pad(oldest, 9, true) +
                       " " + pad(heap, 10, true) + " " + pad(red, 9, true) + " " + pad(cpu, 11, true) + "  " +
                       pad(status, 8) + " ";
    const size_t room = width > line.size() ? width - line.size() : 0;
    line += pad(behaviour, std::min<size_t>(room, 80));
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return line;
  };
  const json& procs = now.processes["processes"];
  lines.push_back("top " + std::to_string(std::min(rows, procs.size())) + " of " +
                  count(number(now.processes, "total")) + " processes by " + text(now.processes, "sort"));
  lines.push_back(row("PID", "NAME", "MAILBOX", "OLDEST", "HEAP", "RED/S", "CPU", "STATUS", "BEHAVIOUR"));
  for (size_t i = 0; i < procs.size() && i < rows; ++i) {
    const json& p = procs[i];
    lines.push_back(row(text(p, "pid"), text(p, "name").empty() ? "-" : text(p, "name"),
                        count(number(p, "mailbox_length")), duration(number(p, "mailbox_oldest_age_seconds")),
                        bytes(number(p, "heap_bytes")), count(number(p, "reductions_per_second")),
                        fixed(number(p, "cpu_utilization") * 1000, 1) + " ms/s", text(p, "status"),
                        short_type(text(p, "behaviour"))));
  }
  return lines;
}

// ------------------------------------------------------------------ terminal

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int signo) { g_stop = signo; }

// Raw input and the alternate screen while it lives; restored on every exit
// path (the destructor) including SIGINT/SIGTERM (which only set g_stop).
class RawTerminal {
 public:
  RawTerminal() {
    if (tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
      raw.c_iflag &= static_cast<tcflag_t>(~(IXON | ICRNL));
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      restore_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
    write_out("\x1b[?1049h\x1b[?25l");
  }
  ~RawTerminal() {
    write_out("\x1b[?25h\x1b[?1049l");
    if (restore_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

  static void write_out(const std::string& s) {
    size_t done = 0;
    while (done < s.size()) {
      const ssize_t n = ::write(STDOUT_FILENO, s.data() + done, s.size() - done);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }

  static std::pair<size_t, size_t> size() {
    winsize ws{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) return {ws.ws_col, ws.ws_row};
    return {100, 30};
  }

  // The bytes typed within `wait` (empty on a timeout or a signal).
  static std::string read_keys(std::chrono::milliseconds wait) {
    pollfd p{STDIN_FILENO, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(wait.count())) <= 0) return {};
    char buf[64];
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  termios saved_{};
  bool restore_ = false;
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

void draw(const std::vector<std::string>& lines, size_t width, size_t height) {
  std::string frame = "\x1b[H";
  for (size_t i = 0; i < lines.size() && i < height; ++i) {
    frame += lines[i].size() > width ? lines[i].substr(0, width) : lines[i];
    frame += "\x1b[K";
    if (i + 1 < height) frame += "\r\n";
  }
  frame += "\x1b[J";
  RawTerminal::write_out(frame);
}

// Applies typed keys to the view; false when q was pressed.
bool apply_keys(const std::string& keys, View& v) {
  for (char c : keys) {
    if (v.editing) {
      if (c == '\r' || c == '\n') {
        v.match = v.typed;
        v.editing = false;
      } else if (c == 27) {
        v.editing = false;
        v.typed.clear();
        v.match.clear();
      } else if (c == 127 || c == 8) {
        if (!v.typed.empty()) v.typed.pop_back();
      } else if (static_cast<unsigned char>(c) >= 0x20) {
        v.typed += c;
      }
      continue;
    }
    if (c == 'q' || c == 'Q') return false;
    if (c == '/') {
      v.editing = true;
      v.typed = v.match;
    } else if (auto it = kSortKeys.find(c); it != kSortKeys.end()) {
      v.sort = it->second;
    }
  }
  return true;
}

int interactive(const TopOptions& o) {
  View v{o.sort, o.match};
  std::optional<Sample> last;
  // The first answer decides whether the URL answers at all.
  {
    auto first = fetch(o, v.sort, v.match, 1);
    if (!first.ok()) {
      std::cerr << "canopy top: " << first.error().message() << "\n";
      return 1;
    }
  }
  RawTerminal term;
  auto next = Clock::now();
  while (g_stop == 0) {
    const auto [width, height] = RawTerminal::size();
    const int rows = o.limit > 0 ? o.limit : static_cast<int>(height > 12 ? height - 10 : 2);
    auto s = fetch(o, v.sort, v.match, rows);
    if (s.ok()) {
      v.status.clear();
      std::vector<std::string> lines = header(o, *s, last ? &*last : nullptr, v);
      lines.push_back("");
      for (std::string& l : table(*s, width, static_cast<size_t>(rows))) lines.push_back(std::move(l));
      draw(lines, width, height);
      last = std::move(*s);
    } else {
      v.status = "DISCONNECTED: " + s.error().message() + " (retrying every second)";
      std::vector<std::string> lines = last ? header(o, *last, nullptr, v) : std::vector<std::string>{v.status};
      draw(lines, width, height);
    }
    next += std::chrono::seconds(1);
    // Keys until the next refresh; a key that changes the view refreshes now.
    while (g_stop == 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now());
      if (left.count() <= 0) break;
      const std::string keys = RawTerminal::read_keys(left);
      if (keys.empty()) continue;
      const View before = v;
      if (!apply_keys(keys, v)) return 0;
      if (before.sort != v.sort || before.match != v.match) {
        next = Clock::now();
        break;
      }
      if (before.editing != v.editing || before.typed != v.typed) {
        // Redraw the filter line at once; the numbers wait for the refresh.
        if (last) {
          std::vector<std::string> lines = header(o, *last, nullptr, v);
          lines.push_back("");
          for (std::string& l : table(*last, width, static_cast<size_t>(rows))) lines.push_back(std::move(l));
          draw(lines, width, height);
        }
      }
    }
    if (Clock::now() > next + std::chrono::seconds(1)) next = Clock::now();
  }
  return g_stop == SIGINT ? 130 : 143;
}

int once(const TopOptions& o) {
  View v{o.sort, o.match};
  const int rows = o.limit > 0 ? o.limit : 50;
  // Two samples a quarter second apart: utilization and rates need a delta.
  auto first = fetch(o, v.sort, v.match, 1);
  if (!first.ok()) {
    std::cerr << "canopy top: " << first.error().message() << "\n";
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  auto second = fetch(o, v.sort, v.match, rows);
  if (!second.ok()) {
    std::cerr << "canopy top: " << second.error().message() << "\n";
    return 1;
  }
  std::ostringstream out;
  for (const std::string& l : header(o, *second, &*first, v)) out << l << "\n";
  out << "\n";
  for (const std::string& l : table(*second, 200, static_cast<size_t>(rows))) out << l << "\n";
  std::cout << out.str() << std::flush;
  return 0;
}

}  // namespace

int top_command(const std::vector<std::string>& args) {
  TopOptions o;
  std::string token_file;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const std::string& flag, std::string& out) { return flag_value(args, i, flag, out); };
    auto is = [&](const std::string& flag) { return is_flag(a, flag); };
    std::string limit;
    if (a == "--once") {
      o.once = true;
    } else if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    } else if (is("--url")) {
      if (!value("--url", o.url)) return usage("--url needs a URL");
    } else if (is("--sort")) {
      if (!value("--sort", o.sort)) return usage("--sort needs a key");
      if (!kSorts.count(o.sort)) return usage("--sort must be mailbox, heap, reductions, cpu or oldest, not '" + o.sort + "'");
    } else if (is("--match")) {
      if (!value("--match", o.match)) return usage("--match needs a TEXT");
    } else if (is("--limit")) {
      if (!value("--limit", limit)) return usage("--limit needs a number");
      char* end = nullptr;
      const long n = std::strtol(limit.c_str(), &end, 10);
      if (limit.empty() || *end != '\0' || n < 1 || n > 10'000)
        return usage("--limit must be a whole number from 1 to 10000, not '" + limit + "'");
      o.limit = static_cast<int>(n);
    } else if (is("--token-file")) {
      if (!value("--token-file", token_file)) return usage("--token-file needs a FILE");
    } else {
      return usage("unknown argument '" + a + "'");
    }
  }
  if (!token_file.empty()) {
    Result<std::string> token = read_token_file(token_file);
    if (!token.ok()) {
      std::cerr << "canopy top: " << token.error().message() << "\n";
      return 1;
    }
    o.token = std::move(token).value();
  }
  if (o.once || !isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) return once(o);
  return interactive(o);
}

}  // namespace canopy::app
