// blitz-skip-config: shim-tlsworker BLITZ_TLS=worker shares a worker's TLS between its tasks by design; this program needs per-thread TLS
// blitz-timeout: 60
// C++ thread_local objects are per thread, constructed lazily in each thread
// that touches them and destroyed at that thread's exit: 300 std::threads, all
// alive at once; 4 in 5 touch a thread_local object with a constructor and a
// destructor (counted: exactly one construction and one destruction per
// touching thread, none for the others, the destruction in the owning thread
// and before join returns), and all fill a thread_local std::string (longer
// than the small-string buffer, so on the heap) and std::vector with their
// identity, then check them, &object and the object's own fields after each of
// 1,000 yields/sleeps, growing and shrinking the string and vector on the way.
// A second generation checks that new threads start with fresh, empty objects.
// Breaks if tasks share their worker's TLS (one construction per worker, a
// string written by two threads) or keep the old worker's TLS after moving.
#include <pthread.h>
#include <sched.h>
#include <stdint.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "check.h"

namespace {

const int N = 300;
const int N2 = 100;
const int OPS = 1000;
const long MAGIC = 0x5eed1234abcdL;

std::atomic<int> constructed{ 0 }, destroyed{ 0 }, bad_dtor{ 0 };
std::atomic<int> dtor_of[N]; // destructions seen per first-generation thread
int go;

struct Tracked {
    long magic;
    Tracked *self;
    int owner = -1;
    pthread_t thread;
    std::vector<long> payload;
    Tracked() : magic(MAGIC), self(this), thread(pthread_self()), payload(8, MAGIC) { constructed++; }
    ~Tracked()
    {
        destroyed++;
        if (magic != MAGIC || self != this || !pthread_equal(thread, pthread_self()) || payload.size() != 8)
            bad_dtor++;
        if (owner >= 0 && owner < N)
            dtor_of[owner]++;
        magic = 0;
    }
};

} // namespace

// Block scope: constructed when a thread first calls tracked().  (Namespace-scope
// thread_locals of a translation unit are all constructed together, on the
// first use of any of them.)
static Tracked &tracked()
{
    thread_local Tracked obj;
    return obj;
}
thread_local std::string tl_str;
thread_local std::vector<int> tl_vec;
thread_local int tl_plain = 42;

__attribute__((noipa)) static Tracked *fresh_obj_addr() { return &tracked(); }
__attribute__((noipa)) static std::string *fresh_str_addr() { return &tl_str; }

static std::string name_of(int i) { return "thread-local string of thread number " + std::to_string(i); }

static bool vec_ok(const std::vector<int> &v, int i, size_t n)
{
    if (v.size() != n)
        return false;
    for (size_t k = 0; k < n; k++)
        if (v[k] != i * 100 + int(k))
            return false;
    return true;
}

static void first_gen(int i, std::atomic<int> &fresh_ok, std::atomic<int> &ops_ok)
{
    bool touch = i % 5 != 0;
    bool fresh = tl_str.empty() && tl_vec.empty() && tl_plain == 42;
    TCHECK(fresh, "thread %d: string '%.20s' (%zu), vector of %zu, plain %d at start", i, tl_str.c_str(), tl_str.size(),
           tl_vec.size(), tl_plain);
    Tracked *obj = nullptr;
    if (touch) {
        obj = &tracked(); // constructed here
        TCHECK(obj->owner == -1, "thread %d: its thread_local object already has owner %d", i, obj->owner);
        obj->owner = i;
    }
    std::string *str = &tl_str;
    const std::string name = name_of(i);
    *str = name;
    for (int k = 0; k < 10; k++)
        tl_vec.push_back(i * 100 + k);
    tl_plain = i;
    gate_wait(&go);

    unsigned seed = unsigned(i) * 2654435761u + 3u;
    size_t vlen = 10, slen = name.size();
    int bad = 0;
    for (int op = 0; op < OPS && bad < 3; op++) {
        pause_rand(&seed);
        bool ok = tl_plain == i && fresh_str_addr() == str && tl_str.size() == slen &&
                  tl_str.compare(0, name.size(), name) == 0 && vec_ok(tl_vec, i, vlen);
        if (touch)
            ok = ok && fresh_obj_addr() == obj && obj->owner == i && obj->magic == MAGIC && obj->self == obj;
        if (!ok) {
            bad++;
            TCHECK(false, "thread %d after %d yields/sleeps: plain %d, string '%.40s', vector of %zu (want %zu)", i,
                   op + 1, tl_plain, tl_str.c_str(), tl_vec.size(), vlen);
            continue;
        }
        switch (lcg_next(&seed) % 4) { // reallocate now and then
        case 0:
            if (vlen < 200)
                tl_vec.push_back(i * 100 + int(vlen++));
            break;
        case 1:
            if (vlen > 10)
                tl_vec.pop_back(), vlen--;
            break;
        case 2:
            if (slen < 400)
                tl_str += char('a' + i % 26), slen++;
            break;
        default:
            if (slen > name.size())
                tl_str.pop_back(), slen--;
            tl_str.shrink_to_fit();
        }
    }
    if (bad == 0)
        ops_ok++;
    if (fresh)
        fresh_ok++;
}

