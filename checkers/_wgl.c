/* The WGL linearizability search, compiled. Same algorithm as the pure-Python path in
 * checkers/linearizable.py (which documents it); verdicts must be identical.
 *
 * The core is generic over models: states are small integers interned on the Python side,
 * and the model's step is a Python callback step(state_id, op_id) -> next_state_id, or -1
 * when the op is illegal in that state. Results are cached in a hash table, so each
 * (state, op) pair costs one Python call however often the search revisits it.
 *
 * step may also return -2: stop with the memory-limit status (the caller's own states
 * grew past its share of the limit).
 *
 * search(n_ops, events, step, init_state, observer, twin_prev, deadline, memory_limit
 *        [, native, stop_at])
 *   events: list of (kind, op_id) in history order, kind 0 = call, 1 = return; an op whose
 *   outcome is unknown has a call and no return (it may take effect later, or never), and
 *   the search succeeds as soon as every op with a return is linearized
 *   native: None, or a native model's program: ("kv", initial, table) (see the native kv
 *   model below) or ("register", initial_id, table) (see the native register below)
 *   stop_at: None, or a buffer of one double: a second deadline (see search below)
 *   returns (status, iterations, best_prefix) with status
 *     1 linearizable, 0 not, -1 deadline (or stop_at) passed, -2 memory limit reached
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_monotonic(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- step cache */
typedef struct { int64_t *keys; int32_t *vals; size_t cap, count; } StepCache;

static int step_cache_init(StepCache *c, size_t cap) {
    c->cap = cap; c->count = 0;
    c->keys = malloc(cap * sizeof(int64_t));
    c->vals = malloc(cap * sizeof(int32_t));
    if (!c->keys || !c->vals) return -1;
    memset(c->keys, 0xff, cap * sizeof(int64_t));   /* -1 = empty */
    return 0;
}

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33; return x;
}

static int step_cache_put(StepCache *c, int64_t key, int32_t val);

static int step_cache_grow(StepCache *c) {
    StepCache bigger;
    if (step_cache_init(&bigger, c->cap * 2) < 0) return -1;
    for (size_t i = 0; i < c->cap; i++)
        if (c->keys[i] != -1) step_cache_put(&bigger, c->keys[i], c->vals[i]);
    free(c->keys); free(c->vals);
    *c = bigger;
    return 0;
}

static int step_cache_put(StepCache *c, int64_t key, int32_t val) {
    if ((c->count + 1) * 2 > c->cap && step_cache_grow(c) < 0) return -1;
    size_t mask = c->cap - 1, i = mix64((uint64_t)key) & mask;
    while (c->keys[i] != -1 && c->keys[i] != key) i = (i + 1) & mask;
    if (c->keys[i] == -1) c->count++;
    c->keys[i] = key; c->vals[i] = val;
    return 0;
}

static inline int step_cache_get(StepCache *c, int64_t key, int32_t *val) {
    size_t mask = c->cap - 1, i = mix64((uint64_t)key) & mask;
    while (c->keys[i] != -1) {
        if (c->keys[i] == key) { *val = c->vals[i]; return 1; }
        i = (i + 1) & mask;
    }
    return 0;
}

/* ---------------------------------------------------------------- memo of (bitset, state) */
typedef struct {
    size_t words;           /* bitset words per entry; an entry is words + 1 (state) */
    uint64_t *arena; size_t arena_cap, count;
    uint32_t *table; size_t table_cap;     /* entry index + 1; 0 = empty */
} Memo;

static uint64_t entry_hash(const uint64_t *bits, size_t words, uint64_t state) {
    uint64_t h = mix64(state + 0x9e3779b97f4a7c15ULL);
    for (size_t i = 0; i < words; i++) h = mix64(h ^ bits[i]) + i;
    return h;
}

static int memo_init(Memo *m, size_t words) {
    m->words = words; m->count = 0;
    m->arena_cap = 1024; m->table_cap = 4096;
    m->arena = malloc(m->arena_cap * (words + 1) * sizeof(uint64_t));
    m->table = calloc(m->table_cap, sizeof(uint32_t));
    return (m->arena && m->table) ? 0 : -1;
}

