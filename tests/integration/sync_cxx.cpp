// blitz-timeout: 60
// C++17 synchronization through libstdc++ (which calls the pthread functions):
// std::mutex (8 threads x 1,000 increments, try_lock from another thread),
// recursive_mutex (counting), timed_mutex and recursive_timed_mutex
// (try_lock_for / try_lock_until on steady_clock and system_clock: false, never
// early; a waiter that gets it when the holder unlocks), shared_mutex (4 shared
// holders at once, exclusive excludes, try_lock/try_lock_shared, 8 threads x 300
// mixed operations checked with counters), shared_timed_mutex timeouts,
// condition_variable (wait with a predicate, wait_for/wait_until timeouts never
// early, wait_for with a predicate answering false, notify_all waking 8
// waiters, notify_one handing out tokens), condition_variable_any (with
// unique_lock<mutex>, unique_lock<shared_mutex> and shared_lock<shared_mutex>),
// std::call_once (8 threads, once; an exception leaves the flag unset),
// std::scoped_lock over 3 mutexes taken in different orders by 6 threads.
// Futures (libstdc++ waits on them with raw futex system calls) are in
// sync_cxx_future.cpp, the C++20 primitives in sync_cxx20.cpp.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "check.h"

using namespace std::chrono;
using namespace std::chrono_literals;

static void wait_until_true(const std::atomic<bool> &flag)
{
    for (int i = 0; i < 10000 && !flag.load(); i++)
        std::this_thread::sleep_for(1ms);
}

template <class F> static auto in_thread(F f) -> decltype(f())
{
    decltype(f()) r{};
    std::thread t([&] { r = f(); });
    t.join();
    return r;
}

/* --- mutex, recursive_mutex --------------------------------------------------------------------- */

static void mutexes()
{
    int before = failures;
    std::mutex m;
    long counter = 0;
    std::vector<std::thread> ts;
    for (int i = 0; i < 8; i++)
        ts.emplace_back([&, i] {
            unsigned seed = (unsigned)i * 13u + 1u;
            for (int k = 0; k < 1000; k++) {
                std::lock_guard<std::mutex> g(m);
                long v = counter;
                if (lcg_next(&seed) % 8 == 0)
                    pause_rand(&seed);
                counter = v + 1;
            }
        });
    for (auto &t : ts)
        t.join();
    CHECK(counter == 8000, "std::mutex: counter %ld", counter);
    m.lock();
    CHECK(!in_thread([&] {
        bool got = m.try_lock();
        if (got)
            m.unlock();
        return got;
    }),
          "std::mutex: try_lock from another thread succeeded while held");
    m.unlock();
    CHECK(in_thread([&] {
        bool got = m.try_lock();
        if (got)
            m.unlock();
        return got;
    }),
          "std::mutex: try_lock of a free mutex failed");

    std::recursive_mutex rm;
    rm.lock();
    CHECK(rm.try_lock(), "recursive_mutex: try_lock by the owner failed");
    rm.lock();
    for (int i = 0; i < 3; i++) {
        CHECK(!in_thread([&] {
            bool got = rm.try_lock();
            if (got)
                rm.unlock();
            return got;
        }),
              "recursive_mutex: another thread got it at depth %d", 3 - i);
        rm.unlock();
    }
    CHECK(in_thread([&] {
        bool got = rm.try_lock();
        if (got)
            rm.unlock();
        return got;
    }),
          "recursive_mutex: not free after 3 unlocks");
    if (failures == before)
        std::printf("ok std::mutex (8 x 1000 increments, try_lock) and std::recursive_mutex\n");
}

/* --- timed mutexes --------------------------------------------------------------------------- */

