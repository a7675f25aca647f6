// Dumps: written by write_dump, read back by read_dump; a truncated or
// garbled file is an error naming its line; the file limit; a root
// supervisor that gives up writes a dump whose slogan is the chain.
#include "support.hpp"

// Its own namespace: the test binaries are unity builds (tests/support).
namespace test_dump_dump_file_test {

using namespace canopy;
using namespace dump_test;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string join_lines(const std::vector<std::string>& lines, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < lines.size(); ++i) out += lines[i] + "\n";
  return out;
}

// A dump of a runtime with a named process holding 3 messages, a table,
// a crash report and a supervisor.
std::string sample_dump(Runtime& rt, const TempDir& dir) {
  auto idle = rt.spawn_opts<Idle>(SpawnOptions{std::nullopt, false, false, "holder\twith tab"});
  REQUIRE_OK(idle);
  (void)dir;
  auto crasher = rt.spawn<Crasher>();
  REQUIRE_OK(crasher);
  REQUIRE_OK(rt.send(crasher.value(), CrashOn{"line one\nline two"}));
  REQUIRE(eventually([&] { return crashes_total(rt) == 1; }));
  SupervisorSpec spec;
  spec.name = "sample_sup";
  spec.children.push_back(ChildSpec::worker<Idle>("idle_child"));
  REQUIRE_OK(start_supervisor(rt, spec));
  Result<std::string> path = write_dump(rt, "test: a sample");
  REQUIRE_OK(path);
  return read_text(path.value());
}

}  // namespace

TEST_CASE("a dump round-trips: what the writer puts, the reader gets", "[dump][file]") {
  TempDir dir;
  Runtime rt(options(dir.path()));
  const std::string text = sample_dump(rt, dir);
  auto lines = lines_of(text);
  REQUIRE(lines.size() > 10);
  CHECK(lines[0] == "=canopy_dump:1");
  CHECK(lines[1] == "slogan: test: a sample");
  CHECK(lines.back() == "=end");

  auto r = parse(text);
  REQUIRE_OK(r);
  const DumpFile& f = r.value();
  CHECK(f.slogan == "test: a sample");
  CHECK(f.kind == "full");
  REQUIRE(f.header.get("canopy_version") != nullptr);
  CHECK(*f.header.get("canopy_version") == "test");
  CHECK(std::stoi(*f.header.get("os_pid")) == static_cast<int>(::getpid()));
  CHECK(f.header.get("uptime_s") != nullptr);
  CHECK(f.header.get("time") != nullptr);
  CHECK(f.named("scheduler").size() == 2);
  REQUIRE(f.named("memory").size() == 1);
  CHECK(f.named("memory")[0]->get("processes") != nullptr);
  CHECK(f.process_count == f.processes.size());
  CHECK(f.process_count >= 3);  // the holder, the supervisor and its child
  bool holder = false;
  for (const auto& p : f.processes) {
    if (p.name == "holder\twith tab") holder = true;
  }
  CHECK(holder);
  // The supervisor and its child, which names it.
  REQUIRE(f.named("supervisor").size() == 1);
  const DumpSection& sup = *f.named("supervisor")[0];
  CHECK(*sup.get("name") == "sample_sup");
  CHECK(*sup.get("children") == "1");
  REQUIRE(sup.all("child").size() == 1);
  CHECK(sup.all("child")[0].rfind("idle_child\t<0.", 0) == 0);
  bool child_names_sup = false;
  for (const auto& p : f.processes) {
    if (p.supervisor == sup.id) child_names_sup = true;
  }
  CHECK(child_names_sup);
  // The crash report, with its two-line reason intact.
  REQUIRE(f.named("crash_report").size() == 1);
  CHECK(*f.named("crash_report")[0]->get("reason") == "error: line one\nline two");
  CHECK(*f.named("crash_report")[0]->get("supervisor_action") == "none");
}

TEST_CASE("a truncated dump is an error naming the line, at every cut", "[dump][file]") {
  TempDir dir;
  Runtime rt(options(dir.path()));
  const auto lines = lines_of(sample_dump(rt, dir));
  for (size_t n = 0; n + 1 < lines.size(); ++n) {
    INFO("cut after " << n << " lines");
    auto r = parse(join_lines(lines, n));
    REQUIRE_FALSE(r.ok());
    const std::string msg = r.error().message();
    CHECK(msg.rfind("line " + std::to_string(n == 0 ? 1 : n) + ": ", 0) == 0);
    if (n >= 2) CHECK(msg.find("truncated") != std::string::npos);
  }
  // Cut inside a line (no final newline, half a process row).
  const std::string whole = join_lines(lines, lines.size());
  for (size_t cut : {whole.size() / 3, whole.size() / 2, whole.size() - 3}) {
    auto r = parse(whole.substr(0, cut));
    CHECK_FALSE(r.ok());
  }
  CHECK(parse(whole).ok());
}

