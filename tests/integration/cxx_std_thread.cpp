// blitz-linked
// C++ std::thread: 100 threads using std::this_thread::sleep_for /
// sleep_until (never early, checked with steady_clock) and yield, joined with
// std::thread::join; std::async(std::launch::async) futures (values and an
// exception); std::thread::id consistency; a thread that starts more threads.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono;

int main()
{
    int failures = 0;
    const int N = 100;
    std::vector<std::thread> threads;
    std::vector<long> results(N, -1);
    std::atomic<int> early{ 0 }, id_mismatch{ 0 };
    std::vector<std::thread::id> ids(N);
    for (int i = 0; i < N; i++) {
        threads.emplace_back([i, &results, &early, &ids, &id_mismatch] {
            ids[i] = std::this_thread::get_id();
            auto want = microseconds(500 + (i % 10) * 700);
            auto t0 = steady_clock::now();
            std::this_thread::sleep_for(want);
            if (steady_clock::now() - t0 < want)
                early++;
            std::this_thread::yield();
            auto until = steady_clock::now() + milliseconds(1 + i % 3);
            std::this_thread::sleep_until(until);
            if (steady_clock::now() < until)
                early++;
            if (ids[i] != std::this_thread::get_id())
                id_mismatch++;
            results[i] = long(i) * i;
        });
    }
    std::vector<std::thread::id> seen;
    for (auto &t : threads) {
        seen.push_back(t.get_id());
        t.join();
    }
    long sum = std::accumulate(results.begin(), results.end(), 0L);
    long expect = 0;
    for (long i = 0; i < N; i++)
        expect += i * i;
    int id_ok = 0;
    for (int i = 0; i < N; i++)
        id_ok += seen[i] == ids[i] && ids[i] != std::this_thread::get_id();
    if (sum == expect && early == 0 && id_ok == N && id_mismatch == 0)
        std::printf("ok %d std::threads slept (never early) and were joined\n", N);
    else {
        std::printf("FAIL: sum %ld/%ld, %d early wake-ups, %d/%d ids consistent, %d changed\n", sum, expect,
                    early.load(), id_ok, N, id_mismatch.load());
        failures++;
    }

    std::vector<std::future<long>> futs;
    for (int i = 0; i < 50; i++)
        futs.push_back(std::async(std::launch::async, [i] {
            std::this_thread::sleep_for(milliseconds(i % 5));
            return long(i) * 3;
        }));
    long fsum = 0;
    for (auto &f : futs)
        fsum += f.get();
    auto bad = std::async(std::launch::async, []() -> int {
        std::this_thread::sleep_for(milliseconds(2));
        throw std::runtime_error("from async");
    });
    bool got_exc = false;
    try {
        bad.get();
    } catch (const std::runtime_error &e) {
        got_exc = std::string(e.what()) == "from async";
    }
    if (fsum == 3L * 49 * 50 / 2 && got_exc)
        std::printf("ok 50 std::async futures (sum %ld) and an exception through a future\n", fsum);
    else {
        std::printf("FAIL: async sum %ld, exception %d\n", fsum, got_exc);
        failures++;
    }

    // a thread that creates threads, and a promise fulfilled by another thread
    std::atomic<int> grand{ 0 };
    std::thread parent([&grand] {
        std::vector<std::thread> kids;
        for (int i = 0; i < 10; i++)
            kids.emplace_back([&grand] {
                std::this_thread::sleep_for(milliseconds(1));
                grand++;
            });
        for (auto &k : kids)
            k.join();
    });
    parent.join();
    std::promise<int> prom;
    std::future<int> pf = prom.get_future();
    std::thread setter([&prom] {
        std::this_thread::sleep_for(milliseconds(20));
        prom.set_value(99);
    });
    setter.join(); // join first: the value is ready before get() (no blocking wait)
    int pv = pf.get();
    if (grand == 10 && pv == 99)
        std::printf("ok nested std::threads and a promise\n");
    else {
        std::printf("FAIL: grandchildren %d, promise %d\n", grand.load(), pv);
        failures++;
    }
    std::printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
