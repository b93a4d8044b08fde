/* What waits for a cumulative ACK, per direction, as screen_rows reads the segments
 * (pcapmtu/fast/screen.py explains the facts; pcapmtu/flows.py computes the same new data the
 * same way):
 *
 *   new data: each segment of new data (its sequence end and IP size) until the cumulative ACK
 *     reaches its end; then it counts as acknowledged at its size. Ends only rise, so a queue.
 *   gaps: an ACK below the data its peer had sent (the "top") opens a gap, which lasts until a
 *     cumulative ACK reaches that top; each direction's longest is kept. Tops only rise, so a
 *     queue too, one entry per top (the earliest: it is open the longest).
 *
 * And, per call of screen_rows, a tally by (direction, IP size): the payloads of its new data
 * (smallest, largest), how many became acknowledged, and its re-sent segments (how many, their
 * payload bytes, the largest): screen.py adds each call's tally to its facts. */
#include "native.h"

typedef struct {
    int64_t key; /* first: the sequence end (new data) or the top (gaps) */
    union {
        int64_t size; /* new data: its IP size */
        double since; /* gaps: when it opened */
    } v;
} Item;

typedef struct {
    Item *items;
    int64_t head, n, cap; /* items[head .. head + n) */
} Queue;

typedef struct {
    Queue data, gaps;
} Waits;

struct Waiting {
    Waits *dirs;
    int64_t n_dirs;
};

static const char *CAPSULE = "pcapmtu.fast.waiting";

static void free_waits(void *item) {
    Waits *w = item;
    PyMem_Free(w->data.items);
    PyMem_Free(w->gaps.items);
    memset(w, 0, sizeof(*w));
}

static void destroy(PyObject *capsule) {
    Waiting *W = PyCapsule_GetPointer(capsule, CAPSULE);
    if (W == NULL) return;
    for (int64_t k = 0; k < W->n_dirs; k++) free_waits(&W->dirs[k]);
    PyMem_Free(W->dirs);
    PyMem_Free(W);
}

Waiting *waiting_of(PyObject *capsule) { return PyCapsule_GetPointer(capsule, CAPSULE); }

/* waiting_new() -> a capsule holding the queues (for screen_rows). */
PyObject *waiting_new(PyObject *self, PyObject *unused) {
    Waiting *W = PyMem_Calloc(1, sizeof(Waiting));
    if (W == NULL) return PyErr_NoMemory();
    PyObject *capsule = PyCapsule_New(W, CAPSULE, destroy);
    if (capsule == NULL) PyMem_Free(W);
    return capsule;
}

static Waits *waits(Waiting *W, int64_t d) {
    if (dirs_grow((void **)&W->dirs, &W->n_dirs, sizeof(Waits), d) < 0) return NULL;
    return &W->dirs[d];
}

