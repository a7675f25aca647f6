// The schema of canopy.yaml: one reader per section. Defaults are never
// written here: a key that is absent leaves the member initializer's value.
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/depthguard.h>  // YAML::DeepRecursion: needs yaml-cpp 0.7+, which bounds its recursion

#include "canopy/config/config.hpp"
#include "canopy/config/units.hpp"
#include "canopy/exporters/metric_names.hpp"
#include "promql.hpp"
#include "reader.hpp"

namespace canopy::config {

const std::vector<std::string>& workload_fault_names() {
  static const std::vector<std::string> names = {"mailbox_flood", "table_leak",   "orphans",  "crash_loop",
                                                 "runaway",       "boot_failure", "heap_leak"};
  return names;
}

namespace {

using namespace detail;
using std::chrono::milliseconds;

constexpr uint64_t kU32Max = std::numeric_limits<uint32_t>::max();

bool always(const std::string&, const std::string&, const YAML::Node&) { return true; }

// ---------------------------------------------------------------- shared checks

bool check_label_name(Loader& l, const std::string& name, const std::string& path, const YAML::Node& at) {
  if (telemetry::valid_label_name(name)) return true;
  l.error(at, path, quote(name) + " is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)");
  return false;
}

// host:port, host a name, an IPv4 address or [IPv6]; port 0-65535.
bool valid_listen(const std::string& text) {
  std::string host, port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find("]:");
    if (close == std::string::npos) return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) return false;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) return false;  // IPv6 needs brackets
  }
  if (host.empty() || port.empty() || port.size() > 5) return false;
  for (char c : host) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == ':';
    if (!ok) return false;
  }
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
  return std::stoul(port) <= 65535;
}

// ---------------------------------------------------------------- node

void read_node(Loader& l, const YAML::Node& n, NodeConfig& c) {
  MapReader m(l, n, "node");
  m.field("name", [&](const YAML::Node& v, const std::string& p) { read_string(l, v, p, c.name); });
  m.field("labels", [&](const YAML::Node& v, const std::string& p) {
    read_string_map(l, v, p, c.labels, [&](const std::string& key, const std::string& kp, const YAML::Node& at) {
      if (!check_label_name(l, key, kp, at)) return false;
      if (key == "node") {
        l.error(at, kp, "label 'node' is set by node.name");
        return false;
      }
      if (key == "job" || key == "instance") {
        l.error(at, kp, "label " + quote(key) + " is set by Prometheus from the scrape target");
        return false;
      }
      return true;
    });
  });
  m.finish();
}

// ---------------------------------------------------------------- server

void read_server(Loader& l, const YAML::Node& n, ServerConfig& c) {
  MapReader m(l, n, "server");
  m.field("listen", [&](const YAML::Node& v, const std::string& p) {
    std::string text;
    if (!read_string(l, v, p, text)) return;
    if (!valid_listen(text)) {
      l.error(v, p, "expected host:port with port 0-65535, got " + quote(text));
      return;
    }
    c.listen = text;
  });
  m.field("threads", [&](const YAML::Node& v, const std::string& p) { read_uint(l, v, p, c.threads, 1, 1024); });
  m.field("max_connections",
          [&](const YAML::Node& v, const std::string& p) { read_uint(l, v, p, c.max_connections, 8, 1'000'000); });
  m.field("request_timeout", [&](const YAML::Node& v, const std::string& p) {
    read_duration(l, v, p, c.request_timeout, /*allow_zero=*/false);
  });
  m.field("idle_timeout", [&](const YAML::Node& v, const std::string& p) {
    read_duration(l, v, p, c.idle_timeout, /*allow_zero=*/false);
  });
  m.field("max_request_bytes", [&](const YAML::Node& v, const std::string& p) {
    uint64_t bytes = 0;
    if (!read_size(l, v, p, bytes)) return;
    if (bytes == 0) {
      l.error(v, p, "must be at least 1 byte");
      return;
    }
    c.max_request_bytes = bytes;
  });
  m.field("admin_token_file",
          [&](const YAML::Node& v, const std::string& p) { read_string(l, v, p, c.admin_token_file); });
  m.field("admin_without_token", [&](const YAML::Node& v, const std::string& p) {
    using exporters::AdminWithoutToken;
    read_enum(l, v, p,
              std::vector<std::pair<std::string, AdminWithoutToken>>{{"refuse", AdminWithoutToken::refuse},
                                                                     {"loopback", AdminWithoutToken::loopback}},
              c.admin_without_token);
  });
  m.field("gzip", [&](const YAML::Node& v, const std::string& p) { read_bool(l, v, p, c.gzip); });
  m.field("tls", [&](const YAML::Node& v, const std::string& p) {
    MapReader t(l, v, p);
    t.field("cert_file", [&](const YAML::Node& fv, const std::string& fp) { read_string(l, fv, fp, c.tls.cert_file); });
    t.field("key_file", [&](const YAML::Node& fv, const std::string& fp) { read_string(l, fv, fp, c.tls.key_file); });
    t.finish();
    if (c.tls.cert_file.empty() != c.tls.key_file.empty()) {
      l.error(t.mark(), p, "cert_file and key_file go together: set both (TLS on) or neither");
    }
  });
  m.field("push", [&](const YAML::Node& v, const std::string& p) {
    MapReader pr(l, v, p);
    pr.field("url", [&](const YAML::Node& fv, const std::string& fp) {
      std::string url;
      if (!read_string(l, fv, fp, url)) return;
      if (!url.empty() && url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
        l.error(fv, fp, "expected an http:// or https:// URL (or nothing), got " + quote(url));
        return;
      }
      c.push.url = url;
    });
    pr.field("job", [&](const YAML::Node& fv, const std::string& fp) { read_nonempty_string(l, fv, fp, c.push.job); });
    pr.field("interval", [&](const YAML::Node& fv, const std::string& fp) {
      read_duration(l, fv, fp, c.push.interval, /*allow_zero=*/false);
    });
    pr.finish();
  });
  m.finish();
}

