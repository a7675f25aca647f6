#include "dump_cli.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <unordered_map>

#include "canopy/exporters/json.hpp"

namespace canopy::app {

namespace {

// "canopy::app::(anonymous namespace)::Ledger" -> "canopy::app::Ledger".
std::string short_type(std::string t) {
  static const std::string anon = "(anonymous namespace)::";
  for (size_t at; (at = t.find(anon)) != std::string::npos;) t.erase(at, anon.size());
  return t;
}

// A process as the summary lists it.
struct Row {
  std::string pid;
  std::string name;
  std::string behaviour;
  uint64_t mailbox = 0;
  uint64_t heap = 0;
  uint64_t reductions = 0;
  std::string label() const { return name.empty() ? short_type(behaviour) + " " + pid : name; }
};

// The N largest rows by one measure, kept while rows stream past.
class TopN {
 public:
  TopN(size_t n, uint64_t Row::*field) : n_(n), field_(field) {}
  void offer(const Row& r) {
    if (r.*field_ == 0) return;
    rows_.push_back(r);
    if (rows_.size() > n_ * 64) trim();
  }
  std::vector<Row> take() {
    trim();
    return rows_;
  }

 private:
  void trim() {
    auto more = [this](const Row& a, const Row& b) { return a.*field_ > b.*field_; };
    if (rows_.size() > n_) {
      std::nth_element(rows_.begin(), rows_.begin() + static_cast<long>(n_), rows_.end(), more);
      rows_.resize(n_);
    }
    std::sort(rows_.begin(), rows_.end(), more);
  }
  size_t n_;
  uint64_t Row::*field_;
  std::vector<Row> rows_;
};

uint64_t to_u64(const std::string* s) {
  if (s == nullptr) return 0;
  return std::strtoull(s->c_str(), nullptr, 10);
}
double to_double(const std::string* s) { return s == nullptr ? 0.0 : std::strtod(s->c_str(), nullptr); }
std::string text(const std::string* s) { return s == nullptr ? std::string() : *s; }

std::string percent(uint64_t part, uint64_t whole) {
  return std::to_string(whole == 0 ? 0 : static_cast<int>(100.0 * static_cast<double>(part) / static_cast<double>(whole) + 0.5)) + "%";
}

std::string human_bytes(uint64_t b) {
  char out[32];
  if (b >= (1ull << 30)) {
    std::snprintf(out, sizeof(out), "%.1f GiB", static_cast<double>(b) / (1ull << 30));
  } else if (b >= (1ull << 20)) {
    std::snprintf(out, sizeof(out), "%.1f MiB", static_cast<double>(b) / (1ull << 20));
  } else if (b >= 1024) {
    std::snprintf(out, sizeof(out), "%.1f KiB", static_cast<double>(b) / 1024);
  } else {
    std::snprintf(out, sizeof(out), "%llu B", static_cast<unsigned long long>(b));
  }
  return out;
}

}  // namespace

struct DumpSummary {
  std::string slogan, kind, time, version;
  double uptime_s = 0;
  uint64_t os_pid = 0;
  uint64_t processes = 0;
  uint64_t mailbox_messages = 0;
  std::map<std::string, uint64_t> memory;
  // Waiting messages by holder (registered name, else behaviour and pid).
  std::vector<std::pair<std::string, uint64_t>> mailbox_holders;  // largest first (at most 10)
  std::vector<Row> by_mailbox, by_heap, by_reductions;
  struct Scheduler {
    std::string id, state, running_pid, running_behaviour;
    double utilization = 0;
    uint64_t run_queue = 0;
    bool faulted = false;
  };
  std::vector<Scheduler> schedulers;
  struct Table {
    std::string name, owner, kind;
    uint64_t entries = 0, memory = 0, max_entries = 0, max_bytes = 0;
  };
  std::vector<Table> tables;  // largest first
  uint64_t table_memory = 0;
  struct Restarts {
    std::string supervisor, child;
    uint64_t supervisor_restarts = 0, child_restarts = 0, budget_left = 0;
  };
  std::vector<Restarts> restarts;  // most restarts first
  struct Crashes {
    std::string behaviour;
    uint64_t count = 0;
    std::string last_reason, last_action, supervisors;
  };
  std::vector<Crashes> crashes;  // most first
  uint64_t crash_reports = 0;
  std::vector<std::string> verdicts;
};

namespace {

DumpSummary summarise(const DumpFile& f, std::unordered_map<std::string, uint64_t>& holders, TopN& mq, TopN& heap,
                      TopN& reds) {
  DumpSummary s;
  s.slogan = f.slogan;
  s.kind = f.kind;
  s.time = text(f.header.get("time"));
  s.version = text(f.header.get("canopy_version"));
  s.uptime_s = to_double(f.header.get("uptime_s"));
  s.os_pid = to_u64(f.header.get("os_pid"));
  s.processes = f.process_count;
  for (const auto* m : f.named("memory")) {
    for (const auto& [k, v] : m->fields) {
      if (k != "mailbox_messages") s.memory[k] = std::strtoull(v.c_str(), nullptr, 10);
    }
  }
  for (const auto& [who, n] : holders) {
    s.mailbox_messages += n;
    s.mailbox_holders.emplace_back(who, n);
  }
  std::sort(s.mailbox_holders.begin(), s.mailbox_holders.end(),
            [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
  if (s.mailbox_holders.size() > 10) s.mailbox_holders.resize(10);
  s.by_mailbox = mq.take();
  s.by_heap = heap.take();
  s.by_reductions = reds.take();
  // A supervisor has no registered name; call it by its own.
  std::map<std::string, std::string> supervisor_names;
  for (const auto* sec : f.named("supervisor")) supervisor_names[sec->id] = text(sec->get("name"));
  for (auto* rows : {&s.by_mailbox, &s.by_heap, &s.by_reductions}) {
    for (Row& r : *rows) {
      auto it = supervisor_names.find(r.pid);
      if (r.name.empty() && it != supervisor_names.end()) r.name = "supervisor '" + it->second + "'";
    }
  }
  for (const auto* sec : f.named("scheduler")) {
    DumpSummary::Scheduler sc;
    sc.id = sec->id;
    sc.state = text(sec->get("state"));
    sc.utilization = to_double(sec->get("utilization"));
    sc.run_queue = to_u64(sec->get("run_queue"));
    sc.running_pid = text(sec->get("running_pid"));
    sc.running_behaviour = text(sec->get("running_behaviour"));
    sc.faulted = text(sec->get("faulted")) == "true";
    s.schedulers.push_back(std::move(sc));
  }
  for (const auto* sec : f.named("table")) {
    DumpSummary::Table t;
    t.name = text(sec->get("name"));
    if (t.name.empty()) t.name = "#" + sec->id;
    t.owner = text(sec->get("owner"));
    t.kind = text(sec->get("kind"));
    t.entries = to_u64(sec->get("entries"));
    t.memory = to_u64(sec->get("memory_bytes"));
    t.max_entries = to_u64(sec->get("max_entries"));
    t.max_bytes = to_u64(sec->get("max_bytes"));
    s.table_memory += t.memory;
    s.tables.push_back(std::move(t));
  }
  std::sort(s.tables.begin(), s.tables.end(), [](const auto& a, const auto& b) { return a.memory > b.memory; });
  for (const auto* sec : f.named("supervisor")) {
    DumpSummary::Restarts r;
    r.supervisor = text(sec->get("name"));
    r.supervisor_restarts = to_u64(sec->get("restarts"));
    r.budget_left = to_u64(sec->get("restart_budget_remaining"));
    // child: ID \t PID \t STATE \t RESTARTS \t LAST EXIT
    for (const std::string& c : sec->all("child")) {
      std::vector<std::string> parts;
      std::stringstream in(c);
      for (std::string p; std::getline(in, p, '\t');) parts.push_back(p);
      const uint64_t n = parts.size() > 3 ? std::strtoull(parts[3].c_str(), nullptr, 10) : 0;
      if (n > r.child_restarts) {
        r.child_restarts = n;
        r.child = parts[0];
      }
    }
    if (r.supervisor_restarts > 0) s.restarts.push_back(std::move(r));
  }
  std::sort(s.restarts.begin(), s.restarts.end(),
            [](const auto& a, const auto& b) { return a.supervisor_restarts > b.supervisor_restarts; });
  std::map<std::string, DumpSummary::Crashes> by_behaviour;
  // Crash reports come newest first: the first one seen is the last.
  for (const auto* sec : f.named("crash_report")) {
    ++s.crash_reports;
    const std::string b = text(sec->get("behaviour"));
    auto& c = by_behaviour[b];
    if (c.count++ == 0) {
      c.behaviour = b;
      c.last_reason = text(sec->get("reason"));
      c.last_action = text(sec->get("supervisor_action"));
      if (c.last_action == "restarted") c.last_action += " as " + text(sec->get("restarted_as"));
      c.supervisors = text(sec->get("supervisors"));
    }
  }
  for (auto& [b, c] : by_behaviour) s.crashes.push_back(std::move(c));
  std::sort(s.crashes.begin(), s.crashes.end(), [](const auto& a, const auto& b) { return a.count > b.count; });
  s.verdicts = dump_verdicts(s);
  return s;
}

void print_rows(std::ostream& out, const char* title, const std::vector<Row>& rows, uint64_t Row::*field,
                bool bytes) {
  out << title << "\n";
  if (rows.empty()) out << "  (none)\n";
  for (const Row& r : rows) {
    const std::string v = bytes ? human_bytes(r.*field) : std::to_string(r.*field);
    char line[256];
    std::snprintf(line, sizeof(line), "  %-14s %12s  %s\n", r.pid.c_str(), v.c_str(),
                  r.name.empty() ? short_type(r.behaviour).c_str() : (r.name + " (" + short_type(r.behaviour) + ")").c_str());
    out << line;
  }
}

void print_text(std::ostream& out, const DumpSummary& s) {
  out << "slogan:  " << s.slogan << "\n";
  out << "written: " << s.time << " by canopy " << s.version << " (OS pid " << s.os_pid << "), up "
      << static_cast<uint64_t>(s.uptime_s) << " s" << (s.kind == "fatal_signal" ? ", partial dump from a fatal signal" : "")
      << "\n";
  for (const std::string& v : s.verdicts) out << "verdict: " << v << "\n";
  if (s.verdicts.empty()) out << "verdict: no clear pattern\n";
  out << "processes: " << s.processes << ", waiting messages: " << s.mailbox_messages;
  if (!s.memory.empty()) {
    out << ", memory:";
    for (const auto& [k, v] : s.memory) out << " " << k << "=" << human_bytes(v);
  }
  out << "\n\nschedulers\n";
  for (const auto& sc : s.schedulers) {
    char line[256];
    std::snprintf(line, sizeof(line), "  %-3s %-8s util %5.1f%%  run queue %-6llu %s%s%s\n", sc.id.c_str(),
                  sc.state.c_str(), sc.utilization * 100, static_cast<unsigned long long>(sc.run_queue),
                  sc.running_pid.c_str(), sc.running_behaviour.empty() ? "" : (" " + short_type(sc.running_behaviour)).c_str(),
                  sc.faulted ? "  <- took the signal" : "");
    out << line;
  }
  out << "\n";
  print_rows(out, "top processes by mailbox", s.by_mailbox, &Row::mailbox, false);
  print_rows(out, "top processes by heap", s.by_heap, &Row::heap, true);
  print_rows(out, "top processes by reductions", s.by_reductions, &Row::reductions, false);
  out << "\nlargest tables (" << human_bytes(s.table_memory) << " in all)\n";
  if (s.tables.empty()) out << "  (none)\n";
  for (size_t i = 0; i < s.tables.size() && i < 5; ++i) {
    const auto& t = s.tables[i];
    out << "  " << t.name << ": " << t.entries << " entries, " << human_bytes(t.memory) << " ("
        << percent(t.memory, s.table_memory) << "), " << t.kind << ", owner " << t.owner;
    if (t.max_entries) out << ", max_entries " << t.max_entries;
    if (t.max_bytes) out << ", max_bytes " << t.max_bytes;
    out << "\n";
  }
  out << "\nrestarts\n";
  if (s.restarts.empty()) out << "  (none)\n";
  for (size_t i = 0; i < s.restarts.size() && i < 5; ++i) {
    const auto& r = s.restarts[i];
    out << "  " << r.supervisor << ": " << r.supervisor_restarts << " restarts";
    if (!r.child.empty()) out << " (most: " << r.child << ", " << r.child_restarts << ")";
    out << ", budget left " << r.budget_left << "\n";
  }
  out << "\ncrash reports (" << s.crash_reports << ", by behaviour)\n";
  if (s.crashes.empty()) out << "  (none)\n";
  for (const auto& c : s.crashes) {
    out << "  " << c.count << " x " << short_type(c.behaviour);
    if (!c.supervisors.empty()) out << " under " << c.supervisors;
    out << "; last: " << c.last_reason << " -> " << c.last_action << "\n";
  }
}

void print_json(std::ostream& out, const DumpSummary& s) {
  exporters::JsonWriter j;
  j.begin_object();
  j.field("slogan", s.slogan);
  j.field("kind", s.kind);
  j.field("time", s.time);
  j.field("canopy_version", s.version);
  j.field("uptime_s", s.uptime_s);
  j.field("os_pid", s.os_pid);
  j.key("verdicts").begin_array();
  for (const auto& v : s.verdicts) j.value(v);
  j.end_array();
  j.field("processes", s.processes);
  j.field("mailbox_messages", s.mailbox_messages);
  j.key("memory").begin_object();
  for (const auto& [k, v] : s.memory) j.field(k, v);
  j.end_object();
  j.key("schedulers").begin_array();
  for (const auto& sc : s.schedulers) {
    j.begin_object();
    j.field("id", sc.id).field("state", sc.state).field("utilization", sc.utilization).field("run_queue", sc.run_queue);
    j.field("running_pid", sc.running_pid).field("running_behaviour", sc.running_behaviour).field("faulted", sc.faulted);
    j.end_object();
  }
  j.end_array();
  auto rows = [&](const char* key, const std::vector<Row>& v) {
    j.key(key).begin_array();
    for (const Row& r : v) {
      j.begin_object();
      j.field("pid", r.pid).field("name", r.name).field("behaviour", r.behaviour);
      j.field("mailbox_length", r.mailbox).field("heap_bytes", r.heap).field("reductions", r.reductions);
      j.end_object();
    }
    j.end_array();
  };
  rows("top_by_mailbox", s.by_mailbox);
  rows("top_by_heap", s.by_heap);
  rows("top_by_reductions", s.by_reductions);
  j.field("table_memory_bytes", s.table_memory);
  j.key("tables").begin_array();
  for (size_t i = 0; i < s.tables.size() && i < 5; ++i) {
    const auto& t = s.tables[i];
    j.begin_object();
    j.field("name", t.name).field("owner", t.owner).field("kind", t.kind).field("entries", t.entries);
    j.field("memory_bytes", t.memory).field("max_entries", t.max_entries).field("max_bytes", t.max_bytes);
    j.end_object();
  }
  j.end_array();
  j.key("restarts").begin_array();
  for (const auto& r : s.restarts) {
    j.begin_object();
    j.field("supervisor", r.supervisor).field("restarts", r.supervisor_restarts).field("child", r.child);
    j.field("child_restarts", r.child_restarts).field("restart_budget_remaining", r.budget_left);
    j.end_object();
  }
  j.end_array();
  j.field("crash_reports", s.crash_reports);
  j.key("crashes_by_behaviour").begin_array();
  for (const auto& c : s.crashes) {
    j.begin_object();
    j.field("behaviour", c.behaviour).field("count", c.count).field("supervisors", c.supervisors);
    j.field("last_reason", c.last_reason).field("last_supervisor_action", c.last_action);
    j.end_object();
  }
  j.end_array();
  j.end_object();
  out << j.str() << "\n";
}

int usage(const std::string& message) {
  std::cerr << "canopy dump: " << message << "\nusage: canopy dump FILE [--json]\n";
  return 2;
}

}  // namespace

std::vector<std::string> dump_verdicts(const DumpSummary& s) {
  std::vector<std::string> out;
  if (s.kind == "fatal_signal") out.push_back(s.slogan);
  if (s.slogan.rfind("application '", 0) == 0) out.push_back("escalation: " + s.slogan);
  // One holder with most of a real backlog.
  constexpr uint64_t kBacklog = 1000;
  if (s.mailbox_messages >= kBacklog && !s.mailbox_holders.empty() &&
      s.mailbox_holders.front().second * 2 >= s.mailbox_messages) {
    out.push_back("mailbox overload: " + s.mailbox_holders.front().first + " holds " +
                  percent(s.mailbox_holders.front().second, s.mailbox_messages) + " of all waiting messages (" +
                  std::to_string(s.mailbox_holders.front().second) + " of " + std::to_string(s.mailbox_messages) +
                  ")");
  }
  constexpr uint64_t kTableBytes = 1 << 20;
  // Growth is a table without a bound holding most of the table memory.
  if (s.table_memory >= kTableBytes && !s.tables.empty() && s.tables.front().memory * 2 >= s.table_memory &&
      s.tables.front().max_entries == 0 && s.tables.front().max_bytes == 0) {
    out.push_back("table growth: " + s.tables.front().name + " holds " + percent(s.tables.front().memory, s.table_memory) +
                  " of table memory (" + human_bytes(s.tables.front().memory) + ", " +
                  std::to_string(s.tables.front().entries) + " entries)");
  }
  constexpr uint64_t kStorm = 10;
  if (!s.restarts.empty() && s.restarts.front().child_restarts >= kStorm) {
    const auto& r = *std::max_element(s.restarts.begin(), s.restarts.end(),
                                      [](const auto& a, const auto& b) { return a.child_restarts < b.child_restarts; });
    out.push_back("restart storm: " + r.supervisor + " restarted " + r.child + " " + std::to_string(r.child_restarts) +
                  " times");
  }
  return out;
}

int dump_command(const std::vector<std::string>& args) {
  std::string file;
  bool json = false;
  for (const std::string& a : args) {
    if (a == "--json") {
      json = true;
    } else if (a.rfind("-", 0) == 0 && a != "-") {
      return usage("unknown option '" + a + "'");
    } else if (file.empty()) {
      file = a;
    } else {
      return usage("takes one FILE");
    }
  }
  if (file.empty()) return usage("needs a FILE");
  std::unordered_map<std::string, uint64_t> holders;
  TopN mq(10, &Row::mailbox), heap(10, &Row::heap), reds(10, &Row::reductions);
  DumpReadOptions options;
  options.on_process = [&](const DumpProcess& p) {
    Row r{p.pid, p.name, p.behaviour, p.mailbox_length, p.heap_bytes, p.reductions};
    if (r.mailbox > 0) holders[r.label()] += r.mailbox;
    mq.offer(r);
    heap.offer(r);
    reds.offer(r);
  };
  Result<DumpFile> r = file == "-" ? read_dump(std::cin, options) : read_dump_file(file, options);
  if (!r.ok()) {
    std::cerr << "canopy dump: " << r.error().message() << "\n";
    return 1;
  }
  const DumpSummary s = summarise(r.value(), holders, mq, heap, reds);
  if (json) {
    print_json(std::cout, s);
  } else {
    print_text(std::cout, s);
  }
  return 0;
}

}  // namespace canopy::app
