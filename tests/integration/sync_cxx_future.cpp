// blitz-timeout: 60
// C++ futures through libstdc++, which waits on a future's state with raw
// futex system calls (syscall(SYS_futex), not a pthread function):
// std::async(launch::async) x 16 with values, launch::deferred running in the
// caller at get(); std::promise set from another thread after 15 ms while the
// owner waits in get() (wait_for(1ms) times out first, never early), an
// exception through a promise, broken_promise, wait_until timeouts on
// steady_clock and system_clock; a shared_future waited on by 4 threads;
// std::packaged_task run by a std::thread; 500 sequential promise/future
// hand-offs between two threads.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

#include "check.h"

using namespace std::chrono;
using namespace std::chrono_literals;

static void asyncs()
{
    int before = failures;
    std::vector<std::future<long>> fs;
    for (long i = 0; i < 16; i++)
        fs.push_back(std::async(std::launch::async, [i] {
            std::this_thread::sleep_for(std::chrono::microseconds(100 * (i % 4)));
            return i * i;
        }));
    long sum = 0;
    for (auto &f : fs)
        sum += f.get();
    CHECK(sum == 1240, "16 async results sum to %ld, expected 1240", sum);

    auto caller = std::this_thread::get_id();
    std::thread::id ran_on;
    auto d = std::async(std::launch::deferred, [&] {
        ran_on = std::this_thread::get_id();
        return 7;
    });
    CHECK(d.wait_for(0s) == std::future_status::deferred, "deferred future not deferred");
    CHECK(d.get() == 7 && ran_on == caller, "deferred task did not run in the caller at get()");
    if (failures == before)
        std::printf("ok std::async: 16 async results, a deferred task runs in the caller\n");
}

static void promises()
{
    int before = failures;
    {
        std::promise<int> p;
        std::future<int> f = p.get_future();
        std::thread t([&] {
            std::this_thread::sleep_for(15ms);
            p.set_value(99);
        });
        auto t0 = steady_clock::now();
        auto st = f.wait_for(1ms);
        CHECK(st == std::future_status::timeout, "wait_for(1ms) did not time out");
        CHECK(steady_clock::now() - t0 >= 1ms, "wait_for(1ms) returned early");
        CHECK(f.get() == 99, "promise value");
        t.join();
    }
    {
        std::promise<int> p;
        std::future<int> f = p.get_future();
        std::thread t([&] {
            std::this_thread::sleep_for(5ms);
            try {
                throw std::runtime_error("through a promise");
            } catch (...) {
                p.set_exception(std::current_exception());
            }
        });
        bool caught = false;
        try {
            f.get();
        } catch (const std::runtime_error &e) {
            caught = std::string(e.what()) == "through a promise";
        }
        CHECK(caught, "exception through a promise not caught");
        t.join();
    }
    {
        std::future<int> f;
        {
            std::promise<int> p;
            f = p.get_future();
            std::thread t([pp = std::move(p)]() mutable {
                std::this_thread::sleep_for(5ms); /* destroyed unsatisfied */
            });
            t.join();
        }
        bool broken = false;
        try {
            f.get();
        } catch (const std::future_error &e) {
            broken = e.code() == std::future_errc::broken_promise;
        }
        CHECK(broken, "an abandoned promise did not give broken_promise");
    }
    {
        std::promise<void> p;
        std::future<void> f = p.get_future();
        auto dl = steady_clock::now() + 30ms;
        CHECK(f.wait_until(dl) == std::future_status::timeout && steady_clock::now() >= dl,
              "wait_until(steady_clock) did not time out at its deadline");
        auto sdl = system_clock::now() + 30ms;
        CHECK(f.wait_until(sdl) == std::future_status::timeout && system_clock::now() >= sdl,
              "wait_until(system_clock) did not time out at its deadline");
        p.set_value();
        CHECK(f.wait_for(0s) == std::future_status::ready, "ready future not ready");
    }
    if (failures == before)
        std::printf("ok std::promise/future: value after a wait, exception, broken_promise, timeouts never early\n");
}

static void shared_and_tasks()
{
    int before = failures;
    std::promise<long> p;
    std::shared_future<long> sf = p.get_future().share();
    std::atomic<long> sum{ 0 };
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; i++)
        ts.emplace_back([sf, &sum] { sum += sf.get(); });
    std::this_thread::sleep_for(10ms);
    p.set_value(25);
    for (auto &t : ts)
        t.join();
    CHECK(sum.load() == 100, "shared_future: sum %ld", sum.load());

    std::packaged_task<int(int)> task([](int x) { return x + 1; });
    std::future<int> f = task.get_future();
    std::thread t(std::move(task), 41);
    CHECK(f.get() == 42, "packaged_task result");
    t.join();
    if (failures == before)
        std::printf("ok shared_future waited on by 4 threads, packaged_task in a thread\n");
}

static void handoffs()
{
    int before = failures;
    const int N = 500;
    std::vector<std::promise<int>> to_b(N), to_a(N);
    std::thread b([&] {
        for (int i = 0; i < N; i++) {
            int v = to_b[i].get_future().get();
            to_a[i].set_value(v + 1);
        }
    });
    int v = 0;
    for (int i = 0; i < N; i++) {
        std::future<int> back = to_a[i].get_future();
        to_b[i].set_value(v);
        v = back.get() + 1;
    }
    b.join();
    CHECK(v == 2 * N, "promise hand-offs: %d, expected %d", v, 2 * N);
    if (failures == before)
        std::printf("ok %d promise/future round trips between two threads\n", N);
}

int main()
{
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    asyncs();
    promises();
    shared_and_tasks();
    handoffs();
    std::printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