// ---------------------------------------------------------------- runtime

void read_runtime(Loader& l, const YAML::Node& n, RuntimeConfig& c) {
  MapReader m(l, n, "runtime");
  m.field("schedulers", [&](const YAML::Node& v, const std::string& p) { read_uint(l, v, p, c.schedulers, 0, 4096); });
  m.field("max_processes",
          [&](const YAML::Node& v, const std::string& p) { read_uint(l, v, p, c.max_processes, 1, kU32Max); });
  m.field("reductions_per_slice",
          [&](const YAML::Node& v, const std::string& p) { read_uint(l, v, p, c.reductions_per_slice, 1, kU32Max); });
  m.field("shutdown_report_after",
          [&](const YAML::Node& v, const std::string& p) { read_duration(l, v, p, c.shutdown_report_after); });
  m.field("mailbox", [&](const YAML::Node& v, const std::string& p) {
    MapReader mb(l, v, p);
    mb.field("capacity",
             [&](const YAML::Node& fv, const std::string& fp) { read_uint(l, fv, fp, c.mailbox.capacity); });
    mb.field("overflow", [&](const YAML::Node& fv, const std::string& fp) {
      std::vector<std::pair<std::string, OverflowPolicy>> names;
      for (auto policy :
           {OverflowPolicy::drop_newest, OverflowPolicy::drop_oldest, OverflowPolicy::reject, OverflowPolicy::block}) {
        names.emplace_back(to_string(policy), policy);
      }
      read_enum(l, fv, fp, names, c.mailbox.overflow);
    });
    mb.field("high_watermark",
             [&](const YAML::Node& fv, const std::string& fp) { read_uint(l, fv, fp, c.mailbox.high_watermark); });
    mb.field("low_watermark",
             [&](const YAML::Node& fv, const std::string& fp) { read_uint(l, fv, fp, c.mailbox.low_watermark); });
    mb.finish();
    if (c.mailbox.high_watermark != 0 && c.mailbox.low_watermark >= c.mailbox.high_watermark) {
      const char* at = mb.has("low_watermark") ? "low_watermark" : "high_watermark";
      l.error(mb.key_mark(at), join(p, "low_watermark"),
              "must be below high_watermark (" + std::to_string(c.mailbox.high_watermark) + "), got " +
                  std::to_string(c.mailbox.low_watermark));
    }
  });
  m.field("system_monitor", [&](const YAML::Node& v, const std::string& p) {
    MapReader sm(l, v, p);
    sm.field("long_schedule", [&](const YAML::Node& fv, const std::string& fp) {
      read_duration(l, fv, fp, c.system_monitor.long_schedule);
    });
    sm.field("large_heap", [&](const YAML::Node& fv, const std::string& fp) {
      read_size(l, fv, fp, c.system_monitor.large_heap_bytes);
    });
    sm.finish();
  });
  m.finish();
}

// ---------------------------------------------------------------- telemetry

const std::vector<std::pair<std::string, telemetry::MetricType>>& metric_types() {
  using telemetry::MetricType;
  static const std::vector<std::pair<std::string, MetricType>> names = {
      {"counter", MetricType::counter},           {"sum", MetricType::sum},
      {"last_value", MetricType::last_value},     {"summary", MetricType::summary},
      {"distribution", MetricType::distribution},
  };
  return names;
}

const std::vector<std::pair<std::string, telemetry::Unit>>& unit_names() {
  using telemetry::Unit;
  static const std::vector<std::pair<std::string, Unit>> names = {
      {"none", Unit::none},
      {"native", Unit::native_time},
      {"nanosecond", Unit::nanosecond},
      {"microsecond", Unit::microsecond},
      {"millisecond", Unit::millisecond},
      {"second", Unit::second},
      {"byte", Unit::byte},
      {"kilobyte", Unit::kilobyte},
      {"megabyte", Unit::megabyte},
  };
  return names;
}

const char* unit_name(telemetry::Unit unit) {
  for (const auto& [n, u] : unit_names()) {
    if (u == unit) return n.c_str();
  }
  return "?";
}