static size_t memo_bytes(const Memo *m) {
    return m->arena_cap * (m->words + 1) * sizeof(uint64_t) + m->table_cap * sizeof(uint32_t);
}

static int memo_rehash(Memo *m) {
    size_t cap = m->table_cap * 2;
    uint32_t *table = calloc(cap, sizeof(uint32_t));
    if (!table) return -1;
    size_t stride = m->words + 1;
    for (size_t e = 0; e < m->count; e++) {
        const uint64_t *entry = m->arena + e * stride;
        size_t i = entry_hash(entry, m->words, entry[m->words]) & (cap - 1);
        while (table[i]) i = (i + 1) & (cap - 1);
        table[i] = (uint32_t)(e + 1);
    }
    free(m->table);
    m->table = table; m->table_cap = cap;
    return 0;
}

/* Insert (bits, state); returns 1 if newly inserted, 0 if present, -1 on allocation failure. */
static int memo_insert(Memo *m, const uint64_t *bits, uint64_t state) {
    size_t stride = m->words + 1, mask = m->table_cap - 1;
    size_t i = entry_hash(bits, m->words, state) & mask;
    while (m->table[i]) {
        const uint64_t *entry = m->arena + (m->table[i] - 1) * stride;
        if (entry[m->words] == state && memcmp(entry, bits, m->words * sizeof(uint64_t)) == 0)
            return 0;
        i = (i + 1) & mask;
    }
    if (m->count == m->arena_cap) {
        uint64_t *arena = realloc(m->arena, m->arena_cap * 2 * stride * sizeof(uint64_t));
        if (!arena) return -1;
        m->arena = arena; m->arena_cap *= 2;
    }
    uint64_t *entry = m->arena + m->count * stride;
    memcpy(entry, bits, m->words * sizeof(uint64_t));
    entry[m->words] = state;
    m->count++;
    m->table[i] = (uint32_t)m->count;
    if (m->count * 2 > m->table_cap && memo_rehash(m) < 0) return -1;
    return 1;
}

/* ---------------------------------------------------------------- native kv model */
/* The built-in kv model (get / put / append on one key's string) stepped in C, so its
 * all-distinct string states cost neither a Python call nor the GIL. native =
 * (initial, ops): initial the key's initial str, ops a list of (fcode, input, output,
 * known) with fcode 0 get, 1 put, 2 append and str input/output. Semantics are those of
 * checkers.models.KV.step: states are strings interned here (as UTF-8 bytes, which are
 * equal exactly when the strings are), so a state id means the same string throughout one
 * search. (native = ("kv", initial, ops).) A string that has no UTF-8 form (a lone surrogate) makes the caller fall back to
 * the Python step. kv_step returns the next state id, -1 if illegal, -2 over the memory
 * share, -3 when out of memory. Touches no Python object: runs without the GIL. */
typedef struct {
    int32_t *fcode; const char **in; size_t *in_len; const char **out; size_t *out_len;
    char *known;
    char *bytes; size_t bytes_len, bytes_cap;     /* every state's bytes, back to back */
    size_t *off, *len; uint64_t *hash; size_t n_states, states_cap;
    int32_t *table; size_t table_cap;              /* state id + 1; 0 = empty */
    long long charged;                             /* bytes charged against the limit */
} NativeKV;

static void kv_free(NativeKV *kv) {
    free(kv->fcode); free(kv->in); free(kv->in_len); free(kv->out); free(kv->out_len);
    free(kv->known); free(kv->bytes); free(kv->off); free(kv->len); free(kv->hash);
    free(kv->table);
}

static uint64_t fnv(uint64_t h, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 0x100000001b3ULL; }
    return h;
}

