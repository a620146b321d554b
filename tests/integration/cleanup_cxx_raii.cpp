// C++: pthread_exit and pthread_cancel unwind the stack and run destructors of
// stack objects (RAII) innermost first; catch (abi::__forced_unwind&) sees the
// unwind and rethrows it; catch (...) that rethrows is fine too; C++
// pthread_cleanup_push (a class) interleaves with destructors in scope order;
// ordinary exceptions still work inside threads.
#include <cxxabi.h>
#include <pthread.h>
#include <time.h>

#include <atomic>
#include <cstdio>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace {

struct Log {
    std::string text;
    std::atomic<int> ready{ 0 };
    void add(const std::string &s) { text += s + " "; }
};

struct Guard {
    Log &log;
    std::string name;
    Guard(Log &l, std::string n) : log(l), name(std::move(n)) { log.add("+" + name); }
    ~Guard() { log.add("~" + name); }
};

void nap_ms(long ms)
{
    timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, nullptr);
}

void c_handler(void *arg) { static_cast<Log *>(arg)->add("h"); }

__attribute__((noinline)) void deeper(Log &log, int n)
{
    Guard g(log, "d" + std::to_string(n));
    if (n > 0)
        deeper(log, n - 1);
    else if (n == 0)
        pthread_exit(reinterpret_cast<void *>(uintptr_t{ 11 }));
}

void *t_exit(void *arg)
{
    Log &log = *static_cast<Log *>(arg);
    Guard a(log, "a");
    {
        Guard b(log, "b");
        try {
            Guard c(log, "c");
            deeper(log, 2);
        } catch (abi::__forced_unwind &) {
            log.add("caught-forced");
            throw;
        }
    }
    log.add("NOT-REACHED");
    return nullptr;
}

void *t_cancel(void *arg)
{
    Log &log = *static_cast<Log *>(arg);
    Guard a(log, "a");
    try {
        Guard b(log, "b");
        try {
            Guard c(log, "c");
            log.ready = 1;
            for (;;)
                nap_ms(1000); // cancellation point
        } catch (...) {
            log.add("caught-all");
            throw;
        }
    } catch (abi::__forced_unwind &) {
        log.add("caught-forced");
        throw;
    }
    return nullptr;
}

void *t_cancel_testcancel(void *arg)
{
    Log &log = *static_cast<Log *>(arg);
    Guard a(log, "a");
    pthread_cleanup_push(c_handler, &log);
    Guard b(log, "b");
    log.ready = 1;
    for (unsigned i = 0;; i++) {
        pthread_testcancel();
        if (i % 64 == 0)
            sched_yield();
    }
    pthread_cleanup_pop(0);
    return nullptr;
}

void *t_exceptions(void *arg)
{
    Log &log = *static_cast<Log *>(arg);
    int caught = 0;
    for (int i = 0; i < 100; i++) {
        try {
            Guard g(log, "x");
            if (i % 10 == 0)
                nap_ms(1);
            throw std::runtime_error("boom");
        } catch (const std::runtime_error &e) {
            caught += std::string(e.what()) == "boom";
        }
    }
    log.text.clear();
    log.add("caught=" + std::to_string(caught));
    return reinterpret_cast<void *>(uintptr_t{ 12 });
}

int failures = 0;

void run(const char *name, void *(*fn)(void *), bool cancel, void *want_ret, const std::string &want)
{
    Log log;
    pthread_t t;
    if (pthread_create(&t, nullptr, fn, &log) != 0) {
        std::printf("FAIL: %s: pthread_create\n", name);
        failures++;
        return;
    }
    if (cancel) {
        while (!log.ready)
            nap_ms(1);
        nap_ms(5);
        pthread_cancel(t);
    }
    void *ret = nullptr;
    pthread_join(t, &ret);
    if (ret == want_ret && log.text == want) {
        std::printf("ok %s: %s\n", name, log.text.c_str());
    } else {
        std::printf("FAIL: %s: [%s] expected [%s]; %s\n", name, log.text.c_str(), want.c_str(),
                    ret == want_ret ? "right value" : ret == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "wrong value");
        failures++;
    }
}

} // namespace

int main()
{
    run("pthread_exit", t_exit, false, reinterpret_cast<void *>(uintptr_t{ 11 }),
        "+a +b +c +d2 +d1 +d0 ~d0 ~d1 ~d2 ~c caught-forced ~b ~a ");
    run("cancel in nanosleep", t_cancel, true, PTHREAD_CANCELED, "+a +b +c ~c caught-all ~b caught-forced ~a ");
    run("cancel in testcancel with cleanup_push", t_cancel_testcancel, true, PTHREAD_CANCELED, "+a +b ~b h ~a ");
    run("ordinary exceptions", t_exceptions, false, reinterpret_cast<void *>(uintptr_t{ 12 }), "caught=100 ");
    std::printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
