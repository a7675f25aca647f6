#pragma once
// One customization point for "how many bytes does this value hold beyond
// sizeof(T)": used for mailbox bytes, process heap and table memory.
//
// A type reports its own dynamic size either with a member
//   size_t dynamic_size() const;
// or with a free function found by ADL:
//   size_t canopy_dynamic_size(const MyType&);
// Strings, vectors, pairs and optionals are handled here.
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace canopy {

template <typename T>
size_t dynamic_size(const T& value);

namespace detail {
template <typename T>
struct DynamicSize {
  static size_t of(const T& value) {
    if constexpr (requires {
                    { value.dynamic_size() } -> std::convertible_to<size_t>;
                  }) {
      return value.dynamic_size();
    } else if constexpr (requires {
                           { canopy_dynamic_size(value) } -> std::convertible_to<size_t>;
                         }) {
      return canopy_dynamic_size(value);
    } else {
      return 0;
    }
  }
};

template <typename C, typename Tr, typename A>
struct DynamicSize<std::basic_string<C, Tr, A>> {
  static size_t of(const std::basic_string<C, Tr, A>& s) {
    // Short strings live inside the object (SSO); longer ones own capacity()+1 chars.
    constexpr size_t kInline = 15 / sizeof(C);
    return s.capacity() > kInline ? (s.capacity() + 1) * sizeof(C) : 0;
  }
};

template <typename T, typename A>
struct DynamicSize<std::vector<T, A>> {
  static size_t of(const std::vector<T, A>& v) {
    size_t bytes = v.capacity() * sizeof(T);
    for (const auto& e : v) bytes += dynamic_size(e);
    return bytes;
  }
};

template <typename A, typename B>
struct DynamicSize<std::pair<A, B>> {
  static size_t of(const std::pair<A, B>& p) { return dynamic_size(p.first) + dynamic_size(p.second); }
};

template <typename T>
struct DynamicSize<std::optional<T>> {
  static size_t of(const std::optional<T>& o) { return o ? dynamic_size(*o) : 0; }
};
}  // namespace detail

template <typename T>
size_t dynamic_size(const T& value) {
  return detail::DynamicSize<T>::of(value);
}

// sizeof plus dynamic size: what one value costs in memory.
template <typename T>
size_t total_size(const T& value) {
  return sizeof(T) + dynamic_size(value);
}

}  // namespace canopy