/* The id of the string (state `base`'s bytes, or none when base is -1) + tail. */
static int32_t kv_intern(NativeKV *kv, int32_t base, const char *tail, size_t tail_len,
                         long long limit) {
    size_t base_len = base >= 0 ? kv->len[base] : 0;
    /* FNV runs byte after byte, so the hash of base + tail continues from the base's
     * (kept per state): O(tail), not O(the whole string), which grows with each append */
    uint64_t h = base >= 0 ? kv->hash[base] : 0xcbf29ce484222325ULL;
    h = fnv(h, tail, tail_len);
    size_t total = base_len + tail_len, mask = kv->table_cap - 1, i = mix64(h) & mask;
    while (kv->table[i]) {
        int32_t id = kv->table[i] - 1;
        if (kv->hash[id] == h && kv->len[id] == total) {
            const char *s = kv->bytes + kv->off[id];
            if ((base < 0 || memcmp(s, kv->bytes + kv->off[base], base_len) == 0) &&
                memcmp(s + base_len, tail, tail_len) == 0)
                return id;
        }
        i = (i + 1) & mask;
    }
    kv->charged += (long long)total + 120;
    if (kv->charged > limit / 2) return -2;
    if (kv->bytes_len + total > kv->bytes_cap) {
        size_t cap = kv->bytes_cap * 2 + total;
        char *bytes = realloc(kv->bytes, cap);
        if (!bytes) return -3;
        kv->bytes = bytes; kv->bytes_cap = cap;
    }
    if (kv->n_states == kv->states_cap) {
        size_t cap = kv->states_cap * 2;
        size_t *off = realloc(kv->off, cap * sizeof(size_t));
        if (off) kv->off = off;
        size_t *len = realloc(kv->len, cap * sizeof(size_t));
        if (len) kv->len = len;
        uint64_t *hash = realloc(kv->hash, cap * sizeof(uint64_t));
        if (hash) kv->hash = hash;
        if (!off || !len || !hash) return -3;
        kv->states_cap = cap;
    }
    char *dst = kv->bytes + kv->bytes_len;
    if (base >= 0) memcpy(dst, kv->bytes + kv->off[base], base_len);   /* no overlap: dst is past it */
    memcpy(dst + base_len, tail, tail_len);
    int32_t id = (int32_t)kv->n_states++;
    kv->off[id] = kv->bytes_len; kv->len[id] = total; kv->hash[id] = h;
    kv->bytes_len += total;
    kv->table[i] = id + 1;
    if (kv->n_states * 2 > kv->table_cap) {
        size_t cap = kv->table_cap * 2;
        int32_t *table = calloc(cap, sizeof(int32_t));
        if (!table) return -3;
        for (size_t s = 0; s < kv->n_states; s++) {
            size_t j = mix64(kv->hash[s]) & (cap - 1);
            while (table[j]) j = (j + 1) & (cap - 1);
            table[j] = (int32_t)s + 1;
        }
        free(kv->table); kv->table = table; kv->table_cap = cap;
    }
    return id;
}

/* Reads `native` (with the GIL). Returns 1 ready, 0 not usable (fall back to Python;
 * no error set), -1 on error (set). */
