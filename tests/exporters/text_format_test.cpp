// canopy's text writer against prometheus-cpp's TextSerializer: the same
// bytes for every family type, label escaping and number formatting; HELP
// text is escaped where prometheus-cpp writes it verbatim.
#include <prometheus/text_serializer.h>

#include <canopy/core/core.hpp>
#include <canopy/exporters/exposition.hpp>
#include <canopy/exporters/metric_names.hpp>
#include <canopy/exporters/text_format.hpp>
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include "canopy_test/wait.hpp"

#include "../../exporters/src/prometheus_adapter.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_exporters_text_format_test {

using namespace canopy;
namespace tl = canopy::telemetry;

namespace {

std::string ours(const std::vector<tl::Family>& families) {
  std::string out;
  exporters::write_text(families, out);
  return out;
}

std::string theirs(std::vector<tl::Family> families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, exporters::to_prometheus(std::move(families)));
  return out.str();
}

tl::Family family(std::string name, tl::FamilyType type, std::vector<tl::Sample> samples,
                  std::vector<double> bounds = {}) {
  tl::Family f;
  f.name = std::move(name);
  f.help = "Help for " + f.name;
  f.type = type;
  f.bounds = std::move(bounds);
  f.samples = std::move(samples);
  return f;
}

// The value written for the series `head` (name{labels} exactly as in the
// scrape); nullopt when the scrape has no such line.
std::optional<double> series_value(const std::string& scrape, const std::string& head) {
  const size_t at = scrape.find("\n" + head + " ");
  if (at == std::string::npos) return std::nullopt;
  const size_t from = at + 1 + head.size() + 1;
  return std::stod(scrape.substr(from, scrape.find('\n', from) - from));
}

// Family name -> type, from the TYPE lines of a scrape.
std::map<std::string, std::string> types_of(const std::string& scrape) {
  std::map<std::string, std::string> out;
  std::istringstream in(scrape);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    const size_t space = line.find(' ', 7);
    out[line.substr(7, space - 7)] = line.substr(space + 1);
  }
  return out;
}

// Drops the process_* lines: CPU time and memory move between two scrapes.
std::string without_process_metrics(const std::string& text) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    if (line.rfind("process_", 0) == 0 || line.rfind("# HELP process_", 0) == 0 ||
        line.rfind("# TYPE process_", 0) == 0)
      continue;
    out += line;
    out += '\n';
  }
  return out;
}

}  // namespace

