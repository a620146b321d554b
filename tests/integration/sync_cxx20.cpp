// blitz-timeout: 60
// blitz-cflags: -std=gnu++20
// C++20 synchronization through libstdc++ (GCC 12), which waits with raw futex
// system calls and spinning (std::__detail::__waiter_pool), not with pthread
// functions: std::latch (count_down by 8 threads, wait, try_wait,
// arrive_and_wait), std::barrier with a completion function (8 threads x 100
// phases: the completion runs once per phase, before anybody leaves it),
// std::counting_semaphore (a pool of 4 shared by 16 threads x 100
// acquisitions, try_acquire false when empty, try_acquire_for/_until time out
// never early), std::binary_semaphore ping-pong (2,000 round trips),
// std::atomic<int>::wait/notify_one/notify_all (8 waiters) and
// std::atomic_flag::wait, and std::jthread stopped while waiting in
// condition_variable_any::wait with its stop_token.
#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <latch>
#include <mutex>
#include <semaphore>
#include <stop_token>
#include <thread>
#include <vector>

#include "check.h"

using namespace std::chrono;
using namespace std::chrono_literals;

static void latches()
{
    int before = failures;
    std::latch done(8);
    std::atomic<int> ran{ 0 };
    std::vector<std::thread> ts;
    CHECK(!done.try_wait(), "latch(8): try_wait true at once");
    for (int i = 0; i < 8; i++)
        ts.emplace_back([&, i] {
            std::this_thread::sleep_for(std::chrono::microseconds(200 * i));
            ran++;
            done.count_down();
        });
    done.wait();
    CHECK(ran.load() == 8, "latch: wait returned after %d of 8 count_downs", ran.load());
    CHECK(done.try_wait(), "latch: try_wait false after reaching 0");
    for (auto &t : ts)
        t.join();
    ts.clear();

    std::latch meet(5);
    std::atomic<int> before_meet{ 0 }, bad{ 0 };
    for (int i = 0; i < 4; i++)
        ts.emplace_back([&] {
            before_meet++;
            meet.arrive_and_wait();
            if (before_meet.load() != 5)
                bad++;
        });
    std::this_thread::sleep_for(10ms);
    before_meet++;
    meet.arrive_and_wait();
    for (auto &t : ts)
        t.join();
    CHECK(bad.load() == 0, "latch: %d threads left arrive_and_wait early", bad.load());
    if (failures == before)
        std::printf("ok std::latch: wait, try_wait, arrive_and_wait\n");
}

static void barriers()
{
    int before = failures;
    const int N = 8, PHASES = 100;
    std::atomic<int> completions{ 0 };
    std::vector<int> arrived(N * PHASES, 0);
    std::atomic<int> bad{ 0 };
    std::barrier sync_point(N, [&]() noexcept { completions++; });
    std::vector<std::thread> ts;
    for (int i = 0; i < N; i++)
        ts.emplace_back([&, i] {
            unsigned seed = (unsigned)i * 5u + 1u;
            for (int p = 0; p < PHASES; p++) {
                if (lcg_next(&seed) % 4 == 0)
                    pause_rand(&seed);
                __atomic_store_n(&arrived[p * N + i], 1, __ATOMIC_RELEASE);
                sync_point.arrive_and_wait();
                if (completions.load() < p + 1)
                    bad++;
                for (int k = 0; k < N; k++)
                    if (!__atomic_load_n(&arrived[p * N + k], __ATOMIC_ACQUIRE))
                        bad++;
            }
        });
    for (auto &t : ts)
        t.join();
    CHECK(completions.load() == PHASES && bad.load() == 0, "barrier: %d completions for %d phases, %d early leaves",
          completions.load(), PHASES, bad.load());
    if (failures == before)
        std::printf("ok std::barrier: %d threads x %d phases, completion once per phase\n", N, PHASES);
}

