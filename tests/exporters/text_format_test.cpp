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
#include <sstream>

#include "../../exporters/src/prometheus_adapter.hpp"

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
