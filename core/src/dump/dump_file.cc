// The dump reader (canopy/core/dump_file.hpp): line by line, one pass, every
// problem an error naming its line.
#include "canopy/core/dump_file.hpp"

#include <charconv>
#include <fstream>

#include "dump/format.hpp"

namespace canopy {

const std::string* DumpSection::get(std::string_view key) const {
  for (const auto& [k, v] : fields) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::vector<std::string> DumpSection::all(std::string_view key) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : fields) {
    if (k == key) out.push_back(v);
  }
  return out;
}

std::vector<const DumpSection*> DumpFile::named(std::string_view name) const {
  std::vector<const DumpSection*> out;
  for (const auto& s : sections) {
    if (s.name == name) out.push_back(&s);
  }
  return out;
}

namespace {

using detail::dump_format::kProcessColumns;

std::string shown(std::string_view line) {
  std::string s(line.substr(0, 60));
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return "'" + s + (line.size() > 60 ? "...'" : "'");
}

class Reader {
 public:
  Reader(std::istream& in, const DumpReadOptions& options) : in_(in), options_(options) {}

  Result<DumpFile> run() {
    if (!next()) return fail("empty file: not a canopy dump");
    if (line_ != "=canopy_dump:1") {
      return fail("not a canopy dump (the first line must be '=canopy_dump:1', got " + shown(line_) + ")");
    }
    DumpSection* current = &file_.header;
    file_.header.name = "canopy_dump";
    file_.header.id = "1";
    file_.header.line = number_;
    std::string mode = "header";  // header, kv, processes, log
    bool columns_seen = false;
    while (next()) {
      if (!line_.empty() && line_[0] == '=') {
        if (number_ == 2) return fail("the second line must be the slogan ('slogan: ...'), got " + shown(line_));
        if (mode == "processes" && !columns_seen) return fail("=processes has no 'columns:' line");
        const std::string head = line_.substr(1);
        if (head == "end") return finish();
        const size_t colon = head.find(':');
        std::string name = head.substr(0, colon);
        std::string id = colon == std::string::npos ? "" : head.substr(colon + 1);
        if (name.empty() || !is_key(name)) return fail("bad section header " + shown(line_));
        section_ = name;
        if (name == "processes") {
          mode = "processes";
          columns_seen = false;
          continue;
        }
        if (name == "log") {
          mode = "log";
          continue;
        }
        mode = "kv";
        file_.sections.push_back(DumpSection{std::move(name), std::move(id), number_, {}});
        current = &file_.sections.back();
        continue;
      }
      if (mode == "log") {
        std::string text;
        if (!detail::dump_format::unescape(line_, text)) return fail("bad escape in a log line");
        file_.log.push_back(std::move(text));
        continue;
      }
      if (mode == "processes") {
        if (!columns_seen) {
          if (Status st = check_columns(); !st.ok()) return st.error();
          columns_seen = true;
          continue;
        }
        if (Status st = process_row(); !st.ok()) return st.error();
        continue;
      }
      std::string key, value;
      if (Status st = key_value(key, value); !st.ok()) return st.error();
      if (number_ == 2 && key != "slogan") return fail("the second line must be the slogan ('slogan: ...'), got " + shown(line_));
      current->fields.emplace_back(std::move(key), std::move(value));
    }
    if (in_.bad()) return fail("read error");
    return fail("truncated: the dump ends in section '" + section_ + "' without its '=end' line");
  }

 private:
  bool next() {
    if (!std::getline(in_, line_)) return false;
    ++number_;
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    return true;
  }
  Error fail(const std::string& what) const {
    return Error(Errc::invalid_argument, "line " + std::to_string(number_ == 0 ? 1 : number_) + ": " + what);
  }
  static bool is_key(std::string_view k) {
    for (char c : k) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
    }
    return !k.empty();
  }

  Status key_value(std::string& key, std::string& value) {
    const size_t colon = line_.find(':');
    if (colon == std::string::npos || !is_key(std::string_view(line_).substr(0, colon)) ||
        (colon + 1 < line_.size() && line_[colon + 1] != ' ')) {
      return fail("expected 'key: value' in section '" + section_ + "', got " + shown(line_));
    }
    key = line_.substr(0, colon);
    const std::string_view raw = colon + 2 <= line_.size() ? std::string_view(line_).substr(colon + 2) : "";
    if (!detail::dump_format::unescape(raw, value)) return fail("bad escape in the value of '" + key + "'");
    return {};
  }

