// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS
// blitz-timeout: 60
// Order of the per-thread destructors at thread exit, as glibc runs them: first
// the C++ thread_local destructors (registered through __cxa_thread_atexit_impl,
// run in reverse order of construction), then the pthread key destructors; a
// key set by a thread_local destructor is therefore still destroyed.  100
// threads, a third of them leaving with pthread_exit (so through the unwinder),
// each construct thread_locals A then B, set key K1, and yield/sleep; A's
// destructor sets key K2.  Each destructor appends its letter to the thread's
// log and checks it runs in that thread, exactly once; after the joins the
// logs are summarized by order (natively "BAKk" for every thread).  main's own
// thread_local is destroyed by exit(), whose destructor prints the last line.
// Breaks if tasks share their worker's list of thread_local destructors (run
// for the wrong thread, at the wrong time or never), or if the shim runs key
// destructors before the thread_local ones.
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "check.h"

namespace {

const int N = 100;

struct Log {
    char seq[16];
    std::atomic<int> n;
    pthread_t self;
    std::atomic<int> wrong_thread;
};
Log logs[N];
pthread_key_t k1, k2;

void note(int i, char c)
{
    if (i < 0 || i >= N)
        return;
    int n = logs[i].n++;
    if (n < 15)
        logs[i].seq[n] = c;
    if (!pthread_equal(logs[i].self, pthread_self()))
        logs[i].wrong_thread++;
}

struct Noted {
    char tag;
    int owner = -1;
    explicit Noted(char t) : tag(t) {}
    ~Noted()
    {
        note(owner, tag);
        if (tag == 'A' && owner >= 0) // a key set this late is still destroyed
            pthread_setspecific(k2, &logs[owner]);
    }
};

void key1_dtor(void *v) { note(int(static_cast<Log *>(v) - logs), 'K'); }
void key2_dtor(void *v) { note(int(static_cast<Log *>(v) - logs), 'k'); }

Noted &tl_a()
{
    thread_local Noted a('A');
    return a;
}

Noted &tl_b()
{
    thread_local Noted b('B');
    return b;
}

struct MainOnly {
    bool used = false;
    ~MainOnly()
    {
        if (used)
            std::printf("ok main's thread_local destroyed by exit()\n");
    }
};
thread_local MainOnly tl_main;

int go;

void *body(void *arg)
{
    int i = int(intptr_t(arg));
    logs[i].self = pthread_self();
    tl_a().owner = i; // constructed first, destroyed last
    tl_b().owner = i;
    pthread_setspecific(k1, &logs[i]);
    gate_wait(&go);
    unsigned seed = unsigned(i) * 7919u + 1u;
    for (int op = 0; op < 200; op++)
        pause_rand(&seed);
    TCHECK(logs[i].n == 0, "thread %d: a destructor ran before the thread exited", i);
    if (i % 3 == 0)
        pthread_exit(nullptr);
    return nullptr;
}

} // namespace

int main()
{
    static pthread_t t[N];
    if (pthread_key_create(&k1, key1_dtor) != 0 || pthread_key_create(&k2, key2_dtor) != 0) {
        std::printf("FAIL: pthread_key_create\n");
        return 1;
    }
    tl_main.used = true;
    for (int i = 0; i < N; i++)
        if (pthread_create(&t[i], nullptr, body, reinterpret_cast<void *>(intptr_t(i))) != 0) {
            std::printf("FAIL: pthread_create #%d\n", i);
            return 1;
        }
    gate_open(&go);
    for (int i = 0; i < N; i++)
        pthread_join(t[i], nullptr);

    // by order: how many threads (returned / pthread_exit)
    std::map<std::string, std::pair<int, int>> orders;
    int wrong = 0, once = 0;
    for (int i = 0; i < N; i++) {
        std::string seq(logs[i].seq, size_t(std::min(logs[i].n.load(), 15)));
        std::string sorted = seq;
        std::sort(sorted.begin(), sorted.end());
        once += sorted == "ABKk"; // each destructor exactly once
        auto &o = orders[seq.empty() ? "(none)" : seq];
        (i % 3 == 0 ? o.second : o.first)++;
        wrong += logs[i].wrong_thread;
    }
    for (auto &o : orders)
        std::printf("order %s: %d threads (%d returned, %d pthread_exit)\n", o.first.c_str(),
                    o.second.first + o.second.second, o.second.first, o.second.second);
    CHECK(once == N, "%d of %d threads ran each of their 4 destructors exactly once", once, N);
    CHECK(wrong == 0, "%d destructors ran in another thread", wrong);
    CHECK(orders.size() == 1, "the threads saw %zu different destructor orders", orders.size());
    if (once == N && wrong == 0 && orders.size() == 1)
        std::printf("ok %d threads ran each destructor once, in the same order, each in its own thread\n", N);
    std::printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0; // exit() destroys main's thread_local
}
