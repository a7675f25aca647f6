#pragma once
// Clang's thread-safety annotations (not for direct use outside canopy): they
// let `clang -Wthread-safety` (the `clang` preset) check that a member marked
// GUARDED_BY(mu_) is touched only with mu_ held and that a *_locked helper
// marked REQUIRES(mu_) is called only with it held. They expand to nothing on
// other compilers (g++), so they cost nothing there. As leveldb's
// port/thread_annotations.h; the capabilities they name are canopy's
// annotated locks (canopy/telemetry/detail/mutex.hpp): std::mutex is not
// annotated in libstdc++, so the analysis does not see it.
//
// See https://clang.llvm.org/docs/ThreadSafetyAnalysis.html

#if defined(__clang__)
#define CANOPY_THREAD_ANNOTATION_(x) __attribute__((x))
#else
#define CANOPY_THREAD_ANNOTATION_(x)  // no-op
#endif

// On a class: its objects are a capability (a lock), or a scoped holder of one.
#ifndef CAPABILITY
#define CAPABILITY(x) CANOPY_THREAD_ANNOTATION_(capability(x))
#endif
#ifndef SCOPED_CAPABILITY
#define SCOPED_CAPABILITY CANOPY_THREAD_ANNOTATION_(scoped_lockable)
#endif

// On a data member: read and written only with the lock held (GUARDED_BY), or
// what it points to is (PT_GUARDED_BY).
#ifndef GUARDED_BY
#define GUARDED_BY(x) CANOPY_THREAD_ANNOTATION_(guarded_by(x))
#endif
#ifndef PT_GUARDED_BY
#define PT_GUARDED_BY(x) CANOPY_THREAD_ANNOTATION_(pt_guarded_by(x))
#endif

// On a lock member: the order in which locks are taken.
#ifndef ACQUIRED_AFTER
#define ACQUIRED_AFTER(...) CANOPY_THREAD_ANNOTATION_(acquired_after(__VA_ARGS__))
#endif
#ifndef ACQUIRED_BEFORE
#define ACQUIRED_BEFORE(...) CANOPY_THREAD_ANNOTATION_(acquired_before(__VA_ARGS__))
#endif

// On a function: the caller holds the lock (exclusively / at least shared),
// or must not hold it (the function takes it).
#ifndef REQUIRES
#define REQUIRES(...) CANOPY_THREAD_ANNOTATION_(requires_capability(__VA_ARGS__))
#endif
#ifndef REQUIRES_SHARED
#define REQUIRES_SHARED(...) CANOPY_THREAD_ANNOTATION_(requires_shared_capability(__VA_ARGS__))
#endif
#ifndef EXCLUDES
#define EXCLUDES(...) CANOPY_THREAD_ANNOTATION_(locks_excluded(__VA_ARGS__))
#endif

// On a function: it takes / lets go of the lock (without arguments: `this`).
#ifndef ACQUIRE
#define ACQUIRE(...) CANOPY_THREAD_ANNOTATION_(acquire_capability(__VA_ARGS__))
#endif
#ifndef ACQUIRE_SHARED
#define ACQUIRE_SHARED(...) CANOPY_THREAD_ANNOTATION_(acquire_shared_capability(__VA_ARGS__))
#endif
#ifndef RELEASE
#define RELEASE(...) CANOPY_THREAD_ANNOTATION_(release_capability(__VA_ARGS__))
#endif
#ifndef RELEASE_SHARED
#define RELEASE_SHARED(...) CANOPY_THREAD_ANNOTATION_(release_shared_capability(__VA_ARGS__))
#endif
#ifndef TRY_ACQUIRE
#define TRY_ACQUIRE(...) CANOPY_THREAD_ANNOTATION_(try_acquire_capability(__VA_ARGS__))
#endif
#ifndef TRY_ACQUIRE_SHARED
#define TRY_ACQUIRE_SHARED(...) CANOPY_THREAD_ANNOTATION_(try_acquire_shared_capability(__VA_ARGS__))
#endif

// On a function: it checks (aborting otherwise) that the lock is held; the
// analysis takes it as held afterwards.
#ifndef ASSERT_CAPABILITY
#define ASSERT_CAPABILITY(x) CANOPY_THREAD_ANNOTATION_(assert_capability(x))
#endif
#ifndef ASSERT_SHARED_CAPABILITY
#define ASSERT_SHARED_CAPABILITY(x) CANOPY_THREAD_ANNOTATION_(assert_shared_capability(x))
#endif

// On a function: it returns a reference to the given lock.
#ifndef RETURN_CAPABILITY
#define RETURN_CAPABILITY(x) CANOPY_THREAD_ANNOTATION_(lock_returned(x))
#endif

// On a function: not checked. Only with a comment saying why the locking is
// right all the same.
#ifndef NO_THREAD_SAFETY_ANALYSIS
#define NO_THREAD_SAFETY_ANALYSIS CANOPY_THREAD_ANNOTATION_(no_thread_safety_analysis)
#endif
