/*
 * pvlock.hpp - pvlock's three locks as C++ mutex types (C++11 and later).
 *
 *   pvlock::mutex         the queued spinlock (pvlock_t)
 *   pvlock::ticket_mutex  the ticket lock (pvlock_ticket_t)
 *   pvlock::tas_mutex     the test-and-set lock (pvlock_tas_t)
 *
 * Each meets the standard Lockable requirements (lock, try_lock, unlock), so
 * std::lock_guard, std::unique_lock, std::scoped_lock and std::lock work.
 * They are 4 bytes, constexpr-constructible (a namespace-scope mutex is
 * constant-initialised, with no static-initialisation-order problem), not
 * copyable and not movable, and need no destructor.  The rules of the C locks
 * hold unchanged (pvlock(3)): not recursive, one process, no exceptions.
 */
#ifndef PVLOCK_HPP
#define PVLOCK_HPP

#include <pvlock.h>

namespace pvlock {

namespace detail {

template <typename Lock, void (*Acquire)(Lock *), bool (*Try)(Lock *),
	  void (*Release)(Lock *), void (*Init)(Lock *)>
class basic_mutex {
public:
	constexpr basic_mutex() noexcept : lock_() {}
	basic_mutex(const basic_mutex &) = delete;
	basic_mutex &operator=(const basic_mutex &) = delete;

	void lock() noexcept { Acquire(&lock_); }
	bool try_lock() noexcept { return Try(&lock_); }
	void unlock() noexcept { Release(&lock_); }

	/* Reinitialise in a fork child (see pvlock_init()). */
	void reinit() noexcept { Init(&lock_); }

	typedef Lock *native_handle_type;
	native_handle_type native_handle() noexcept { return &lock_; }

private:
	Lock lock_;
};

} /* namespace detail */

typedef detail::basic_mutex<pvlock_t, pvlock_lock, pvlock_trylock, pvlock_unlock,
			    pvlock_init> mutex;
typedef detail::basic_mutex<pvlock_ticket_t, pvlock_ticket_lock, pvlock_ticket_trylock,
			    pvlock_ticket_unlock, pvlock_ticket_init> ticket_mutex;
typedef detail::basic_mutex<pvlock_tas_t, pvlock_tas_lock, pvlock_tas_trylock,
			    pvlock_tas_unlock, pvlock_tas_init> tas_mutex;

static_assert(sizeof(mutex) == 4 && sizeof(ticket_mutex) == 4 && sizeof(tas_mutex) == 4,
	      "a pvlock mutex is its 4-byte lock word");

} /* namespace pvlock */

#endif /* PVLOCK_HPP */