TEST_CASE("a streamed scrape is byte for byte what write_text writes for gather()", "[text][stream]") {
  const double inf = std::numeric_limits<double>::infinity();
  exporters::Exposition exposition({.node_labels = {{"zone", "eu\nwest"}}, .node_name = "n\"1\\"});
  // A source of built families: every type, awkward values, a sample with its own node label.
  exposition.add_source([inf] {
    std::vector<tl::Family> fs;
    fs.push_back(family("c_total", tl::FamilyType::counter,
                        {tl::Sample{{{"b", "2"}, {"a", "1"}}, 42, {}, 0, 0},
                         tl::Sample{{{"path", "C:\\dir \"x\"\nnext"}}, 1e20, {}, 0, 0},
                         tl::Sample{{{"node", "own"}}, 0.1, {}, 0, 0}}));
    fs.push_back(family("g", tl::FamilyType::gauge,
                        {tl::Sample{{{"k", "nan"}}, std::nan(""), {}, 0, 0}, tl::Sample{{{"k", "inf"}}, inf, {}, 0, 0},
                         tl::Sample{{{"k", "-inf"}}, -inf, {}, 0, 0}, tl::Sample{{{"k", "negzero"}}, -0.0, {}, 0, 0},
                         tl::Sample{{{"k", "third"}}, 1.0 / 3.0, {}, 0, 0}}));
    fs.push_back(family("h_seconds", tl::FamilyType::histogram,
                        {tl::Sample{{{"route", "/a"}}, 0, {1, 3, 5, 6}, 6, 2.75}}, {0.005, 0.1, 2.5}));
    fs.push_back(family("h2", tl::FamilyType::histogram, {tl::Sample{{}, 0, {1, 2}, 2, 3}}, {1, inf}));
    fs.push_back(family("s", tl::FamilyType::summary, {tl::Sample{{{"q", "x"}}, 0, {}, 7, 0.125}}));
    tl::Family no_help = family("no_help", tl::FamilyType::gauge, {tl::Sample{{}, 1, {}, 0, 0}});
    no_help.help.clear();
    fs.push_back(no_help);
    return fs;
  });
  // A streaming source: a family before all others by name, one after, and
  // a second c_total (merged under the first one's HELP and TYPE).
  exposition.add_stream_source([](tl::FamilySink& sink) {
    tl::emit(family("zz_last", tl::FamilyType::gauge, {tl::Sample{{}, 7, {}, 0, 0}}), sink);
    tl::emit(family("c_total", tl::FamilyType::counter, {tl::Sample{{{"a", "3"}}, 5, {}, 0, 0}}), sink);
    tl::emit(family("aa_first", tl::FamilyType::gauge, {}), sink);
  });

  const std::string streamed = exposition.render_text();
  const std::string built = ours(exposition.gather());
  CHECK(without_process_metrics(streamed) == without_process_metrics(built));
  CHECK(streamed.rfind("# HELP aa_first ", 0) == 0);
  CHECK(streamed.find("c_total{a=\"1\",b=\"2\",node=\"n\\\"1\\\\\",zone=\"eu\\nwest\"} 42\n") != std::string::npos);
  CHECK(streamed.find("c_total{node=\"own\",zone=\"eu\\nwest\"} 0.1\n") != std::string::npos);
  CHECK(streamed.find("c_total{a=\"3\",node=") != std::string::npos);
  CHECK(streamed.find("# TYPE c_total counter") == streamed.rfind("# TYPE c_total counter"));  // one header
  CHECK(streamed.find("g{k=\"nan\",node=\"n\\\"1\\\\\",zone=\"eu\\nwest\"} Nan\n") != std::string::npos);
  CHECK(streamed.find("h_seconds_bucket{node=\"n\\\"1\\\\\",route=\"/a\",zone=\"eu\\nwest\",le=\"+Inf\"} 6\n") !=
        std::string::npos);
  CHECK(streamed.find("h2_bucket{node=\"n\\\"1\\\\\",zone=\"eu\\nwest\",le=\"+Inf\"} 2\n") != std::string::npos);
  CHECK(streamed.find("le=\"+Inf\"} 2\nh2_bucket") == std::string::npos);  // no second +Inf line
  CHECK(streamed.rfind("zz_last{") < streamed.size());

  // The next scrape reuses the writer and writes the same again.
  CHECK(without_process_metrics(exposition.render_text()) == without_process_metrics(streamed));
}

TEST_CASE("the text writer puts families in name order in place or after what `out` holds, the same bytes",
          "[text][stream]") {
  // Written in the order big, a, big again (merged), m: the big family's
  // samples must move from the front of the buffer to between a and m.
  std::vector<tl::Sample> many;
  for (int i = 0; i < 500; ++i) many.push_back(tl::Sample{{{"k", "v" + std::to_string(i)}}, double(i), {}, 0, 0});
  const tl::Family big = family("big", tl::FamilyType::gauge, many);
  const tl::Family big_again = family("big", tl::FamilyType::gauge, {tl::Sample{{{"k", "last"}}, 1, {}, 0, 0}});
  const tl::Family a = family("a", tl::FamilyType::counter, {tl::Sample{{}, 3, {}, 0, 0}});
  const tl::Family m = family("m", tl::FamilyType::summary, {tl::Sample{{{"q", "x"}}, 0, {}, 7, 0.5}});
  tl::Family merged = big;
  merged.samples.push_back(big_again.samples.front());
  const std::string expected = ours({a, merged, m});

  exporters::TextWriter writer;
  for (int round = 0; round < 2; ++round) {  // the second round starts from a handed-over buffer
    for (const tl::Family* f : {&big, &a, &big_again, &m}) tl::emit(*f, writer);
    std::string in_place;
    writer.finish(in_place);
    CHECK(in_place == expected);
  }
  for (const tl::Family* f : {&m, &big, &a, &big_again}) tl::emit(*f, writer);
  std::string appended = "# before\n";
  writer.finish(appended);
  CHECK(appended == "# before\n" + expected);
  // Nothing written: nothing added.
  std::string empty;
  writer.finish(empty);
  CHECK(empty.empty());
}