  Status check_columns() {
    std::string key, value;
    if (Status st = key_value(key, value); !st.ok() || key != "columns") {
      return fail("=processes must start with its 'columns:' line, got " + shown(line_));
    }
    // value was unescaped: tabs are real tabs again.
    size_t start = 0, n = 0;
    for (;;) {
      const size_t tab = value.find('\t', start);
      const std::string col = value.substr(start, tab == std::string::npos ? std::string::npos : tab - start);
      if (n >= kProcessColumns.size() || col != kProcessColumns[n]) {
        return fail("unexpected process column '" + col + "' (column " + std::to_string(n + 1) + ")");
      }
      ++n;
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    if (n != kProcessColumns.size()) {
      return fail("=processes has " + std::to_string(n) + " columns, expected " +
                  std::to_string(kProcessColumns.size()));
    }
    return {};
  }

  template <typename T>
  Status number(std::string_view field, const char* column, T& out) {
    const char* end = field.data() + field.size();
    auto r = std::from_chars(field.data(), end, out);
    if (field.empty() || r.ec != std::errc() || r.ptr != end) {
      return fail("process row: " + std::string(column) + " is not a number: " + shown(field));
    }
    return {};
  }

  Status process_row() {
    fields_.clear();
    std::string_view rest(line_);
    for (;;) {
      const size_t tab = rest.find('\t');
      fields_.push_back(rest.substr(0, tab));
      if (tab == std::string_view::npos) break;
      rest.remove_prefix(tab + 1);
    }
    if (fields_.size() != kProcessColumns.size()) {
      return fail("process row has " + std::to_string(fields_.size()) + " fields, expected " +
                  std::to_string(kProcessColumns.size()) + ": " + shown(line_));
    }
    DumpProcess p;
    std::string* text[] = {&p.pid,   &p.name,     &p.behaviour,  &p.status,         nullptr,
                           nullptr,  nullptr,     nullptr,       nullptr,           nullptr,
                           &p.links, &p.monitors, &p.supervisor, &p.current_message, nullptr};
    for (size_t i = 0; i < fields_.size(); ++i) {
      if (text[i] != nullptr && !detail::dump_format::unescape(fields_[i], *text[i])) {
        return fail(std::string("process row: bad escape in ") + kProcessColumns[i]);
      }
    }
    if (p.pid.size() < 5 || p.pid.front() != '<' || p.pid.back() != '>') {
      return fail("process row: pid is not a pid: " + shown(fields_[0]));
    }
    Status st;
    if (!(st = number(fields_[4], kProcessColumns[4], p.mailbox_length)).ok()) return st;
    if (!(st = number(fields_[5], kProcessColumns[5], p.mailbox_bytes)).ok()) return st;
    if (!(st = number(fields_[6], kProcessColumns[6], p.oldest_message_age_s)).ok()) return st;
    if (!(st = number(fields_[7], kProcessColumns[7], p.heap_bytes)).ok()) return st;
    if (!(st = number(fields_[8], kProcessColumns[8], p.reductions)).ok()) return st;
    if (!(st = number(fields_[9], kProcessColumns[9], p.cpu_ns)).ok()) return st;
    if (!(st = number(fields_[14], kProcessColumns[14], p.messages_dropped)).ok()) return st;
    ++file_.process_count;
    if (options_.on_process) {
      options_.on_process(p);
    } else {
      file_.processes.push_back(std::move(p));
    }
    return {};
  }

  Result<DumpFile> finish() {
    if (std::string tail; std::getline(in_, tail)) {
      ++number_;
      return fail("text after '=end': " + shown(tail));
    }
    const std::string* slogan = file_.header.get("slogan");
    if (slogan == nullptr) return fail("the dump has no slogan");
    file_.slogan = *slogan;
    const std::string* kind = file_.header.get("kind");
    file_.kind = kind ? *kind : "full";
    return std::move(file_);
  }

  std::istream& in_;
  const DumpReadOptions& options_;
  DumpFile file_;
  std::string line_;
  int number_ = 0;
  std::string section_ = "canopy_dump";
  std::vector<std::string_view> fields_;
};

}  // namespace

Result<DumpFile> read_dump(std::istream& in, const DumpReadOptions& options) {
  try {
    return Reader(in, options).run();
  } catch (const std::exception& e) {
    return Error(Errc::invalid_argument, std::string("cannot read the dump: ") + e.what());
  }
}

Result<DumpFile> read_dump_file(const std::string& path, const DumpReadOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Errc::io_error, "cannot open " + path);
  Result<DumpFile> r = read_dump(in, options);
  if (!r.ok()) return Error(r.code(), path + ": " + r.error().message(), r.error().message());
  return r;
}

}  // namespace canopy