static int push(Queue *q, Item item) {
    if (q->head + q->n == q->cap) {
        if (q->head > q->cap / 2) { /* mostly popped: move down rather than grow */
            memmove(q->items, q->items + q->head, sizeof(Item) * q->n);
            q->head = 0;
        } else {
            int64_t cap = q->cap ? 2 * q->cap : 16;
            Item *items = PyMem_Realloc(q->items, sizeof(Item) * cap);
            if (items == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            q->items = items;
            q->cap = cap;
        }
    }
    q->items[q->head + q->n++] = item;
    return 0;
}

/* -- the tally of one call --------------------------------------------------------------- */

int tally_init(Tally *t) {
    memset(t, 0, sizeof(*t));
    t->cap = 256;
    t->slots = PyMem_Calloc((size_t)t->cap, sizeof(int64_t));
    if (t->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (int64_t k = 0; k < t->cap; k++) t->slots[k] = -1;
    return 0;
}

void tally_free(Tally *t) {
    PyMem_Free(t->slots);
    PyMem_Free(t->rows);
    memset(t, 0, sizeof(*t));
}

static uint64_t mix(int64_t key) {
    uint64_t x = (uint64_t)key * 0x9E3779B97F4A7C15ULL;
    return x ^ (x >> 29);
}

/* The row of (direction, size), made (zeroed; `low` unset) when new. */
static TallyRow *tally_row(Tally *t, int64_t d, int64_t size) {
    int64_t key = d * TALLY_SIZE_KEY + size;
    if (2 * (t->n + 1) > t->cap) { /* keep the table at most half full */
        int64_t cap = 2 * t->cap;
        int64_t *slots = PyMem_Malloc(sizeof(int64_t) * (size_t)cap);
        if (slots == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        for (int64_t k = 0; k < cap; k++) slots[k] = -1;
        for (int64_t r = 0; r < t->n; r++) {
            uint64_t at = mix(t->rows[r].key) & (uint64_t)(cap - 1);
            while (slots[at] >= 0) at = (at + 1) & (uint64_t)(cap - 1);
            slots[at] = r;
        }
        PyMem_Free(t->slots);
        t->slots = slots;
        t->cap = cap;
    }
    uint64_t at = mix(key) & (uint64_t)(t->cap - 1);
    while (t->slots[at] >= 0) {
        TallyRow *row = &t->rows[t->slots[at]];
        if (row->key == key) return row;
        at = (at + 1) & (uint64_t)(t->cap - 1);
    }
    if (t->n == t->n_rows) {
        int64_t n_rows = t->n_rows ? 2 * t->n_rows : 64;
        TallyRow *rows = PyMem_Realloc(t->rows, sizeof(TallyRow) * (size_t)n_rows);
        if (rows == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        t->rows = rows;
        t->n_rows = n_rows;
    }
    TallyRow *row = &t->rows[t->n];
    memset(row, 0, sizeof(*row));
    row->key = key;
    row->low = -1;
    t->slots[at] = t->n++;
    return row;
}

int tally_resent(Tally *t, int64_t d, int64_t ip_len, int64_t payload) {
    int64_t size = ip_len < TALLY_SIZE_KEY - 1 ? ip_len : TALLY_SIZE_KEY - 1;
    TallyRow *row = tally_row(t, d, size);
    if (row == NULL) return -1;
    row->resent += 1;
    row->resent_bytes += payload;
    if (payload > row->resent_max) row->resent_max = payload;
    return 0;
}

static int tally_acked(Tally *t, int64_t d, int64_t size) {
    TallyRow *row = tally_row(t, d, size);
    if (row == NULL) return -1;
    row->acked += 1;
    return 0;
}

/* -- the queues ------------------------------------------------------------------------- */

/* New data of direction `d` (end, IP size, payload), whose cumulative ACK is `cum` (`none`:
 * none yet): acknowledged already, or waiting. */
int waiting_new_data(Waiting *W, Tally *t, int64_t d, int64_t end, int64_t size, int64_t payload,
                     int64_t cum, int64_t none) {
    TallyRow *row = tally_row(t, d, size);
    if (row == NULL) return -1;
    if (row->low < 0 || payload < row->low) row->low = payload;
    if (payload > row->high) row->high = payload;
    if (cum != none && end <= cum) return tally_acked(t, d, size);
    Waits *w = waits(W, d);
    if (w == NULL) return -1;
    Item item = {.key = end, .v.size = size};
    return push(&w->data, item);
}

/* The cumulative ACK of direction `d` is now `cum`, at `ts`: the new data it reaches counts as
 * acknowledged, the gaps it closes are measured (`longest`: per direction). */
int waiting_cumulative(Waiting *W, Tally *t, int64_t d, int64_t cum, double ts, double *longest) {
    if (d >= W->n_dirs) return 0;
    Waits *w = &W->dirs[d];
    Queue *q = &w->data;
    while (q->n && q->items[q->head].key <= cum) {
        if (tally_acked(t, d, q->items[q->head].v.size) < 0) return -1;
        q->head++;
        q->n--;
    }
    if (!q->n) q->head = 0;
    q = &w->gaps;
    while (q->n && q->items[q->head].key <= cum) {
        double open_for = ts - q->items[q->head].v.since;
        if (open_for > longest[d]) longest[d] = open_for;
        q->head++;
        q->n--;
    }
    if (!q->n) q->head = 0;
    return 0;
}

/* An ACK of direction `d` below `top`, the data it had sent, at `ts`: a gap opens (unless one
 * with this top is open already: it opened earlier). */
int waiting_gap(Waiting *W, int64_t d, int64_t top, double ts) {
    Waits *w = waits(W, d);
    if (w == NULL) return -1;
    Queue *q = &w->gaps;
    if (q->n && q->items[q->head + q->n - 1].key == top) return 0;
    Item item = {.key = top, .v.since = ts};
    return push(q, item);
}

/* waiting_compact(capsule, new_id): directions renumbered (int64 bytes: each old id's new
 * one, -1 for one forgotten, with what waited for it). */
PyObject *waiting_compact(PyObject *self, PyObject *args) {
    PyObject *capsule, *ids;
    if (!PyArg_ParseTuple(args, "OO", &capsule, &ids)) return NULL;
    Waiting *W = waiting_of(capsule);
    if (W == NULL || dirs_renumber(ids, W->dirs, W->n_dirs, sizeof(Waits), free_waits) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* waiting_gaps(capsule) -> (dirs, since): each direction with a gap open, and when its first
 * (the longest open) opened, as bytes of int64 and of float64. */
PyObject *waiting_gaps(PyObject *self, PyObject *args) {
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "O", &capsule)) return NULL;
    Waiting *W = waiting_of(capsule);
    if (W == NULL) return NULL;
    int64_t total = 0;
    for (int64_t k = 0; k < W->n_dirs; k++) total += W->dirs[k].gaps.n > 0;
    int64_t *dirs = PyMem_Malloc(8 * (size_t)(total + 1));
    double *since = PyMem_Malloc(8 * (size_t)(total + 1));
    PyObject *result = NULL;
    if (dirs == NULL || since == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t i = 0;
    for (int64_t k = 0; k < W->n_dirs; k++) {
        Queue *q = &W->dirs[k].gaps;
        if (q->n) {
            dirs[i] = k;
            since[i++] = q->items[q->head].v.since;
        }
    }
    result = Py_BuildValue("(y#y#)", (char *)dirs, total * 8, (char *)since, total * 8);
done:
    PyMem_Free(dirs);
    PyMem_Free(since);
    return result;
}

/* The tally as Python bytes: (dirs, sizes, low, high, acked, resent, resent_bytes, resent_max),
 * each of int64 (low: -1 where the row had no new data). */
PyObject *tally_result(Tally *t) {
    int64_t n = t->n;
    int64_t *out = PyMem_Malloc(sizeof(int64_t) * 8 * (size_t)(n + 1));
    if (out == NULL) return PyErr_NoMemory();
    for (int64_t r = 0; r < n; r++) {
        TallyRow *row = &t->rows[r];
        out[0 * n + r] = row->key / TALLY_SIZE_KEY;
        out[1 * n + r] = row->key % TALLY_SIZE_KEY;
        out[2 * n + r] = row->low;
        out[3 * n + r] = row->high;
        out[4 * n + r] = row->acked;
        out[5 * n + r] = row->resent;
        out[6 * n + r] = row->resent_bytes;
        out[7 * n + r] = row->resent_max;
    }
    PyObject *result = PyBytes_FromStringAndSize((char *)out, (Py_ssize_t)(8 * 8 * n));
    PyMem_Free(out);
    return result;
}
