// canopy::heap_accounting: the global operator new/delete family, replaced so
// that every block records which process allocated it (heap_ledger.hpp).
// Each block carries a 16-byte header before what the caller gets: the size
// asked for, the alignment's log2, and the ledger's {slot, generation}. The
// memory itself comes from malloc (aligned_alloc for over-aligned types).
//
// What counts: the bytes asked of operator new (new, new[], std::allocator,
// std::pmr::new_delete_resource...) while a process runs its init, handlers or
// terminate, until freed. What does not: malloc/calloc called directly,
// memory a library maps itself, allocator overhead (headers, rounding).
//
// CANOPY_HEAP_ACCOUNTING=off in the environment turns it off for the life of
// the program (read at the first allocation): plain malloc, no header.
#include <cstdlib>
#include <cstring>
#include <new>

#include "canopy/core/detail/heap_ledger.hpp"

namespace {

using canopy::detail::heap::Tag;

constexpr size_t kHeader = 16;

struct Header {
  uint64_t size : 56;
  uint64_t align_shift : 8;  // 0: the default alignment (the header is kHeader before)
  uint32_t slot;
  uint32_t generation;
};
static_assert(sizeof(Header) == kHeader);

// -1 unknown, 0 off, 1 on; decided once, at the first allocation (before
// any thread but main exists), and never changes after.
int mode = -1;

bool tracked() {
  if (mode < 0) {
    const char* env = std::getenv("CANOPY_HEAP_ACCOUNTING");
    mode = env != nullptr && std::strcmp(env, "off") == 0 ? 0 : 1;
    canopy::detail::heap::set_tracking(mode == 1);
  }
  return mode == 1;
}

unsigned log2_of(size_t align) {
  unsigned s = 0;
  while ((size_t{1} << s) < align) ++s;
  return s;
}

void* allocate(size_t size, size_t align) {
  if (!tracked()) {
    if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) return std::malloc(size == 0 ? 1 : size);
    return std::aligned_alloc(align, (size + align - 1) / align * align);
  }
  char* raw;
  size_t offset;
  if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
    offset = kHeader;
    raw = static_cast<char*>(std::malloc(size + kHeader));
  } else {
    offset = align;  // >= 32: the header fits in front
    raw = static_cast<char*>(std::aligned_alloc(align, (size + align + align - 1) / align * align));
  }
  if (raw == nullptr) return nullptr;
  char* user = raw + offset;
  const Tag tag = canopy::detail::heap::charge(size);
  Header h{};
  h.size = size;
  h.align_shift = align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__ ? 0 : log2_of(align);
  h.slot = tag.slot;
  h.generation = tag.generation;
  std::memcpy(user - kHeader, &h, kHeader);
  return user;
}

void deallocate(void* p) {
  if (p == nullptr) return;
  if (!tracked()) {
    std::free(p);
    return;
  }
  char* user = static_cast<char*>(p);
  Header h;
  std::memcpy(&h, user - kHeader, kHeader);
  canopy::detail::heap::refund(Tag{h.slot, h.generation}, h.size);
  std::free(user - (h.align_shift == 0 ? kHeader : size_t{1} << h.align_shift));
}

void* allocate_or_throw(size_t size, size_t align) {
  for (;;) {
    if (void* p = allocate(size, align)) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* allocate_or_null(size_t size, size_t align) noexcept {
  try {
    return allocate_or_throw(size, align);
  } catch (...) {
    return nullptr;
  }
}

constexpr size_t kDefault = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

}  // namespace

void* operator new(size_t n) { return allocate_or_throw(n, kDefault); }
void* operator new[](size_t n) { return allocate_or_throw(n, kDefault); }
void* operator new(size_t n, const std::nothrow_t&) noexcept { return allocate_or_null(n, kDefault); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return allocate_or_null(n, kDefault); }
void* operator new(size_t n, std::align_val_t a) { return allocate_or_throw(n, static_cast<size_t>(a)); }
void* operator new[](size_t n, std::align_val_t a) { return allocate_or_throw(n, static_cast<size_t>(a)); }
void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_or_null(n, static_cast<size_t>(a));
}
void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return allocate_or_null(n, static_cast<size_t>(a));
}

void operator delete(void* p) noexcept { deallocate(p); }
void operator delete[](void* p) noexcept { deallocate(p); }
void operator delete(void* p, size_t) noexcept { deallocate(p); }
void operator delete[](void* p, size_t) noexcept { deallocate(p); }
void operator delete(void* p, std::align_val_t) noexcept { deallocate(p); }
void operator delete[](void* p, std::align_val_t) noexcept { deallocate(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { deallocate(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { deallocate(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { deallocate(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { deallocate(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { deallocate(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { deallocate(p); }