static int kv_init(NativeKV *kv, PyObject *native, Py_ssize_t n, long long limit) {
    memset(kv, 0, sizeof(*kv));
    PyObject *initial = PyTuple_GetItem(native, 1), *ops = PyTuple_GetItem(native, 2);
    if (!initial || !ops) return -1;
    if (!PyList_Check(ops) || PyList_GET_SIZE(ops) != n) {
        PyErr_SetString(PyExc_ValueError, "native kv: one entry per op expected");
        return -1;
    }
    kv->fcode = malloc(n * sizeof(int32_t)); kv->in = malloc(n * sizeof(char *));
    kv->in_len = malloc(n * sizeof(size_t)); kv->out = malloc(n * sizeof(char *));
    kv->out_len = malloc(n * sizeof(size_t)); kv->known = malloc(n);
    kv->bytes_cap = 4096; kv->bytes = malloc(kv->bytes_cap);
    kv->states_cap = 256; kv->off = malloc(256 * sizeof(size_t));
    kv->len = malloc(256 * sizeof(size_t)); kv->hash = malloc(256 * sizeof(uint64_t));
    kv->table_cap = 1024; kv->table = calloc(1024, sizeof(int32_t));
    if (!kv->fcode || !kv->in || !kv->in_len || !kv->out || !kv->out_len || !kv->known ||
        !kv->bytes || !kv->off || !kv->len || !kv->hash || !kv->table) {
        PyErr_NoMemory(); return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *op = PyList_GET_ITEM(ops, i);
        if (!PyTuple_Check(op) || PyTuple_GET_SIZE(op) != 4) {
            PyErr_SetString(PyExc_ValueError, "native kv: (fcode, input, output, known) expected");
            return -1;
        }
        kv->fcode[i] = (int32_t)PyLong_AsLong(PyTuple_GET_ITEM(op, 0));
        if (PyErr_Occurred()) return -1;
        kv->known[i] = (char)PyObject_IsTrue(PyTuple_GET_ITEM(op, 3));
        PyObject *input = PyTuple_GET_ITEM(op, 1), *output = PyTuple_GET_ITEM(op, 2);
        Py_ssize_t len = 0;
        kv->in[i] = NULL; kv->in_len[i] = 0; kv->out[i] = NULL; kv->out_len[i] = 0;
        if (PyUnicode_Check(input)) {
            /* the UTF-8 form is cached in the str, which `native` keeps alive */
            kv->in[i] = PyUnicode_AsUTF8AndSize(input, &len);
            if (!kv->in[i]) { PyErr_Clear(); return 0; }
            kv->in_len[i] = (size_t)len;
        } else if (kv->fcode[i] != 0) {
            return 0;
        }
        if (PyUnicode_Check(output)) {
            kv->out[i] = PyUnicode_AsUTF8AndSize(output, &len);
            if (!kv->out[i]) { PyErr_Clear(); return 0; }
            kv->out_len[i] = (size_t)len;
        } else if (kv->fcode[i] == 0 && kv->known[i]) {
            return 0;
        }
    }
    Py_ssize_t len = 0;
    const char *init = PyUnicode_Check(initial) ? PyUnicode_AsUTF8AndSize(initial, &len) : NULL;
    if (!init) { PyErr_Clear(); return 0; }
    return kv_intern(kv, -1, init, (size_t)len, limit) == 0 ? 1 : (PyErr_NoMemory(), -1);
}

static int32_t kv_step(NativeKV *kv, int32_t state, int32_t op, long long limit) {
    switch (kv->fcode[op]) {
    case 0:
        if (!kv->known[op]) return state;
        return (kv->out_len[op] == kv->len[state] &&
                memcmp(kv->out[op], kv->bytes + kv->off[state], kv->len[state]) == 0)
               ? state : -1;
    case 1: return kv_intern(kv, -1, kv->in[op], kv->in_len[op], limit);
    case 2: return kv_intern(kv, state, kv->in[op], kv->in_len[op], limit);
    default: return -1;
    }
}

/* ---------------------------------------------------------------- native register */
/* Models whose state is one value among those the ops name (register, cas-register,
 * mutex), stepped in C: the caller interns the values as small ids (equal ids exactly
 * when the values are equal as the model compares them), so a state id is a value id and
 * each op is (code, a, b) over ids. native = ("register", initial_id, [(code, a, b), ...]).
 * The codes (the model's step, per op, decided in Python by the model's `native`):
 *   0 REG_ANY       legal, unchanged (a read whose result is unknown)
 *   1 REG_EQUAL     legal iff state == a, unchanged (a read of a)
 *   2 REG_SET       legal, becomes a (a write of a)
 *   3 REG_SWAP      legal iff state == a, becomes b (a cas that completed, an acquire)
 *   4 REG_MAYBE     state == a: becomes b; else legal, unchanged (a cas of unknown outcome)
 *   5 REG_NOT_EQUAL legal iff state != a, unchanged (a cas known to have lost)
 *   6 REG_ILLEGAL   never legal
 * Touches no Python object after reg_init: runs without the GIL. */
typedef struct { int32_t *code, *a, *b; } NativeRegister;

static void reg_free(NativeRegister *r) { free(r->code); free(r->a); free(r->b); }