TEST_CASE("a scrape's text handed back is the memory the next render writes into", "[text][stream]") {
  exporters::Exposition exposition({.node_name = "n1"});
  exposition.add_stream_source([](tl::FamilySink& sink) {
    tl::emit(family("g", tl::FamilyType::gauge, {tl::Sample{{{"k", "v"}}, 2, {}, 0, 0}}), sink);
  });
  const std::string first = exposition.render_text();
  std::string sent;
  sent.reserve(1 << 20);  // more room than the writer has
  const char* memory = sent.data();
  exposition.recycle(std::move(sent));
  const std::string next = exposition.render_text();
  CHECK(next.data() == memory);
  CHECK(without_process_metrics(next) == without_process_metrics(first));
  // A smaller one is not taken in place of it.
  exposition.recycle(std::string(16, 'x'));
  std::string again = exposition.render_text();
  CHECK(without_process_metrics(again) == without_process_metrics(first));
}

TEST_CASE("a live runtime's streamed scrape, with tagged histograms, is what write_text writes for gather()",
          "[text][stream]") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  tl::MetricDef d;
  d.type = tl::MetricType::distribution;
  d.name = "job_duration_seconds";
  d.event = {"job", "done"};
  d.measurement = "seconds";
  d.tags = {"kind", "queue"};
  d.buckets = {0.1, 1, 10};
  REQUIRE(rt.metrics().add(d).empty());
  const auto& event = rt.telemetry_bus().event({"job", "done"});
  for (int i = 0; i < 50; ++i) {
    rt.telemetry_bus().execute(event, {{"seconds", i * 0.37}},
                               {{"kind", i % 3 == 0 ? "a\"b" : "plain"}, {"queue", static_cast<double>(i % 4)}});
  }
  rt.poll_now();
  exporters::Exposition exposition({.node_name = "n1"});
  exposition.add_stream_source([&rt](tl::FamilySink& sink) { rt.collect_into(sink); });
  const std::string streamed = exposition.render_text();
  CHECK(without_process_metrics(streamed) == without_process_metrics(ours(exposition.gather())));
  CHECK(streamed.find("job_duration_seconds_bucket{kind=\"a\\\"b\",node=\"n1\",queue=\"0\",le=\"0.1\"} 1\n") !=
        std::string::npos);
  CHECK(streamed.find("job_duration_seconds_count{kind=\"plain\",node=\"n1\",queue=\"1\"}") != std::string::npos);
}

namespace {
}  // namespace

TEST_CASE("the text writer writes what prometheus-cpp writes, for every type and awkward value", "[text]") {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<tl::Family> families;
  families.push_back(
      family("c_total", tl::FamilyType::counter,
             {tl::Sample{{{"b", "2"}, {"a", "1"}}, 42, {}, 0, 0},
              tl::Sample{{{"path", "C:\\dir \"x\"\nnext"}}, 1e20, {}, 0, 0}, tl::Sample{{}, 0.1, {}, 0, 0}}));
  families.push_back(family(
      "g", tl::FamilyType::gauge,
      {tl::Sample{{{"k", "nan"}}, std::nan(""), {}, 0, 0}, tl::Sample{{{"k", "inf"}}, inf, {}, 0, 0},
       tl::Sample{{{"k", "-inf"}}, -inf, {}, 0, 0}, tl::Sample{{{"k", "neg"}}, -3.25, {}, 0, 0},
       tl::Sample{{{"k", "tiny"}}, 1.5e-9, {}, 0, 0}, tl::Sample{{{"k", "third"}}, 1.0 / 3.0, {}, 0, 0},
       tl::Sample{{{"k", "big"}}, 123456789012345.0, {}, 0, 0},
       tl::Sample{{{"k", "bigger"}}, 1234567890123456.0, {}, 0, 0}, tl::Sample{{{"k", "negzero"}}, -0.0, {}, 0, 0},
       tl::Sample{{{"k", "max"}}, std::numeric_limits<double>::max(), {}, 0, 0}}));
  families.push_back(
      family("h_seconds", tl::FamilyType::histogram,
             {tl::Sample{{{"route", "/a"}}, 0, {1, 3, 5, 6}, 6, 2.75}, tl::Sample{{}, 0, {0, 0, 0, 0}, 0, 0}},
             {0.005, 0.1, 2.5}));
  // Buckets whose last bound is already +Inf: no second +Inf line.
  families.push_back(family("h2", tl::FamilyType::histogram, {tl::Sample{{}, 0, {1, 2}, 2, 3}}, {1, inf}));
  families.push_back(family("s", tl::FamilyType::summary, {tl::Sample{{{"q", "x"}}, 0, {}, 7, 0.125}}));
  families.push_back(family("empty", tl::FamilyType::gauge, {}));
  tl::Family no_help = family("no_help", tl::FamilyType::gauge, {tl::Sample{{}, 1, {}, 0, 0}});
  no_help.help.clear();
  families.push_back(no_help);

  const std::string mine = ours(families);
  CHECK(mine == theirs(families));
  CHECK(mine.find("path=\"C:\\\\dir \\\"x\\\"\\nnext\"") != std::string::npos);
  CHECK(mine.find("h_seconds_bucket{route=\"/a\",le=\"+Inf\"} 6\n") != std::string::npos);
}