// An event: a list of atoms, or one string with dots between them.
void read_event(Loader& l, const YAML::Node& v, const std::string& p, telemetry::EventName& out) {
  telemetry::EventName atoms;
  const auto check_atom = [&](const std::string& atom, const std::string& ap, const YAML::Node& at) {
    if (atom.empty()) {
      l.error(at, ap, "event name parts must not be empty");
      return false;
    }
    if (std::any_of(atom.begin(), atom.end(), [](unsigned char c) { return std::isspace(c) || c == '.'; })) {
      l.error(at, ap, "event name part " + quote(atom) + " must not contain dots or spaces");
      return false;
    }
    return true;
  };
  if (v.IsScalar()) {
    const std::string& text = v.Scalar();
    size_t start = 0;
    while (true) {
      const size_t dot = text.find('.', start);
      atoms.push_back(text.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    for (const auto& atom : atoms) {
      if (atom.empty() || std::any_of(atom.begin(), atom.end(), [](unsigned char c) { return std::isspace(c); })) {
        l.error(v, p, "expected an event like app.request.stop or [app, request, stop], got " + quote(text));
        return;
      }
    }
    out = std::move(atoms);
    return;
  }
  if (!v.IsSequence()) {
    l.error(v, p, "expected an event like app.request.stop or [app, request, stop], got " + describe(v));
    return;
  }
  if (v.size() == 0) {
    l.error(v, p, "an event name needs at least one part");
    return;
  }
  if (read_string_list(l, v, p, atoms, check_atom)) out = std::move(atoms);
}

// keep/drop: metadata key -> a value or a list of values.
void read_match_values(Loader& l, const YAML::Node& v, const std::string& p,
                       std::map<std::string, std::vector<std::string>>& out) {
  if (v.IsNull()) return;
  if (!v.IsMap()) {
    l.error(v, p, "expected a mapping of metadata key to value (or list of values), got " + describe(v));
    return;
  }
  std::map<std::string, std::vector<std::string>> result;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const YAML::Node k = it->first;
    const YAML::Node val = it->second;
    if (!k.IsScalar() || k.Scalar().empty()) {
      l.error(k, p, "keys must be metadata keys, got " + describe(k));
      continue;
    }
    const std::string kp = join(p, k.Scalar());
    if (result.count(k.Scalar()) != 0) {
      l.error(k, kp, "duplicate key " + quote(k.Scalar()));
      continue;
    }
    std::vector<std::string> values;
    if (val.IsScalar()) {
      values.push_back(val.Scalar());
    } else if (val.IsSequence() && val.size() > 0) {
      if (!read_string_list(l, val, kp, values, always)) continue;
    } else {
      l.error(val, kp, "expected a value or a non-empty list of values, got " + describe(val));
      continue;
    }
    result[k.Scalar()] = std::move(values);
  }
  out = std::move(result);
}

void read_metric(Loader& l, const YAML::Node& n, const std::string& path, UserMetric& c) {
  using telemetry::MetricType;
  MapReader m(l, n, path);
  if (!m.is_map()) return;
  m.require("name");
  m.require("type");
  m.require("event");
  m.field("name", [&](const YAML::Node& v, const std::string& p) {
    std::string name;
    if (!read_nonempty_string(l, v, p, name)) return;
    if (!telemetry::valid_metric_name(name)) {
      l.error(v, p, quote(name) + " is not a valid Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
    } else if (name.rfind("canopy_", 0) == 0) {
      l.error(v, p, quote(name) + ": the canopy_ prefix is reserved for built-in metrics");
    } else if (canopy::exporters::is_served_metric(name)) {
      l.error(v, p, quote(name) + " is a built-in metric");
    } else {
      c.name = name;
    }
  });
  bool type_ok = false;  // the checks that depend on the type wait for a valid one
  m.field("type",
          [&](const YAML::Node& v, const std::string& p) { type_ok = read_enum(l, v, p, metric_types(), c.type); });
  m.field("event", [&](const YAML::Node& v, const std::string& p) { read_event(l, v, p, c.event); });
  m.field("measurement", [&](const YAML::Node& v, const std::string& p) {
    if (!read_nonempty_string(l, v, p, c.measurement)) return;
    if (type_ok && c.type == MetricType::counter) {
      l.error(v, p, "a counter counts events and takes no measurement (type sum adds one up)");
    }
  });
  if (type_ok && c.type != MetricType::counter && !m.has("measurement")) {
    l.error(m.mark(), path,
            std::string("missing required key 'measurement' (a ") + telemetry::to_string(c.type) + " needs one)");
  }
  m.field("tags", [&](const YAML::Node& v, const std::string& p) {
    std::set<std::string> seen;
    read_string_list(l, v, p, c.tags, [&](const std::string& tag, const std::string& tp, const YAML::Node& at) {
      if (!check_label_name(l, tag, tp, at)) return false;
      if (!seen.insert(tag).second) {
        l.error(at, tp, "duplicate tag " + quote(tag));
        return false;
      }
      if (tag == "le" || tag == "quantile") {
        l.error(at, tp, "tag " + quote(tag) + " is reserved by Prometheus for histograms and summaries");
        return false;
      }
      return true;
    });
    if (c.tags.size() > 8) l.error(v, p, "at most 8 tags, got " + std::to_string(c.tags.size()));
  });
  m.field("unit", [&](const YAML::Node& v, const std::string& p) {
    if (v.IsScalar()) {
      // The measurement's unit, unconverted (as Telemetry.Metrics' `unit: :byte`).
      telemetry::Unit u = telemetry::Unit::none;
      if (read_enum(l, v, p, unit_names(), u, " (or {from: native, to: second} to convert)"))
        c.unit_from = c.unit_to = u;
      return;
    }
    MapReader um(l, v, p);
    if (!um.is_map()) return;
    um.require("from");
    um.require("to");
    telemetry::Unit from = telemetry::Unit::none, to = telemetry::Unit::none;
    bool ok = true;
    um.field("from",
             [&](const YAML::Node& fv, const std::string& fp) { ok &= read_enum(l, fv, fp, unit_names(), from); });
    um.field("to", [&](const YAML::Node& fv, const std::string& fp) { ok &= read_enum(l, fv, fp, unit_names(), to); });
    um.finish();
    if (!ok || !um.has("from") || !um.has("to")) return;
    if (!telemetry::unit_factor(from, to)) {
      l.error(v, p, std::string("cannot convert ") + unit_name(from) + " to " + unit_name(to));
      return;
    }
    c.unit_from = from;
    c.unit_to = to;
  });
  m.field("buckets", [&](const YAML::Node& v, const std::string& p) {
    if (c.type != MetricType::distribution) {
      if (type_ok) l.error(v, p, "only a distribution has buckets");
      return;
    }
    if (!v.IsSequence() || v.size() == 0) {
      l.error(v, p, "expected a non-empty list of upper bounds, got " + describe(v));
      return;
    }
    std::vector<double> bounds;
    bool ok = true;
    for (size_t i = 0; i < v.size(); ++i) {
      double b = 0;
      if (!read_double(l, v[i], indexed(p, i), b)) {
        ok = false;
        continue;
      }
      if (ok && !bounds.empty() && b <= bounds.back()) {
        std::ostringstream msg;
        msg << "must be increasing: " << b << " follows " << bounds.back();
        l.error(v[i], p, msg.str());
        ok = false;
      }
      bounds.push_back(b);
    }
    if (ok) c.buckets = std::move(bounds);
  });
  if (type_ok && c.type == MetricType::distribution && !m.has("buckets")) {
    l.error(m.mark(), path, "missing required key 'buckets' (a distribution needs bucket upper bounds)");
  }
  m.field("description", [&](const YAML::Node& v, const std::string& p) { read_string(l, v, p, c.description); });
  m.field("max_series",
          [&](const YAML::Node& v, const std::string& p) { read_uint(l, v, p, c.max_series, 1, 10'000'000); });
  m.field("keep", [&](const YAML::Node& v, const std::string& p) { read_match_values(l, v, p, c.keep); });
  m.field("drop", [&](const YAML::Node& v, const std::string& p) { read_match_values(l, v, p, c.drop); });
  m.finish();
}

void read_telemetry(Loader& l, const YAML::Node& n, TelemetryConfig& c) {
  MapReader m(l, n, "telemetry");
  m.field("enabled", [&](const YAML::Node& v, const std::string& p) { read_bool(l, v, p, c.enabled); });
  m.field("poll_interval", [&](const YAML::Node& v, const std::string& p) {
    read_duration(l, v, p, c.poll_interval, /*allow_zero=*/false);
  });
  m.field("top_n", [&](const YAML::Node& v, const std::string& p) { read_uint(l, v, p, c.top_n, 0, 100'000); });
  m.field("process_metrics", [&](const YAML::Node& v, const std::string& p) { read_bool(l, v, p, c.process_metrics); });
  m.field("behaviour_metrics",
          [&](const YAML::Node& v, const std::string& p) { read_bool(l, v, p, c.behaviour_metrics); });
  m.field("orphan_min_age",
          [&](const YAML::Node& v, const std::string& p) { read_duration(l, v, p, c.orphan_min_age); });
  m.field("max_series_per_metric", [&](const YAML::Node& v, const std::string& p) {
    read_uint(l, v, p, c.max_series_per_metric, 1, 10'000'000);
  });
  m.field("metrics", [&](const YAML::Node& v, const std::string& p) {
    if (v.IsNull()) return;
    if (!v.IsSequence()) {
      l.error(v, p, "expected a list of metric definitions, got " + describe(v));
      return;
    }
    std::map<std::string, std::string> first;  // name -> path of its first definition
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string ip = indexed(p, i);
      l.located(ip, v[i]);
      if (v[i].IsNull()) {
        l.error(v[i], ip, "empty entry: expected a metric definition (a mapping)");
        continue;
      }
      UserMetric metric;
      read_metric(l, v[i], ip, metric);
      if (!metric.name.empty()) {
        auto [it, fresh] = first.emplace(metric.name, ip);
        if (!fresh) {
          const Mark at = l.where(join(ip, "name"));
          l.error(at, join(ip, "name"),
                  "duplicate metric name " + quote(metric.name) + " (first defined at " + it->second + ", line " +
                      std::to_string(l.where(join(it->second, "name")).line) + ")");
        }
      }
      c.metrics.push_back(std::move(metric));
    }
  });
  m.finish();
  if (!c.process_metrics) c.top_n = 0;
}

// ---------------------------------------------------------------- alerts

const std::vector<std::pair<std::string, Aggregation>>& aggregations() {
  static const std::vector<std::pair<std::string, Aggregation>> names = {
      {"max", Aggregation::max}, {"min", Aggregation::min},     {"sum", Aggregation::sum},
      {"avg", Aggregation::avg}, {"count", Aggregation::count}, {"none", Aggregation::none},
  };
  return names;
}

const std::vector<std::pair<std::string, Comparison>>& comparisons() {
  static const std::vector<std::pair<std::string, Comparison>> names = {
      {">", Comparison::gt},  {">=", Comparison::ge}, {"<", Comparison::lt},  {"<=", Comparison::le},
      {"==", Comparison::eq}, {"!=", Comparison::ne}, {"gt", Comparison::gt}, {"ge", Comparison::ge},
      {"lt", Comparison::lt}, {"le", Comparison::le}, {"eq", Comparison::eq}, {"ne", Comparison::ne},
  };
  return names;
}

const std::vector<std::pair<std::string, Severity>>& severities() {
  static const std::vector<std::pair<std::string, Severity>> names = {
      {"critical", Severity::critical}, {"warning", Severity::warning}, {"info", Severity::info}};
  return names;
}

// A number, or a size (bytes) or duration (seconds): the base units metrics use.
bool read_threshold(Loader& l, const YAML::Node& v, const std::string& p, double& out) {
  static const std::string expected = "expected a number, a size like 2GiB or a duration like 30s";
  if (!v.IsScalar()) {
    l.error(v, p, expected + ", got " + describe(v));
    return false;
  }
  const std::string& text = v.Scalar();
  double number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (!text.empty() && ec == std::errc() && ptr == text.data() + text.size() && std::isfinite(number)) {
    out = number;
    return true;
  }
  if (auto bytes = parse_size(text)) {
    out = static_cast<double>(*bytes);
    return true;
  }
  if (auto d = parse_duration(text)) {
    out = std::chrono::duration<double>(*d).count();
    return true;
  }
  l.error(v, p, expected + ", got " + quote(text));
  return false;
}

// What kind of series a metric name is, for the structured condition.
// `any`: a _bucket/_sum/_count series of a built-in histogram or summary
// (some of canopy's are snapshots of a population, not counters).
enum class SeriesKind { unknown, counter, gauge, histogram_family, any };

SeriesKind series_kind(const std::string& name, const std::vector<UserMetric>& user) {
  if (name == "up") return SeriesKind::gauge;
  for (const auto& m : canopy::exporters::served_metric_names()) {
    if (name != m.name) continue;
    const std::string type = m.type;
    if (type == "counter") return SeriesKind::counter;
    if (type == "histogram" || type == "summary") return SeriesKind::histogram_family;
    return SeriesKind::gauge;
  }
  if (promql::builtin_family(name)) return SeriesKind::any;
  using telemetry::MetricType;
  for (const auto& m : user) {
    if (m.name.empty()) continue;
    const bool family = m.type == MetricType::summary || m.type == MetricType::distribution;
    if (name == m.name) {
      if (family) return SeriesKind::histogram_family;
      return m.type == MetricType::last_value ? SeriesKind::gauge : SeriesKind::counter;
    }
    if (family && (name == m.name + "_sum" || name == m.name + "_count")) return SeriesKind::counter;
    if (m.type == MetricType::distribution && name == m.name + "_bucket") return SeriesKind::counter;
  }
  return SeriesKind::unknown;
}

std::vector<std::string> metric_candidates(const std::vector<UserMetric>& user) {
  std::vector<std::string> names = {"up"};
  for (const auto& m : canopy::exporters::served_metric_names()) names.emplace_back(m.name);
  for (const auto& m : user) names.push_back(m.name);
  return names;
}

void read_alert_name(Loader& l, MapReader& m, AlertRule& c) {
  m.require("name");
  m.field("name", [&](const YAML::Node& v, const std::string& p) {
    std::string name;
    if (!read_nonempty_string(l, v, p, name)) return;
    if (!telemetry::valid_metric_name(name)) {
      l.error(v, p, quote(name) + " is not a valid alert name ([a-zA-Z_:][a-zA-Z0-9_:]*, e.g. CanopyMailboxOverload)");
      return;
    }
    c.name = name;
  });
}

// Which of the two ways to write a condition the rule uses: a structured
// condition (metric: ...) or raw PromQL (expr: ...). Exactly one is allowed.
struct AlertForm {
  bool structured = false;
  bool raw = false;
  bool structured_only() const { return structured && !raw; }
  bool raw_only() const { return raw && !structured; }
};

AlertForm read_alert_form(Loader& l, const MapReader& m) {
  const AlertForm form{.structured = m.has("metric"), .raw = m.has("expr")};
  if (!form.structured && !form.raw) {
    l.error(m.mark(), m.path(), "an alert needs either metric (a structured condition) or expr (raw PromQL)");
  } else if (form.structured && form.raw) {
    l.error(m.key_mark("expr"), join(m.path(), "expr"), "give either metric or expr, not both");
  }
  return form;
}

void read_alert_metric(Loader& l, MapReader& m, AlertRule& c) {
  m.field("metric", [&](const YAML::Node& v, const std::string& p) {
    std::string name;
    if (!read_nonempty_string(l, v, p, name)) return;
    if (!telemetry::valid_metric_name(name)) {
      l.error(v, p, quote(name) + " is not a valid metric name");
      return;
    }
    c.metric = name;
  });
  m.field("match", [&](const YAML::Node& v, const std::string& p) {
    read_string_map(l, v, p, c.match, [&](const std::string& key, const std::string& kp, const YAML::Node& at) {
      return check_label_name(l, key, kp, at);
    });
  });
}

// rate, increase or deriv (at most one) and its range. Returns the key that
// was given, or nullptr.
const char* read_alert_range_function(Loader& l, MapReader& m, AlertRule& c) {
  const char* function_key = nullptr;
  struct Wrap {
    const char* key;
    RangeFunction fn;
  };
  for (const Wrap& w : {Wrap{"rate", RangeFunction::rate}, Wrap{"increase", RangeFunction::increase},
                        Wrap{"deriv", RangeFunction::deriv}}) {
    const char* key = w.key;
    const RangeFunction fn = w.fn;
    m.field(key, [&](const YAML::Node& v, const std::string& p) {
      if (function_key != nullptr) {
        l.error(v, p, std::string("give one of rate, increase and deriv, not both ") + function_key + " and " + key);
        return;
      }
      function_key = key;
      if (read_duration(l, v, p, c.range, /*allow_zero=*/false)) c.function = fn;
    });
  }
  return function_key;
}

void read_alert_aggregation(Loader& l, MapReader& m, AlertRule& c) {
  m.field("aggregation",
          [&](const YAML::Node& v, const std::string& p) { read_enum(l, v, p, aggregations(), c.aggregation); });
  m.field("by", [&](const YAML::Node& v, const std::string& p) {
    std::set<std::string> seen;
    read_string_list(l, v, p, c.by, [&](const std::string& label, const std::string& lp, const YAML::Node& at) {
      if (!check_label_name(l, label, lp, at)) return false;
      if (!seen.insert(label).second) {
        l.error(at, lp, "duplicate label " + quote(label));
        return false;
      }
      return true;
    });
    if (c.aggregation == Aggregation::none && !c.by.empty()) {
      l.error(v, p, "by needs an aggregation (aggregation is none)");
    }
  });
}

// comparison and threshold; a structured condition needs the threshold.
void read_alert_threshold(Loader& l, MapReader& m, AlertRule& c, const AlertForm& form) {
  m.field("comparison", [&](const YAML::Node& v, const std::string& p) {
    read_enum(l, v, p, comparisons(), c.comparison, " (quote it: \">\")");
  });
  bool have_threshold =
      m.field("threshold", [&](const YAML::Node& v, const std::string& p) { read_threshold(l, v, p, c.threshold); });
  if (form.structured_only() && !have_threshold) l.error(m.mark(), m.path(), "missing required key 'threshold'");
}

void reject_structured_keys_with_expr(Loader& l, const MapReader& m, const AlertForm& form) {
  if (!form.raw_only()) return;
  for (const char* key : {"match", "rate", "increase", "deriv", "aggregation", "by", "comparison", "threshold"}) {
    if (m.has(key))
      l.error(m.key_mark(key), join(m.path(), key), "only with metric (a structured condition), not with expr");
  }
}

// The metric must exist, and its kind must suit the range function:
// counters want rate or increase, gauges deriv (or none).
void check_alert_metric_kind(Loader& l, const MapReader& m, const AlertRule& c, const char* function_key,
                             const std::vector<UserMetric>& user) {
  const std::string p = join(m.path(), "metric");
  const Mark at = m.value_mark("metric");
  switch (series_kind(c.metric, user)) {
    case SeriesKind::unknown:
      l.error(at, p,
              "unknown metric " + quote(c.metric) + did_you_mean(c.metric, metric_candidates(user)) +
                  ": use a canopy metric, one of telemetry.metrics, or `up` (or write expr)");
      break;
    case SeriesKind::histogram_family:
      l.error(at, p,
              quote(c.metric) + " is a histogram or summary: use " + c.metric + "_count or " + c.metric +
                  "_sum (or expr with histogram_quantile)");
      break;
    case SeriesKind::counter:
      if (c.function == RangeFunction::none) {
        l.error(at, p, quote(c.metric) + " is a counter: add rate: or increase: (e.g. rate: 5m)");
      } else if (c.function == RangeFunction::deriv) {
        l.error(m.key_mark("deriv"), join(m.path(), "deriv"),
                quote(c.metric) + " is a counter: use rate or increase, not deriv");
      }
      break;
    case SeriesKind::gauge:
      if (c.function == RangeFunction::rate || c.function == RangeFunction::increase) {
        l.error(m.key_mark(function_key), join(m.path(), function_key),
                quote(c.metric) + " is a gauge: use deriv (" + function_key + " is for counters)");
      }
      break;
    case SeriesKind::any:
      break;
  }
}

void read_alert_expr(Loader& l, MapReader& m, AlertRule& c) {
  m.field("expr", [&](const YAML::Node& v, const std::string& p) {
    std::string expr;
    if (!read_nonempty_string(l, v, p, expr)) return;
    if (auto problem = promql::check_brackets(expr)) {
      l.error(v, p, "not valid PromQL: " + *problem);
      return;
    }
    std::vector<std::string> builtin;
    for (const auto& mn : canopy::exporters::served_metric_names()) builtin.emplace_back(mn.name);
    bool ok = true;
    for (const auto& id : promql::identifiers_with_prefix(expr, "canopy_")) {
      if (!promql::builtin_family(id)) {
        l.error(v, p, "unknown metric " + quote(id) + did_you_mean(id, builtin));
        ok = false;
      }
    }
    if (ok) c.expr = expr;
  });
}

// for, severity, summary, description and labels: how long the condition
// must hold, and what the firing alert carries.
void read_alert_firing(Loader& l, MapReader& m, AlertRule& c) {
  m.field("for", [&](const YAML::Node& v, const std::string& p) { read_duration(l, v, p, c.for_duration); });
  m.field("severity", [&](const YAML::Node& v, const std::string& p) { read_enum(l, v, p, severities(), c.severity); });
  m.field("summary", [&](const YAML::Node& v, const std::string& p) { read_string(l, v, p, c.summary); });
  m.field("description", [&](const YAML::Node& v, const std::string& p) { read_string(l, v, p, c.description); });
  m.field("labels", [&](const YAML::Node& v, const std::string& p) {
    read_string_map(l, v, p, c.labels, [&](const std::string& key, const std::string& kp, const YAML::Node& at) {
      if (!check_label_name(l, key, kp, at)) return false;
      if (key == "severity") {
        l.error(at, kp, "set severity with the rule's severity key");
        return false;
      }
      if (key == "alertname") {
        l.error(at, kp, "label 'alertname' is set by Prometheus from name");
        return false;
      }
      return true;
    });
  });
}

void read_alert(Loader& l, const YAML::Node& n, const std::string& path, AlertRule& c,
                const std::vector<UserMetric>& user) {
  MapReader m(l, n, path);
  if (!m.is_map()) return;
  read_alert_name(l, m, c);
  const AlertForm form = read_alert_form(l, m);
  read_alert_metric(l, m, c);
  const char* function_key = read_alert_range_function(l, m, c);
  read_alert_aggregation(l, m, c);
  read_alert_threshold(l, m, c, form);
  reject_structured_keys_with_expr(l, m, form);
  if (form.structured_only() && !c.metric.empty()) check_alert_metric_kind(l, m, c, function_key, user);
  read_alert_expr(l, m, c);
  read_alert_firing(l, m, c);
  m.finish();
}

void read_alerts(Loader& l, const YAML::Node& n, AlertsConfig& c, const std::vector<UserMetric>& user) {
  MapReader m(l, n, "alerts");
  m.field("group", [&](const YAML::Node& v, const std::string& p) { read_nonempty_string(l, v, p, c.group); });
  m.field("interval", [&](const YAML::Node& v, const std::string& p) { read_duration(l, v, p, c.interval); });
  m.field("rules", [&](const YAML::Node& v, const std::string& p) {
    if (v.IsNull()) return;
    if (!v.IsSequence()) {
      l.error(v, p, "expected a list of alert rules, got " + describe(v));
      return;
    }
    std::map<std::string, std::string> first;
    for (size_t i = 0; i < v.size(); ++i) {
      const std::string ip = indexed(p, i);
      l.located(ip, v[i]);
      if (v[i].IsNull()) {
        l.error(v[i], ip, "empty entry: expected an alert rule (a mapping)");
        continue;
      }
      AlertRule rule;
      read_alert(l, v[i], ip, rule, user);
      if (!rule.name.empty()) {
        auto [it, fresh] = first.emplace(rule.name, ip);
        if (!fresh) {
          l.error(l.where(join(ip, "name")), join(ip, "name"),
                  "duplicate alert name " + quote(rule.name) + " (first defined at " + it->second + ", line " +
                      std::to_string(l.where(join(it->second, "name")).line) + ")");
        }
      }
      c.rules.push_back(std::move(rule));
    }
  });
  m.finish();
}

// ---------------------------------------------------------------- logging, workload

void read_logging(Loader& l, const YAML::Node& n, LoggingConfig& c) {
  MapReader m(l, n, "logging");
  m.field("level", [&](const YAML::Node& v, const std::string& p) {
    std::vector<std::pair<std::string, LogLevel>> names;
    for (auto level : {LogLevel::trace, LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error,
                       LogLevel::critical, LogLevel::off}) {
      names.emplace_back(to_string(level), level);
    }
    read_enum(l, v, p, names, c.level);
  });
  m.field("format", [&](const YAML::Node& v, const std::string& p) {
    read_enum(l, v, p,
              std::vector<std::pair<std::string, LogFormat>>{{"text", LogFormat::text}, {"json", LogFormat::json}},
              c.format);
  });
  m.field("file", [&](const YAML::Node& v, const std::string& p) { read_string(l, v, p, c.file); });
  m.finish();
}

void read_workload(Loader& l, const YAML::Node& n, WorkloadConfig& c) {
  MapReader m(l, n, "workload");
  m.field("enabled", [&](const YAML::Node& v, const std::string& p) { read_bool(l, v, p, c.enabled); });
  m.field("workers", [&](const YAML::Node& v, const std::string& p) { read_uint(l, v, p, c.workers, 0, 10'000'000); });
  m.field("producers", [&](const YAML::Node& v, const std::string& p) { read_uint(l, v, p, c.producers, 0, 10'000); });
  m.field("message_rate", [&](const YAML::Node& v, const std::string& p) { read_uint(l, v, p, c.message_rate); });
  m.field("crash_interval",
          [&](const YAML::Node& v, const std::string& p) { read_duration(l, v, p, c.crash_interval); });
  m.field("table_entries", [&](const YAML::Node& v, const std::string& p) { read_uint(l, v, p, c.table_entries); });
  m.field("pricing_module",
          [&](const YAML::Node& v, const std::string& p) { read_string(l, v, p, c.pricing_module); });
  m.field("faults", [&](const YAML::Node& v, const std::string& p) {
    std::set<std::string> seen;
    read_string_list(l, v, p, c.faults, [&](const std::string& fault, const std::string& fp, const YAML::Node& at) {
      const auto& known = workload_fault_names();
      if (std::find(known.begin(), known.end(), fault) == known.end()) {
        std::string list;
        for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
        l.error(at, fp, "unknown fault " + quote(fault) + did_you_mean(fault, known) + " (faults: " + list + ")");
        return false;
      }
      if (!seen.insert(fault).second) {
        l.error(at, fp, "duplicate fault " + quote(fault));
        return false;
      }
      return true;
    });
  });
  m.finish();
}

// ---------------------------------------------------------------- crash reports, dumps

void read_crash_reports(Loader& l, const YAML::Node& n, CrashReportsConfig& c) {
  MapReader m(l, n, "crash_reports");
  m.field("max", [&](const YAML::Node& v, const std::string& p) { read_uint(l, v, p, c.max, 1, 1'000'000); });
  m.finish();
}

void read_dump(Loader& l, const YAML::Node& n, DumpConfig& c) {
  MapReader m(l, n, "dump");
  m.field("dir", [&](const YAML::Node& v, const std::string& p) { read_string(l, v, p, c.dir); });
  m.field("max_files", [&](const YAML::Node& v, const std::string& p) { read_uint(l, v, p, c.max_files, 0, 100'000); });
  m.field("on_fatal_signal", [&](const YAML::Node& v, const std::string& p) { read_bool(l, v, p, c.on_fatal_signal); });
  m.finish();
}

// ---------------------------------------------------------------- the document

LoadResult load(const std::string& text, const std::string& name, const std::string& base_dir) {
  LoadResult result;
  Loader l(name);
  Config config;
  config.source = name;
  try {
    const std::vector<YAML::Node> documents = YAML::LoadAll(text);
    const YAML::Node root = documents.empty() ? YAML::Node() : documents.front();
    if (documents.size() > 1)
      l.error(documents[1], "", "one YAML document per file, found " + std::to_string(documents.size()));
    MapReader top(l, root, "");
    if (top.is_map()) {
      // Sections in dependency order (alerts may name user metrics), whatever
      // their order in the file.
      const YAML::Node none;
      auto section = [&](const char* key) -> YAML::Node {
        const YAML::Node* v = top.get(key);
        return v != nullptr ? *v : none;
      };
      read_node(l, section("node"), config.node);
      read_server(l, section("server"), config.server);
      read_runtime(l, section("runtime"), config.runtime);
      read_telemetry(l, section("telemetry"), config.telemetry);
      read_alerts(l, section("alerts"), config.alerts, config.telemetry.metrics);
      read_logging(l, section("logging"), config.logging);
      read_workload(l, section("workload"), config.workload);
      read_crash_reports(l, section("crash_reports"), config.crash_reports);
      read_dump(l, section("dump"), config.dump);
      top.finish();
    }
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp (0.7 and later) stops recursing at this depth, but says only
    // "bad file".
    l.error(to_mark(e.mark), "",
            "nested deeper than " + std::to_string(e.depth()) +
                " levels, the YAML parser's limit (a canopy config nests a few levels)");
  } catch (const YAML::Exception& e) {
    std::string message = e.msg;
    // yaml-cpp says "illegal map value" for tab indentation; say why.
    if (!e.mark.is_null()) {
      std::istringstream in(text);
      std::string line;
      for (int i = 0; i <= e.mark.line && std::getline(in, line); ++i) {
      }
      const size_t indent = line.find_first_not_of(" \t");
      if (line.substr(0, indent).find('\t') != std::string::npos)
        message += " (tabs are not allowed in YAML indentation)";
    }
    l.error(to_mark(e.mark), "", message);
  } catch (const std::exception& e) {
    l.error(Mark{}, "", std::string("internal error: ") + e.what());
  }
  result.known_keys = l.known_keys();
  result.errors = l.take_errors();
  if (!result.errors.empty()) return result;

  if (!base_dir.empty()) {
    namespace fs = std::filesystem;
    for (std::string* file : {&config.server.admin_token_file, &config.server.tls.cert_file,
                              &config.server.tls.key_file, &config.dump.dir}) {
      if (!file->empty() && fs::path(*file).is_relative())
        *file = (fs::path(base_dir) / *file).lexically_normal().string();
    }
  }
  config.locations = l.take_locations();
  result.config = std::move(config);
  return result;
}

}  // namespace

LoadResult load_string(const std::string& text, const std::string& name) { return load(text, name, ""); }

LoadResult load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    LoadResult result;
    result.errors.push_back(ConfigError{path, 0, 0, "", std::string("cannot open: ") + std::strerror(errno)});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    LoadResult result;
    result.errors.push_back(ConfigError{path, 0, 0, "", std::string("cannot read: ") + std::strerror(errno)});
    return result;
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  return load(text.str(), path, dir);
}

}  // namespace canopy::config