template <class M> static void timed(const char *name)
{
    int before = failures;
    M m;
    m.lock();
    CHECK(!in_thread([&] {
        auto t0 = steady_clock::now();
        bool got = m.try_lock_for(30ms);
        bool early = steady_clock::now() - t0 < 30ms;
        if (got)
            m.unlock();
        return got || early;
    }),
          "%s: try_lock_for(30ms) got it or returned early", name);
    CHECK(!in_thread([&] {
        auto dl = steady_clock::now() + 30ms;
        bool got = m.try_lock_until(dl);
        bool early = steady_clock::now() < dl;
        if (got)
            m.unlock();
        return got || early;
    }),
          "%s: try_lock_until(steady_clock + 30ms) got it or returned early", name);
    CHECK(!in_thread([&] {
        auto dl = system_clock::now() + 30ms;
        bool got = m.try_lock_until(dl);
        bool early = system_clock::now() < dl;
        if (got)
            m.unlock();
        return got || early;
    }),
          "%s: try_lock_until(system_clock + 30ms) got it or returned early", name);
    CHECK(!in_thread([&] {
        bool got = m.try_lock_until(steady_clock::now() - 1s);
        if (got)
            m.unlock();
        return got;
    }),
          "%s: try_lock_until(past) got it", name);
    /* a waiter that gets it when main unlocks */
    std::atomic<bool> arrived{ false }, got{ false };
    std::thread w([&] {
        arrived = true;
        if (m.try_lock_for(10s)) {
            got = true;
            m.unlock();
        }
    });
    wait_until_true(arrived);
    std::this_thread::sleep_for(15ms);
    CHECK(!got.load(), "%s: the waiter got it while main held it", name);
    m.unlock();
    w.join();
    CHECK(got.load(), "%s: the waiter did not get it after the unlock", name);
    CHECK(m.try_lock_for(1ms), "%s: not free at the end", name);
    m.unlock();
    if (failures == before)
        std::printf("ok %s: try_lock_for/try_lock_until time out, never early; a waiter gets it\n", name);
}

/* --- shared_mutex ---------------------------------------------------------------------------- */