/* Reads `table` (with the GIL). Returns 1 ready, -1 on error (set). */
static int reg_init(NativeRegister *r, PyObject *table, Py_ssize_t n) {
    r->code = malloc(n * sizeof(int32_t)); r->a = malloc(n * sizeof(int32_t));
    r->b = malloc(n * sizeof(int32_t));
    if (!r->code || !r->a || !r->b) { PyErr_NoMemory(); return -1; }
    if (!PyList_Check(table) || PyList_GET_SIZE(table) != n) {
        PyErr_SetString(PyExc_ValueError, "native register: one entry per op expected");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *op = PyList_GET_ITEM(table, i);
        if (!PyTuple_Check(op) || PyTuple_GET_SIZE(op) != 3) {
            PyErr_SetString(PyExc_ValueError, "native register: (code, a, b) expected");
            return -1;
        }
        r->code[i] = (int32_t)PyLong_AsLong(PyTuple_GET_ITEM(op, 0));
        r->a[i] = (int32_t)PyLong_AsLong(PyTuple_GET_ITEM(op, 1));
        r->b[i] = (int32_t)PyLong_AsLong(PyTuple_GET_ITEM(op, 2));
        if (PyErr_Occurred()) return -1;
        if (r->code[i] < 0 || r->code[i] > 6) {
            PyErr_SetString(PyExc_ValueError, "native register: unknown op code");
            return -1;
        }
    }
    return 1;
}

static inline int32_t reg_step(const NativeRegister *r, int32_t state, int32_t op) {
    int32_t a = r->a[op];
    switch (r->code[op]) {
    case 0: return state;
    case 1: return state == a ? state : -1;
    case 2: return a;
    case 3: return state == a ? r->b[op] : -1;
    case 4: return state == a ? r->b[op] : state;
    case 5: return state != a ? state : -1;
    default: return -1;
    }
}

/* ---------------------------------------------------------------- search */
typedef struct { int32_t node; int32_t state; int32_t forced; } Frame;

/* The search runs without the GIL, so partitions search in parallel on a thread pool. It
 * takes the GIL back only to call a Python step (a step-cache miss of a model that is not
 * native) and to build its result. `stop_at` (optional) is a writable buffer of one
 * double, a second deadline the caller may lower while the search runs (to stop it once
 * another partition has settled the verdict); it is read with the deadline. */