static void semaphores()
{
    int before = failures;
    std::counting_semaphore<4> pool(4);
    std::atomic<int> inside{ 0 }, too_many{ 0 }, acquired{ 0 };
    std::vector<std::thread> ts;
    for (int i = 0; i < 16; i++)
        ts.emplace_back([&, i] {
            unsigned seed = (unsigned)i * 3u + 7u;
            for (int k = 0; k < 100; k++) {
                if (k % 3 == 2) {
                    if (!pool.try_acquire_for(10s)) {
                        TCHECK(0, "try_acquire_for(10s) failed");
                        continue;
                    }
                } else
                    pool.acquire();
                if (++inside > 4)
                    too_many++;
                acquired++;
                if (lcg_next(&seed) % 2 == 0)
                    pause_rand(&seed);
                --inside;
                pool.release();
            }
        });
    for (auto &t : ts)
        t.join();
    ts.clear();
    CHECK(acquired.load() == 1600 && too_many.load() == 0, "counting_semaphore: %d acquisitions, %d over the limit",
          acquired.load(), too_many.load());

    std::counting_semaphore<2> empty(0);
    CHECK(!empty.try_acquire(), "try_acquire on an empty semaphore succeeded");
    auto t0 = steady_clock::now();
    CHECK(!empty.try_acquire_for(30ms), "try_acquire_for on an empty semaphore succeeded");
    CHECK(steady_clock::now() - t0 >= 30ms, "try_acquire_for(30ms) returned early");
    auto dl = steady_clock::now() + 30ms;
    CHECK(!empty.try_acquire_until(dl) && steady_clock::now() >= dl, "try_acquire_until did not time out at its deadline");
    std::thread poster([&] {
        std::this_thread::sleep_for(10ms);
        empty.release(2);
    });
    CHECK(empty.try_acquire_for(10s), "try_acquire_for(10s) missed a release");
    empty.acquire();
    poster.join();

    std::binary_semaphore to_b(0), to_a(0);
    long ball = 0;
    std::thread b([&] {
        for (long i = 0; i < 2000; i++) {
            to_b.acquire();
            TCHECK(ball == 2 * i + 1, "binary_semaphore: b expected %ld, got %ld", 2 * i + 1, ball);
            ball++;
            to_a.release();
        }
    });
    for (long i = 0; i < 2000; i++) {
        ball++;
        to_b.release();
        to_a.acquire();
    }
    b.join();
    CHECK(ball == 4000, "binary_semaphore ping-pong: %ld", ball);
    if (failures == before)
        std::printf("ok std::counting_semaphore (pool of 4, 16 x 100; timeouts) and binary_semaphore ping-pong\n");
}

static void atomic_waits()
{
    int before = failures;
    std::atomic<int> gate{ 0 }, waiting{ 0 }, woken{ 0 };
    std::vector<std::thread> ts;
    for (int i = 0; i < 8; i++)
        ts.emplace_back([&] {
            waiting++;
            gate.wait(0);
            TCHECK(gate.load() != 0, "atomic wait returned with the old value");
            woken++;
        });
    for (int i = 0; i < 10000 && waiting.load() < 8; i++)
        std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(5ms);
    CHECK(woken.load() == 0, "atomic waiters woke before the store");
    gate = 1;
    gate.notify_all();
    for (auto &t : ts)
        t.join();
    ts.clear();
    CHECK(woken.load() == 8, "notify_all woke %d of 8", woken.load());

    /* notify_one, one waiter at a time: a counter handed back and forth */
    std::atomic<int> turn{ 0 };
    std::thread other([&] {
        for (int i = 0; i < 500; i++) {
            turn.wait(2 * i); /* until it is odd */
            TCHECK(turn.load() == 2 * i + 1, "atomic turn: %d, expected %d", turn.load(), 2 * i + 1);
            turn.store(2 * i + 2);
            turn.notify_one();
        }
    });
    for (int i = 0; i < 500; i++) {
        turn.store(2 * i + 1);
        turn.notify_one();
        while (turn.load() == 2 * i + 1)
            turn.wait(2 * i + 1);
    }
    other.join();
    CHECK(turn.load() == 1000, "atomic turn at the end: %d", turn.load());

    std::atomic_flag flag; /* C++20: clear */
    std::thread setter([&] {
        std::this_thread::sleep_for(10ms);
        flag.test_and_set();
        flag.notify_one();
    });
    flag.wait(false);
    CHECK(flag.test(), "atomic_flag::wait returned while clear");
    setter.join();
    if (failures == before)
        std::printf("ok std::atomic wait/notify_one/notify_all and atomic_flag::wait\n");
}

static void jthreads()
{
    int before = failures;
    std::mutex m;
    std::condition_variable_any cv;
    std::atomic<bool> waiting{ false }, stopped_ok{ false };
    {
        std::jthread t([&](std::stop_token st) {
            std::unique_lock<std::mutex> l(m);
            waiting = true;
            bool pred = cv.wait(l, st, [] { return false; }); /* ends by the stop request */
            stopped_ok = !pred && st.stop_requested() && l.owns_lock();
        });
        for (int i = 0; i < 10000 && !waiting.load(); i++)
            std::this_thread::sleep_for(1ms);
        std::this_thread::sleep_for(5ms);
    } /* ~jthread: request_stop, join */
    CHECK(stopped_ok.load(), "jthread: the stop request did not end condition_variable_any::wait properly");
    if (failures == before)
        std::printf("ok std::jthread stopped while waiting in condition_variable_any::wait(stop_token)\n");
}

int main()
{
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    latches();
    barriers();
    semaphores();
    atomic_waits();
    jthreads();
    std::printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