static void shared()
{
    int before = failures;
    std::shared_mutex sm;
    std::atomic<int> inside{ 0 }, max_inside{ 0 };
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; i++)
        ts.emplace_back([&] {
            std::shared_lock<std::shared_mutex> l(sm);
            int n = ++inside;
            for (int k = 0; k < 10000 && inside.load() < 4; k++)
                std::this_thread::sleep_for(1ms);
            n = inside.load();
            int mx = max_inside.load();
            while (n > mx && !max_inside.compare_exchange_weak(mx, n))
                ;
            std::this_thread::sleep_for(5ms);
            --inside;
        });
    for (auto &t : ts)
        t.join();
    ts.clear();
    CHECK(max_inside.load() == 4, "shared_mutex: at most %d shared holders at once", max_inside.load());

    sm.lock();
    CHECK(!in_thread([&] {
        bool a = sm.try_lock_shared();
        if (a)
            sm.unlock_shared();
        bool b = sm.try_lock();
        if (b)
            sm.unlock();
        return a || b;
    }),
          "shared_mutex: another thread got it while held exclusively");
    sm.unlock();
    sm.lock_shared();
    CHECK(in_thread([&] {
        bool a = sm.try_lock_shared();
        if (a)
            sm.unlock_shared();
        bool b = sm.try_lock();
        if (b)
            sm.unlock();
        return a && !b;
    }),
          "shared_mutex held shared: try_lock_shared must work, try_lock must not");
    sm.unlock_shared();

    /* mixed stress */
    long record[8] = { 0 };
    std::atomic<int> readers{ 0 }, writers{ 0 };
    long writes = 0;
    for (int i = 0; i < 8; i++)
        ts.emplace_back([&, i] {
            unsigned seed = (unsigned)i * 71u + 3u;
            for (int k = 0; k < 300; k++) {
                if (lcg_next(&seed) % 4 == 0) {
                    std::unique_lock<std::shared_mutex> l(sm);
                    TCHECK(++writers == 1 && readers.load() == 0, "shared_mutex: writer not alone");
                    long v = record[0];
                    for (int j = 0; j < 8; j++) {
                        record[j] = v + 1;
                        if (j == 3 && lcg_next(&seed) % 4 == 0)
                            pause_rand(&seed);
                    }
                    writes++;
                    --writers;
                } else {
                    std::shared_lock<std::shared_mutex> l(sm);
                    ++readers;
                    TCHECK(writers.load() == 0, "shared_mutex: reader with a writer inside");
                    long v = __atomic_load_n(&record[0], __ATOMIC_RELAXED);
                    if (lcg_next(&seed) % 4 == 0)
                        pause_rand(&seed);
                    for (int j = 1; j < 8; j++)
                        TCHECK(__atomic_load_n(&record[j], __ATOMIC_RELAXED) == v, "shared_mutex: torn record");
                    --readers;
                }
                if (lcg_next(&seed) % 2 == 0)
                    pause_rand(&seed);
            }
        });
    for (auto &t : ts)
        t.join();
    CHECK(record[0] == writes && record[7] == writes, "shared_mutex stress: record %ld after %ld writes", record[0],
          writes);

    std::shared_timed_mutex stm;
    stm.lock();
    CHECK(!in_thread([&] {
        auto t0 = steady_clock::now();
        bool a = stm.try_lock_shared_for(30ms);
        if (a)
            stm.unlock_shared();
        bool b = stm.try_lock_for(30ms);
        if (b)
            stm.unlock();
        return a || b || steady_clock::now() - t0 < 60ms;
    }),
          "shared_timed_mutex: a timed lock got it or returned early");
    stm.unlock();
    stm.lock_shared();
    CHECK(in_thread([&] {
        bool a = stm.try_lock_shared_until(steady_clock::now() + 10s);
        if (a)
            stm.unlock_shared();
        auto dl = system_clock::now() + 30ms;
        bool b = stm.try_lock_until(dl);
        if (b)
            stm.unlock();
        return a && !b && system_clock::now() >= dl;
    }),
          "shared_timed_mutex held shared: timed shared lock must work, timed exclusive must time out");
    stm.unlock_shared();
    if (failures == before)
        std::printf("ok std::shared_mutex (4 shared at once, exclusive excludes, 8 x 300 mixed) and "
                    "std::shared_timed_mutex timeouts\n");
}

/* --- condition_variable ---------------------------------------------------------------------- */