int main()
{
    std::atomic<int> fresh_ok{ 0 }, ops_ok{ 0 };
    tl_str = "main's string, long enough to live on the heap";
    tl_plain = -1;
    std::string *main_str = &tl_str;
    {
        std::vector<std::thread> ts;
        ts.reserve(N);
        for (int i = 0; i < N; i++)
            ts.emplace_back(first_gen, i, std::ref(fresh_ok), std::ref(ops_ok));
        gate_open(&go);
        for (auto &t : ts)
            t.join();
    }
    int touched = N - (N + 4) / 5;
    CHECK(fresh_ok == N, "%d of %d threads started with an empty string and vector", fresh_ok.load(), N);
    CHECK(ops_ok == N, "%d of %d threads kept their own thread_local objects", ops_ok.load(), N);
    if (fresh_ok == N && ops_ok == N)
        std::printf("ok %d threads started with fresh thread_local objects and kept their own across %d "
                    "yields/sleeps each\n",
                    N, OPS);
    int once = 0;
    for (int i = 0; i < N; i++)
        once += dtor_of[i] == (i % 5 != 0 ? 1 : 0);
    CHECK(constructed == touched && destroyed == touched && once == N && bad_dtor == 0,
          "%d constructions, %d destructions (want %d each), %d of %d threads with the right count, %d "
          "destructors saw a wrong object or thread",
          constructed.load(), destroyed.load(), touched, once, N, bad_dtor.load());
    if (constructed == touched && destroyed == touched && once == N && bad_dtor == 0)
        std::printf("ok %d constructions and destructions of a thread_local object, one per thread that touched "
                    "it, each in its thread before join returned\n",
                    touched);

    // second generation: fresh objects again, and their destructors run too
    constructed = destroyed = 0;
    fresh_ok = 0;
    std::vector<std::thread> ts;
    for (int i = 0; i < N2; i++)
        ts.emplace_back([i, &fresh_ok] {
            bool fresh = tl_str.empty() && tl_vec.empty() && tl_plain == 42 && tracked().owner == -1;
            tracked().owner = N + i;
            tl_str = name_of(N + i);
            tl_vec.assign(50, i);
            tl_plain = N + i;
            unsigned seed = unsigned(i);
            for (int k = 0; k < 20; k++)
                pause_rand(&seed);
            bool ok = tracked().owner == N + i && tl_str == name_of(N + i) && tl_vec.size() == 50 && tl_plain == N + i;
            TCHECK(fresh && ok, "second-generation thread %d: fresh %d, kept %d", i, fresh, ok);
            if (fresh && ok)
                fresh_ok++;
        });
    for (auto &t : ts)
        t.join();
    CHECK(fresh_ok == N2 && constructed == N2 && destroyed == N2,
          "second generation: %d of %d fresh, %d constructions, %d destructions", fresh_ok.load(), N2,
          constructed.load(), destroyed.load());
    if (fresh_ok == N2 && constructed == N2 && destroyed == N2)
        std::printf("ok %d later threads started with fresh thread_local objects, destroyed at their exit\n", N2);

    bool main_ok = &tl_str == main_str && tl_str == "main's string, long enough to live on the heap" &&
                   tl_plain == -1 && tl_vec.empty();
    CHECK(main_ok, "main's thread_local values changed: plain %d, string '%.40s'", tl_plain, tl_str.c_str());
    if (main_ok)
        std::printf("ok main's thread_local values intact\n");
    std::printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