TEST_CASE("a live runtime's scrape is the same through either writer", "[text]") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  exporters::Exposition exposition({.node_name = "n\"1"});
  exposition.add_source([&rt] { return rt.collect(); });
  rt.poll_now();
  const std::vector<tl::Family> families = exposition.gather();
  REQUIRE(families.size() > 20);
  CHECK(ours(families) == theirs(families));
}

TEST_CASE("HELP text with a newline or a backslash is escaped; prometheus-cpp writes it verbatim", "[text]") {
  std::vector<tl::Family> families;
  families.push_back(family("notes_total", tl::FamilyType::counter, {tl::Sample{{}, 3, {}, 0, 0}}));
  families.back().help = "First line.\nSecond, C:\\dir and a \"quote\".";
  const std::string mine = ours(families);
  // The format escapes backslash and newline in HELP, not the double quote.
  const std::string escaped = "First line.\\nSecond, C:\\\\dir and a \"quote\".";
  CHECK(mine == "# HELP notes_total " + escaped + "\n# TYPE notes_total counter\nnotes_total 3\n");
  // prometheus-cpp 1.0.1 copies HELP as it is: handed the escaped text, it
  // writes the same bytes as ours.
  families.back().help = escaped;
  CHECK(theirs(families) == mine);
}

TEST_CASE("every family a scrape serves is in the served metric names, with its type and help", "[text][contract]") {
  Runtime rt(RuntimeOptions{.schedulers = 2});
  exporters::Exposition exposition(exporters::ExpositionOptions{});
  exposition.add_source([&rt] { return rt.collect(); });
  rt.poll_now();
  const std::vector<tl::Family> families = exposition.gather();
  for (const tl::Family& f : families) {
    INFO("family " << f.name);
    const MetricName* row = exporters::find_served_metric(f.name);
    REQUIRE(row != nullptr);
    CHECK(std::string(tl::to_string(f.type)) == row->type);
    CHECK(f.help == row->help);
  }
  for (const MetricName& row : exporters::exporter_metric_names()) {
    INFO("exporter row " << row.name);
    CHECK_FALSE(is_known_metric(row.name));  // listed once: by the exporter, not by core
    CHECK(std::any_of(families.begin(), families.end(), [&](const tl::Family& f) { return f.name == row.name; }));
  }
}