static void condvars()
{
    int before = failures;
    std::mutex m;
    std::condition_variable cv;
    int value = 0;

    /* wait with a predicate */
    std::thread producer([&] {
        std::this_thread::sleep_for(10ms);
        std::lock_guard<std::mutex> g(m);
        value = 42;
        cv.notify_one();
    });
    {
        std::unique_lock<std::mutex> l(m);
        cv.wait(l, [&] { return value == 42; });
        CHECK(l.owns_lock() && value == 42, "wait(pred): owns %d, value %d", (int)l.owns_lock(), value);
    }
    producer.join();

    /* timeouts */
    {
        std::unique_lock<std::mutex> l(m);
        auto t0 = steady_clock::now();
        if (cv.wait_for(l, 30ms) == std::cv_status::timeout) /* (else a spurious wake-up) */
            CHECK(steady_clock::now() - t0 >= 30ms, "wait_for(30ms) timed out early");
        t0 = steady_clock::now();
        CHECK(!cv.wait_for(l, 30ms, [] { return false; }), "wait_for with a false predicate answered true");
        CHECK(steady_clock::now() - t0 >= 30ms, "wait_for(30ms, pred) returned early");
        auto dl = steady_clock::now() + 30ms;
        while (cv.wait_until(l, dl) != std::cv_status::timeout) /* spurious wake-ups: wait again */
            if (steady_clock::now() >= dl + 5s)
                break;
        CHECK(steady_clock::now() >= dl, "wait_until(steady_clock) timed out early");
        auto sdl = system_clock::now() + 30ms;
        CHECK(!cv.wait_until(l, sdl, [] { return false; }), "wait_until(system_clock, pred) answered true");
        CHECK(system_clock::now() >= sdl, "wait_until(system_clock) timed out early");
        CHECK(l.owns_lock(), "the lock was not held after the timeouts");
        CHECK(!in_thread([&] {
            bool got = m.try_lock();
            if (got)
                m.unlock();
            return got;
        }),
              "the mutex was free after the timeouts");
    }

    /* notify_all wakes 8 waiters */
    int gen = 0, arrived = 0, woken = 0;
    std::vector<std::thread> ts;
    for (int i = 0; i < 8; i++)
        ts.emplace_back([&, i] {
            std::unique_lock<std::mutex> l(m);
            int my = gen;
            arrived++;
            if (i % 2)
                cv.wait(l, [&] { return gen != my; });
            else
                TCHECK(cv.wait_for(l, 10s, [&] { return gen != my; }), "notify_all: wait_for timed out");
            woken++;
        });
    for (int i = 0; i < 10000; i++) {
        {
            std::lock_guard<std::mutex> g(m);
            if (arrived == 8)
                break;
        }
        std::this_thread::sleep_for(1ms);
    }
    {
        std::lock_guard<std::mutex> g(m);
        CHECK(arrived == 8 && woken == 0, "notify_all: %d waiting, %d woken before", arrived, woken);
        gen++;
    }
    cv.notify_all();
    for (auto &t : ts)
        t.join();
    ts.clear();
    CHECK(woken == 8, "notify_all woke %d of 8", woken);

    /* notify_one hands out tokens */
    int tokens = 0, taken = 0;
    for (int i = 0; i < 6; i++)
        ts.emplace_back([&] {
            std::unique_lock<std::mutex> l(m);
            cv.wait(l, [&] { return tokens > 0; });
            tokens--;
            taken++;
        });
    for (int i = 0; i < 6; i++) {
        {
            std::lock_guard<std::mutex> g(m);
            tokens++;
        }
        cv.notify_one();
        if (i % 2)
            std::this_thread::sleep_for(2ms);
    }
    for (auto &t : ts)
        t.join();
    CHECK(taken == 6 && tokens == 0, "notify_one: %d taken, %d left", taken, tokens);
    if (failures == before)
        std::printf("ok std::condition_variable: wait(pred), wait_for/wait_until timeouts never early, notify_all "
                    "wakes 8, notify_one tokens\n");
}

template <class Lock, class Mutex> static void cv_any(const char *name, Mutex &mx)
{
    int before = failures;
    std::condition_variable_any cv;
    int gen = 0, arrived = 0, woken = 0;
    std::mutex count_m; /* arrived/woken: shared locks do not exclude each other */
    std::vector<std::thread> ts;
    for (int i = 0; i < 6; i++)
        ts.emplace_back([&, i] {
            Lock l(mx);
            int my = __atomic_load_n(&gen, __ATOMIC_ACQUIRE);
            {
                std::lock_guard<std::mutex> g(count_m);
                arrived++;
            }
            if (i % 2)
                cv.wait(l, [&] { return __atomic_load_n(&gen, __ATOMIC_ACQUIRE) != my; });
            else
                TCHECK(cv.wait_for(l, 10s, [&] { return __atomic_load_n(&gen, __ATOMIC_ACQUIRE) != my; }),
                       "condition_variable_any: wait_for timed out");
            TCHECK(l.owns_lock(), "condition_variable_any: lock not owned after the wait");
            std::lock_guard<std::mutex> g(count_m);
            woken++;
        });
    for (int i = 0; i < 10000; i++) {
        {
            std::lock_guard<std::mutex> g(count_m);
            if (arrived == 6)
                break;
        }
        std::this_thread::sleep_for(1ms);
    }
    {
        std::unique_lock<Mutex> l(mx); /* exclusive: every waiter is inside its wait */
        __atomic_store_n(&gen, 1, __ATOMIC_RELEASE);
    }
    cv.notify_all();
    for (auto &t : ts)
        t.join();
    CHECK(woken == 6, "%s: notify_all woke %d of 6", name, woken);
    {
        Lock l(mx);
        auto t0 = steady_clock::now();
        CHECK(!cv.wait_for(l, 30ms, [] { return false; }), "%s: wait_for answered true", name);
        CHECK(steady_clock::now() - t0 >= 30ms, "%s: wait_for returned early", name);
    }
    if (failures == before)
        std::printf("ok std::condition_variable_any with %s: notify_all wakes 6, wait_for times out\n", name);
}

