/*
 * headers_cxx.cpp - pvlock.hpp's mutexes with the standard lock helpers: 4 threads,
 * each lock guarding its own counters, std::lock_guard, std::unique_lock,
 * and std::scoped_lock (C++17) or std::lock.  tests/packaging/headers.sh builds it
 * with g++ and clang++ in every standard from C++11 and runs it.
 */
#include <pvlock.hpp>

#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>
static pvlock::mutex m;
static pvlock::ticket_mutex tm;
static pvlock::tas_mutex sm;
static long a, b, c;
int main() {
	std::vector<std::thread> v;
	for (int i = 0; i < 4; i++)
		v.emplace_back([] { for (int k = 0; k < 20000; k++) {
			{ std::lock_guard<pvlock::mutex> g(m); a++; }
			{ std::unique_lock<pvlock::ticket_mutex> g(tm); b++; }
#if __cplusplus >= 201703L
			{ std::scoped_lock g(m, tm, sm); a++; b++; c++; }
#else
			{ std::lock(m, tm, sm); a++; b++; c++; m.unlock(); tm.unlock(); sm.unlock(); }
#endif
		} });
	for (auto &t : v) t.join();
	static_assert(sizeof(pvlock::mutex) == 4, "4 bytes");
	pvlock::tas_mutex local;
	if (!local.try_lock() || local.try_lock())
		return 2;
	local.unlock();
	if (a != 160000 || b != 160000 || c != 80000) {
		std::printf("counts %ld %ld %ld, expected 160000 160000 80000\n", a, b, c);
		return 1;
	}
	return 0;
}