static PyObject *search(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    PyObject *events, *step_fn, *observer_list, *twin_list;
    long init_state;
    double deadline;
    long long memory_limit;
    PyObject *native = Py_None, *stop_obj = Py_None;
    if (!PyArg_ParseTuple(args, "nOOlOOdL|OO", &n, &events, &step_fn, &init_state,
                          &observer_list, &twin_list, &deadline, &memory_limit, &native,
                          &stop_obj))
        return NULL;
    if (n <= 0) return Py_BuildValue("(inN)", 1, (Py_ssize_t)0, PyList_New(0));

    Py_buffer stop_view; int have_stop = 0;
    volatile double *stop_at = NULL;
    if (stop_obj != Py_None) {
        if (PyObject_GetBuffer(stop_obj, &stop_view, PyBUF_WRITABLE) < 0) return NULL;
        have_stop = 1;
        if (stop_view.len < (Py_ssize_t)sizeof(double)) {
            PyBuffer_Release(&stop_view);
            PyErr_SetString(PyExc_ValueError, "stop_at: a buffer of one double expected");
            return NULL;
        }
        stop_at = (volatile double *)stop_view.buf;
    }
    Py_ssize_t n_events = PySequence_Size(events);
    if (n_events < 0) { if (have_stop) PyBuffer_Release(&stop_view); return NULL; }
    Py_ssize_t size = n_events + 1;
    int32_t *nxt = malloc(size * sizeof(int32_t)), *prv = malloc(size * sizeof(int32_t));
    int32_t *op_of = malloc(size * sizeof(int32_t));
    char *is_call = malloc(size);
    int32_t *ret_node = malloc(n * sizeof(int32_t));
    char *observer = malloc(n);
    int32_t *twin_prev = malloc(n * sizeof(int32_t));
    Frame *stack = malloc((n + 1) * sizeof(Frame));
    int32_t *best = malloc((n + 1) * sizeof(int32_t));
    size_t words = (size_t)(n + 63) / 64;
    uint64_t *bits = calloc(words, sizeof(uint64_t));
    StepCache cache; Memo memo; NativeKV kv; NativeRegister reg = {NULL, NULL, NULL};
    int use_kv = 0, kv_inited = 0, use_reg = 0;
    PyObject *result = NULL;
    PyThreadState *released = NULL;
    int cache_ok = step_cache_init(&cache, 1024) == 0, memo_ok = memo_init(&memo, words) == 0;
    if (!nxt || !prv || !op_of || !is_call || !ret_node || !observer || !twin_prev || !stack ||
        !best || !bits || !cache_ok || !memo_ok) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < size; i++) { nxt[i] = (int32_t)(i + 1); prv[i] = (int32_t)(i - 1); }
    nxt[size - 1] = -1;
    is_call[0] = 0; op_of[0] = -1;
    for (Py_ssize_t i = 0; i < n; i++) ret_node[i] = -1;
    for (Py_ssize_t i = 0; i < n_events; i++) {
        PyObject *ev = PySequence_GetItem(events, i);
        if (!ev) goto done;
        long kind = PyLong_AsLong(PyTuple_GetItem(ev, 0));
        long op = PyLong_AsLong(PyTuple_GetItem(ev, 1));
        Py_DECREF(ev);
        if (PyErr_Occurred()) goto done;
        op_of[i + 1] = (int32_t)op;
        is_call[i + 1] = kind == 0;
        if (kind != 0) ret_node[op] = (int32_t)(i + 1);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        observer[i] = (char)PyObject_IsTrue(PyList_GetItem(observer_list, i));
        twin_prev[i] = (int32_t)PyLong_AsLong(PyList_GetItem(twin_list, i));
    }
    if (PyErr_Occurred()) goto done;
    if (native != Py_None) {
        PyObject *kind = PyTuple_Check(native) && PyTuple_GET_SIZE(native) == 3
                         ? PyTuple_GET_ITEM(native, 0) : NULL;
        if (kind && PyUnicode_Check(kind) && PyUnicode_CompareWithASCIIString(kind, "kv") == 0) {
            kv_inited = 1;
            use_kv = kv_init(&kv, native, n, memory_limit);
            if (use_kv < 0) goto done;
            if (use_kv) init_state = 0;     /* the initial string is the native table's state 0 */
        } else if (kind && PyUnicode_Check(kind) &&
                   PyUnicode_CompareWithASCIIString(kind, "register") == 0) {
            use_reg = reg_init(&reg, PyTuple_GET_ITEM(native, 2), n);
            if (use_reg < 0) goto done;
            init_state = PyLong_AsLong(PyTuple_GET_ITEM(native, 1));
            if (PyErr_Occurred()) goto done;
        } else {
            PyErr_SetString(PyExc_ValueError, "native: (\"kv\" | \"register\", initial, table) expected");
            goto done;
        }
    }

    released = PyEval_SaveThread();
    int32_t state = (int32_t)init_state;
    Py_ssize_t pending_known = n_events - n;   /* known ops not yet linearized */
    Py_ssize_t depth = 0, best_depth = 0;
    long long iterations = 0;
    int status = 1;
    int32_t node = nxt[0];
    while (pending_known > 0) {
        iterations++;
        if ((iterations & 0x3FF) == 0) {
            double t = now_monotonic();
            if (t > deadline || (stop_at && t > *stop_at)) { status = -1; break; }
            if ((long long)(memo_bytes(&memo) + cache.cap * 12) > memory_limit) { status = -2; break; }
        }
        if (node != -1 && is_call[node]) {
            int32_t op = op_of[node];
            int32_t twin = twin_prev[op];
            while (twin != -1 && (bits[twin >> 6] >> (twin & 63)) & 1) twin = twin_prev[twin];
            if (twin != -1) { node = nxt[node]; continue; }
            int64_t key = (int64_t)state * n + op;
            int32_t next_state;
            if (use_reg) {
                next_state = reg_step(&reg, state, op);    /* cheaper than the cache */
            } else if (use_kv) {
                /* also cheaper than the cache, whose growth was a fifth of c50-ok's
                 * search: a get is one memcmp, an append hashes only its tail */
                next_state = kv_step(&kv, state, op, memory_limit);
                if (next_state == -3) {
                    PyEval_RestoreThread(released); released = NULL;
                    PyErr_NoMemory(); goto done;
                }
                if (next_state == -2) { status = -2; break; }
            } else if (!step_cache_get(&cache, key, &next_state)) {
                PyEval_RestoreThread(released); released = NULL;
                PyObject *r = PyObject_CallFunction(step_fn, "ii", (int)state, (int)op);
                if (!r) goto done;
                next_state = (int32_t)PyLong_AsLong(r);
                Py_DECREF(r);
                if (PyErr_Occurred()) goto done;
                released = PyEval_SaveThread();
                if (next_state == -2) { status = -2; break; }   /* the model's states are too big */
                if (step_cache_put(&cache, key, next_state) < 0) {
                    PyEval_RestoreThread(released); released = NULL;
                    PyErr_NoMemory(); goto done;
                }
            }
            if (next_state >= 0) {
                bits[op >> 6] |= (uint64_t)1 << (op & 63);
                int inserted = memo_insert(&memo, bits, (uint64_t)next_state);
                if (inserted < 0) { status = -2; break; }
                if (inserted) {
                    stack[depth].node = node; stack[depth].state = state;
                    stack[depth].forced = observer[op];
                    depth++;
                    state = next_state;
                    /* lift the call and its return out of the list */
                    int32_t r = ret_node[op];
                    nxt[prv[node]] = nxt[node]; if (nxt[node] != -1) prv[nxt[node]] = prv[node];
                    if (r != -1) {
                        nxt[prv[r]] = nxt[r]; if (nxt[r] != -1) prv[nxt[r]] = prv[r];
                        pending_known--;
                    }
                    if (depth > best_depth) {
                        best_depth = depth;
                        for (Py_ssize_t k = 0; k < depth; k++) best[k] = op_of[stack[k].node];
                    }
                    node = nxt[0];
                    continue;
                }
                bits[op >> 6] &= ~((uint64_t)1 << (op & 63));
            }
            node = nxt[node];
        } else {
            /* a return of an unlinearized op, or the end of the list: backtrack */
            int forced = 1;
            while (forced) {
                if (depth == 0) { status = 0; goto finished; }
                depth--;
                node = stack[depth].node; state = stack[depth].state; forced = stack[depth].forced;
                int32_t op = op_of[node], r = ret_node[op];
                bits[op >> 6] &= ~((uint64_t)1 << (op & 63));
                if (r != -1) {
                    nxt[prv[r]] = r; if (nxt[r] != -1) prv[nxt[r]] = r;
                    pending_known++;
                }
                nxt[prv[node]] = node; if (nxt[node] != -1) prv[nxt[node]] = node;
            }
            node = nxt[node];
        }
    }
finished:
    PyEval_RestoreThread(released); released = NULL;
    {
        PyObject *prefix = PyList_New(best_depth);
        if (!prefix) goto done;
        for (Py_ssize_t k = 0; k < best_depth; k++) PyList_SET_ITEM(prefix, k, PyLong_FromLong(best[k]));
        result = Py_BuildValue("(iLN)", status, iterations, prefix);
    }
done:
    /* every path here holds the GIL */
    free(nxt); free(prv); free(op_of); free(is_call); free(ret_node); free(observer);
    free(twin_prev); free(stack); free(best); free(bits);
    if (cache_ok) { free(cache.keys); free(cache.vals); }
    if (memo_ok) { free(memo.arena); free(memo.table); }
    if (kv_inited) kv_free(&kv);
    reg_free(&reg);
    if (have_stop) PyBuffer_Release(&stop_view);
    return result;
}

static PyMethodDef methods[] = {
    {"search", search, METH_VARARGS, "WGL search over one partition (see module source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wgl", NULL, -1, methods};

PyMODINIT_FUNC PyInit__wgl(void) { return PyModule_Create(&module); }