/* --- call_once ------------------------------------------------------------------------------ */

static void once()
{
    int before = failures;
    std::once_flag flag;
    std::atomic<int> calls{ 0 }, finished{ 0 }, saw{ 0 };
    std::vector<std::thread> ts;
    for (int i = 0; i < 8; i++)
        ts.emplace_back([&] {
            std::call_once(flag, [&] {
                calls++;
                std::this_thread::sleep_for(10ms);
                finished = 1;
            });
            saw += finished.load();
        });
    for (auto &t : ts)
        t.join();
    CHECK(calls.load() == 1 && saw.load() == 8, "call_once: %d calls, %d saw it finished", calls.load(), saw.load());

    std::once_flag f2;
    int runs = 0, caught = 0;
    for (int i = 0; i < 3; i++) {
        try {
            std::call_once(f2, [&] {
                if (++runs == 1)
                    throw std::runtime_error("first");
            });
        } catch (const std::runtime_error &) {
            caught++;
        }
    }
    CHECK(runs == 2 && caught == 1, "call_once with an exception: %d runs, %d caught", runs, caught);
    if (failures == before)
        std::printf("ok std::call_once: once for 8 threads; an exception leaves the flag unset\n");
}

/* --- scoped_lock over several mutexes --------------------------------------------------------- */

static void scoped()
{
    int before = failures;
    std::mutex a, b, c;
    long n = 0;
    std::vector<std::thread> ts;
    for (int i = 0; i < 6; i++)
        ts.emplace_back([&, i] {
            unsigned seed = (unsigned)i + 5u;
            for (int k = 0; k < 300; k++) {
                switch ((i + k) % 3) { /* different orders: std::lock avoids the deadlock */
                case 0: {
                    std::scoped_lock l(a, b, c);
                    long v = n;
                    if (lcg_next(&seed) % 8 == 0)
                        pause_rand(&seed);
                    n = v + 1;
                    break;
                }
                case 1: {
                    std::scoped_lock l(c, a, b);
                    n++;
                    break;
                }
                default: {
                    std::unique_lock<std::mutex> lb(b, std::defer_lock), lc(c, std::defer_lock),
                        la(a, std::defer_lock);
                    std::lock(lb, lc, la);
                    long v = n;
                    if (lcg_next(&seed) % 8 == 0)
                        pause_rand(&seed);
                    n = v + 1;
                }
                }
            }
        });
    for (auto &t : ts)
        t.join();
    CHECK(n == 1800, "scoped_lock: counter %ld", n);
    if (failures == before)
        std::printf("ok std::scoped_lock / std::lock over 3 mutexes in different orders\n");
}

int main()
{
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    mutexes();
    timed<std::timed_mutex>("std::timed_mutex");
    timed<std::recursive_timed_mutex>("std::recursive_timed_mutex");
    shared();
    condvars();
    std::mutex pm;
    cv_any<std::unique_lock<std::mutex>>("unique_lock<mutex>", pm);
    std::shared_mutex sm;
    cv_any<std::unique_lock<std::shared_mutex>>("unique_lock<shared_mutex>", sm);
    cv_any<std::shared_lock<std::shared_mutex>>("shared_lock<shared_mutex>", sm);
    once();
    scoped();
    std::printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