TEST_CASE("the population snapshots are gauges, and their values fall between two scrapes", "[text][population]") {
  using canopy_test::Gate;
  Runtime rt(RuntimeOptions{.schedulers = 2});
  exporters::Exposition exposition(exporters::ExpositionOptions{});
  exposition.add_source([&rt] { return rt.collect(); });
  auto entered = std::make_shared<Gate>();
  auto release = std::make_shared<Gate>();
  canopy_test::OpenOnExit guard{entered, release};
  // One process parked in its handler with 5 messages waiting, and 10 idle ones.
  auto parked = rt.spawn(std::make_unique<FunctionActor>([entered, release](FunctionActor&, Message&) {
    entered->open();
    (void)release->wait();
  }));
  REQUIRE(parked.ok());
  REQUIRE(rt.send(parked.value(), 0).ok());
  REQUIRE(entered->wait(canopy_test::kPatience));
  for (int i = 1; i <= 5; ++i) REQUIRE(rt.send(parked.value(), i).ok());
  std::vector<Pid> idle;
  for (int i = 0; i < 10; ++i) {
    auto r = rt.spawn(std::make_unique<FunctionActor>([](FunctionActor&, Message&) {}));
    REQUIRE(r.ok());
    idle.push_back(r.value());
  }
  const double n = static_cast<double>(rt.process_count());  // the 11, and any of the runtime's own
  REQUIRE(n >= 11);
  rt.poll_now();
  const std::string before = exposition.render_text();

  // The mailbox drains and the idle processes exit: every snapshot series falls.
  release->open();
  for (const Pid& pid : idle) REQUIRE(rt.exit(pid, ExitReason::kill()).ok());
  REQUIRE(canopy_test::eventually([&] { return static_cast<double>(rt.process_count()) == n - 10; }));
  REQUIRE(canopy_test::eventually([&] {
    auto info = rt.process_info(parked.value());
    return info && info->mailbox_length == 0;
  }));
  rt.poll_now();
  const std::string after = exposition.render_text();
  INFO(before);
  INFO(after);

  const std::vector<std::string> families = {
      "canopy_processes_by_mailbox_length",      "canopy_processes_by_mailbox_length_gcount",
      "canopy_processes_by_mailbox_length_gsum", "canopy_processes_by_heap_bytes",
      "canopy_processes_by_heap_bytes_gcount",   "canopy_processes_by_heap_bytes_gsum"};
  for (const std::string& scrape : {before, after}) {
    const auto types = types_of(scrape);
    for (const auto& name : families) {
      INFO(name);
      CHECK(types.count(name) == 1);
      if (types.count(name) == 1) CHECK(types.at(name) == "gauge");
      // The help says what it is (a snapshot), as the metric table has it.
      CHECK(scrape.find("# HELP " + name + " ") != std::string::npos);
    }
    // Nothing of the populations is typed counter or histogram, nor named as a histogram's series.
    for (const auto& [name, type] : types) {
      if (name.rfind("canopy_processes_by_", 0) != 0) continue;
      INFO(name << " " << type);
      CHECK(type == "gauge");
    }
    for (const char* old : {"canopy_processes_by_mailbox_length_bucket", "canopy_processes_by_mailbox_length_count",
                            "canopy_processes_by_mailbox_length_sum", "canopy_processes_by_heap_bytes_bucket",
                            "canopy_processes_by_heap_bytes_count", "canopy_processes_by_heap_bytes_sum",
                            "canopy_processes_by_mailbox_length{le=", "canopy_processes_by_heap_bytes{le="}) {
      INFO(old);
      CHECK(scrape.find(old) == std::string::npos);
    }
  }
  // Cumulative by at_most: all but the parked process had no message waiting; it had 5.
  CHECK(series_value(before, "canopy_processes_by_mailbox_length{at_most=\"1\"}") == n - 1);
  CHECK(series_value(before, "canopy_processes_by_mailbox_length{at_most=\"10\"}") == n);
  CHECK(series_value(before, "canopy_processes_by_mailbox_length{at_most=\"+Inf\"}") == n);
  CHECK(series_value(before, "canopy_processes_by_mailbox_length_gcount") == n);
  CHECK(series_value(before, "canopy_processes_by_mailbox_length_gsum") >= 5.0);
  CHECK(series_value(before, "canopy_processes_by_heap_bytes_gcount") == n);
  // The next scrape: lower, which a counter or a histogram's series may never be.
  CHECK(series_value(after, "canopy_processes_by_mailbox_length{at_most=\"10\"}") == n - 10);
  CHECK(series_value(after, "canopy_processes_by_mailbox_length{at_most=\"+Inf\"}") == n - 10);
  CHECK(series_value(after, "canopy_processes_by_mailbox_length_gcount") == n - 10);
  CHECK(series_value(after, "canopy_processes_by_mailbox_length_gsum").value_or(1e9) <
        series_value(before, "canopy_processes_by_mailbox_length_gsum").value_or(-1));
  CHECK(series_value(after, "canopy_processes_by_heap_bytes{at_most=\"+Inf\"}") == n - 10);
  CHECK(series_value(after, "canopy_processes_by_heap_bytes_gcount") == n - 10);
}

}  // namespace test_exporters_text_format_test
