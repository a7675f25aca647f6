// Families handed over whole or streamed: the two meet here.
#include "canopy/telemetry/collect.hpp"

namespace canopy::telemetry {

void emit(const Family& family, FamilySink& sink) {
  sink.family(family);
  sink.expect(family.samples.size());
  std::vector<std::string_view> names, values;
  for (const Sample& s : family.samples) {
    names.clear();
    values.clear();
    for (const auto& [name, value] : s.labels) {
      names.emplace_back(name);
      values.emplace_back(value);
    }
    SampleView v;
    v.label_names = names.data();
    v.label_values = values.data();
    v.labels = names.size();
    v.value = s.value;
    v.bucket_counts = s.bucket_counts.data();
    v.buckets = s.bucket_counts.size();
    v.count = s.count;
    v.sum = s.sum;
    sink.sample(v);
  }
}

void FamilyBuilder::family(const Family& header) {
  Family f;
  f.name = header.name;
  f.help = header.help;
  f.unit = header.unit;
  f.type = header.type;
  f.bounds = header.bounds;
  families_.push_back(std::move(f));
}

void FamilyBuilder::expect(size_t samples) {
  if (!families_.empty()) families_.back().samples.reserve(samples);
}

void FamilyBuilder::sample(const SampleView& v) {
  if (families_.empty()) return;  // a sample before any family: nowhere to put it
  Sample s;
  s.labels.reserve(v.labels);
  for (size_t i = 0; i < v.labels; ++i) s.labels.emplace_back(v.label_names[i], v.label_values[i]);
  s.value = v.value;
  s.bucket_counts.assign(v.bucket_counts, v.bucket_counts + v.buckets);
  s.count = v.count;
  s.sum = v.sum;
  families_.back().samples.push_back(std::move(s));
}

void Collectable::collect_into(FamilySink& sink) const {
  for (const Family& f : collect()) emit(f, sink);
}

}  // namespace canopy::telemetry
