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
 * search(n_ops, events, step, init_state, observer, twin_prev, deadline, memory_limit)
 *   events: list of (kind, op_id) in history order, kind 0 = call, 1 = return; an op whose
 *   outcome is unknown has a call and no return (it may take effect later, or never), and
 *   the search succeeds as soon as every op with a return is linearized
 *   returns (status, iterations, best_prefix) with status
 *     1 linearizable, 0 not, -1 deadline passed, -2 memory limit reached
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
 * all-distinct string states do not cost a Python call each. native = (states, ids, ops):
 * states a list of str (index = state id), ids a dict str -> id, ops a list of
 * (fcode, input, output, known) with fcode 0 get, 1 put, 2 append. Semantics are those of
 * checkers.models.KV.step. Returns the next state id, -1 if illegal, -2 over the memory
 * share, -3 on a Python error. */
static long long native_bytes = 0;

static int32_t native_kv_step(PyObject *native, int32_t state_id, int32_t op_id, long long limit) {
    PyObject *states = PyTuple_GET_ITEM(native, 0), *ids = PyTuple_GET_ITEM(native, 1);
    PyObject *op = PyList_GET_ITEM(PyTuple_GET_ITEM(native, 2), op_id);
    long fcode = PyLong_AsLong(PyTuple_GET_ITEM(op, 0));
    PyObject *input = PyTuple_GET_ITEM(op, 1), *output = PyTuple_GET_ITEM(op, 2);
    int known = PyObject_IsTrue(PyTuple_GET_ITEM(op, 3));
    PyObject *state = PyList_GET_ITEM(states, state_id);
    PyObject *next;
    if (fcode == 0) {
        if (!known) return state_id;
        int eq = PyUnicode_Check(output) ? PyUnicode_Compare(output, state) == 0 : 0;
        if (PyErr_Occurred()) return -3;
        return eq ? state_id : -1;
    } else if (fcode == 1) {
        next = input; Py_INCREF(next);
    } else if (fcode == 2) {
        next = PyUnicode_Concat(state, input);
        if (!next) return -3;
    } else {
        return -1;
    }
    PyObject *existing = PyDict_GetItemWithError(ids, next);
    if (existing) { long id = PyLong_AsLong(existing); Py_DECREF(next); return (int32_t)id; }
    if (PyErr_Occurred()) { Py_DECREF(next); return -3; }
    native_bytes += PyUnicode_GET_LENGTH(next) + 120;
    if (native_bytes > limit / 2) { Py_DECREF(next); return -2; }
    Py_ssize_t id = PyList_GET_SIZE(states);
    PyObject *id_obj = PyLong_FromSsize_t(id);
    if (!id_obj || PyList_Append(states, next) < 0 || PyDict_SetItem(ids, next, id_obj) < 0) {
        Py_XDECREF(id_obj); Py_DECREF(next); return -3;
    }
    Py_DECREF(id_obj); Py_DECREF(next);
    return (int32_t)id;
}

/* ---------------------------------------------------------------- search */
typedef struct { int32_t node; int32_t state; int32_t forced; } Frame;

static PyObject *search(PyObject *self, PyObject *args) {
    Py_ssize_t n;
    PyObject *events, *step_fn, *observer_list, *twin_list;
    long init_state;
    double deadline;
    long long memory_limit;
    PyObject *native = Py_None;
    if (!PyArg_ParseTuple(args, "nOOlOOdL|O", &n, &events, &step_fn, &init_state,
                          &observer_list, &twin_list, &deadline, &memory_limit, &native))
        return NULL;
    native_bytes = 0;
    if (n <= 0) return Py_BuildValue("(inN)", 1, (Py_ssize_t)0, PyList_New(0));

    Py_ssize_t n_events = PySequence_Size(events);
    if (n_events < 0) return NULL;
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
    StepCache cache; Memo memo;
    PyObject *result = NULL;
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

    int32_t state = (int32_t)init_state;
    Py_ssize_t pending_known = n_events - n;   /* known ops not yet linearized */
    Py_ssize_t depth = 0, best_depth = 0;
    long long iterations = 0;
    int status = 1;
    int32_t node = nxt[0];
    while (pending_known > 0) {
        iterations++;
        if ((iterations & 0x3FF) == 0) {
            if (now_monotonic() > deadline) { status = -1; break; }
            if ((long long)(memo_bytes(&memo) + cache.cap * 12) > memory_limit) { status = -2; break; }
        }
        if (node != -1 && is_call[node]) {
            int32_t op = op_of[node];
            int32_t twin = twin_prev[op];
            while (twin != -1 && (bits[twin >> 6] >> (twin & 63)) & 1) twin = twin_prev[twin];
            if (twin != -1) { node = nxt[node]; continue; }
            int64_t key = (int64_t)state * n + op;
            int32_t next_state;
            if (!step_cache_get(&cache, key, &next_state)) {
                if (native != Py_None) {
                    next_state = native_kv_step(native, state, op, memory_limit);
                    if (next_state == -3) goto done;
                } else {
                    PyObject *r = PyObject_CallFunction(step_fn, "ii", (int)state, (int)op);
                    if (!r) goto done;
                    next_state = (int32_t)PyLong_AsLong(r);
                    Py_DECREF(r);
                    if (PyErr_Occurred()) goto done;
                }
                if (next_state == -2) { status = -2; break; }   /* the model's states are too big */
                if (step_cache_put(&cache, key, next_state) < 0) { PyErr_NoMemory(); goto done; }
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
    {
        PyObject *prefix = PyList_New(best_depth);
        if (!prefix) goto done;
        for (Py_ssize_t k = 0; k < best_depth; k++) PyList_SET_ITEM(prefix, k, PyLong_FromLong(best[k]));
        result = Py_BuildValue("(iLN)", status, iterations, prefix);
    }
done:
    free(nxt); free(prv); free(op_of); free(is_call); free(ret_node); free(observer);
    free(twin_prev); free(stack); free(best); free(bits);
    if (cache_ok) { free(cache.keys); free(cache.vals); }
    if (memo_ok) { free(memo.arena); free(memo.table); }
    return result;
}

static PyMethodDef methods[] = {
    {"search", search, METH_VARARGS, "WGL search over one partition (see module source)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wgl", NULL, -1, methods};

PyMODINIT_FUNC PyInit__wgl(void) { return PyModule_Create(&module); }