TEST_CASE("a garbled dump is an error naming the line and what is wrong", "[dump][file]") {
  TempDir dir;
  Runtime rt(options(dir.path()));
  auto lines = lines_of(sample_dump(rt, dir));
  size_t row = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].rfind("<0.", 0) == 0) {
      row = i;
      break;
    }
  }
  REQUIRE(row > 0);
  const std::string at = "line " + std::to_string(row + 1) + ": ";

  SECTION("a number that is not one") {
    auto bad = lines;
    auto tab = bad[row].find('\t', bad[row].find('\t', bad[row].find('\t', bad[row].find('\t') + 1) + 1) + 1);
    bad[row].insert(tab + 1, "x");
    auto r = parse(join_lines(bad, bad.size()));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().rfind(at + "process row: mailbox_length is not a number", 0) == 0);
  }
  SECTION("a row with a field missing") {
    auto bad = lines;
    bad[row] = bad[row].substr(0, bad[row].rfind('\t'));
    auto r = parse(join_lines(bad, bad.size()));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().rfind(at + "process row has 14 fields, expected 15", 0) == 0);
  }
  SECTION("a line that is not key: value") {
    auto bad = lines;
    bad[3] = "this is not a field";
    auto r = parse(join_lines(bad, bad.size()));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().rfind("line 4: expected 'key: value'", 0) == 0);
  }
  SECTION("text after =end") {
    auto r = parse(join_lines(lines, lines.size()) + "more\n");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().rfind("line " + std::to_string(lines.size() + 1) + ": text after '=end'", 0) == 0);
  }
  SECTION("not a dump at all") {
    auto r = parse("\x7f" "ELF\x01\x02 binary junk\n");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message().rfind("line 1: not a canopy dump", 0) == 0);
    CHECK(parse("").error().message().rfind("line 1: empty file", 0) == 0);
  }
}

TEST_CASE("dumps are named by time and OS pid, and the oldest beyond max_files go", "[dump][file]") {
  TempDir dir;
  RuntimeOptions o = options(dir.path());
  o.dump.max_files = 2;
  Runtime rt(o);
  std::vector<std::string> paths;
  for (int i = 0; i < 3; ++i) {
    auto p = write_dump(rt, "number " + std::to_string(i));
    REQUIRE_OK(p);
    paths.push_back(p.value());
  }
  const std::string name = std::filesystem::path(paths[0]).filename().string();
  CHECK(name.rfind("canopy_crash_", 0) == 0);
  CHECK(name.find("_" + std::to_string(::getpid())) != std::string::npos);
  const auto left = dir.files();
  REQUIRE(left.size() == 2);
  CHECK_FALSE(std::filesystem::exists(paths[0]));
  CHECK(std::filesystem::exists(paths[2]));
  CHECK(dumps_written(rt) == paths);
}

TEST_CASE("a dump into a folder that cannot be written is an error naming it", "[dump][file]") {
  Runtime rt(options("/nonexistent/canopy/dumps"));
  auto r = write_dump(rt, "nowhere");
  REQUIRE_FALSE(r.ok());
  CHECK(r.code() == Errc::io_error);
  CHECK(r.error().message().find("/nonexistent/canopy/dumps/canopy_crash_") != std::string::npos);
}

TEST_CASE("a root supervisor that gives up writes a dump whose slogan is the chain", "[dump][escalation]") {
  TempDir dir;
  Runtime rt(options(dir.path()));
  SupervisorSpec inner;
  inner.name = "web_sup";
  inner.flags.intensity = 1;
  inner.flags.period = std::chrono::milliseconds(60'000);
  ChildSpec flaky = ChildSpec::worker<Crasher>("flaky");
  flaky.spawn.name = "flaky";
  inner.children.push_back(flaky);
  SupervisorSpec root;
  root.name = "root";
  root.flags.intensity = 1;
  root.flags.period = std::chrono::milliseconds(60'000);
  root.children.push_back(ChildSpec::supervisor("web", inner));
  auto app = rt.start_application("shop", root);
  REQUIRE_OK(app);
  // Two crashes make web_sup give up; twice that makes root give up.
  for (int i = 0; i < 4 && rt.alive(app.value()); ++i) {
    Pid w;
    REQUIRE(eventually([&] { return (w = rt.whereis("flaky")).valid() || !rt.alive(app.value()); }));
    if (!w.valid()) break;
    REQUIRE_OK(rt.send(w, CrashOn{"bad input " + std::to_string(i)}));
    REQUIRE(eventually([&] { return rt.whereis("flaky") != w; }));
  }
  REQUIRE(eventually([&] { return !rt.alive(app.value()); }));
  REQUIRE(eventually([&] { return !dumps_written(rt).empty(); }));
  auto f = read_dump_file(dumps_written(rt).at(0));
  REQUIRE_OK(f);
  INFO(f.value().slogan);
  CHECK(f.value().slogan.rfind("application 'shop' gave up: supervisor 'root' gave up: child 'web' exited (shutdown)",
                               0) == 0);
  CHECK(f.value().slogan.find(" <- supervisor 'web_sup' gave up: child 'flaky' exited (error: bad input 3)") !=
        std::string::npos);
  // Its crash reports are in it, the last one marked gave_up.
  const auto reports = f.value().named("crash_report");
  REQUIRE(reports.size() == 4);
  CHECK(*reports[0]->get("supervisor_action") == "gave_up");
  CHECK(*reports[0]->get("supervisors") == "web_sup < root");
  CHECK(*reports[0]->get("application") == "shop");
}

}  // namespace test_dump_dump_file_test
