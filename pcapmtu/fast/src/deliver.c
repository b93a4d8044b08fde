/* What each direction delivered, by wire size: the exact pass's path evidence (pcapmtu/flows.py,
 * Direction.on_send, on_peer_ack and _delivered), computed for every flow as screen_rows reads
 * it, so that the exact pass need only follow the flows a decision needs. Tests check that the
 * paths' summaries equal the exact pass's on every capture (tests/test_facts.py).
 *
 * Per direction: the segments sent and not yet delivered ("outstanding", sorted by start and
 * never overlapping), each with its copies (wire size, time, frame); a cumulative ACK delivers
 * a prefix of them, a SACK block a run found by bisection. A delivered segment counts at its
 * size, its latest copy, or, when its bytes were also sent in smaller packets, at each smaller
 * packet (flows.Direction._delivered). Per direction and size, the latest send time is kept,
 * with its frame and the order of that delivery among all (so that the Python side merges the
 * directions of a path exactly as one summary fed in order would be: flows.PathSummary.add).
 *
 * Memory follows the data in flight. A direction whose outstanding segments pass OUT_LIMIT (a
 * capture of one side only, where no ACK ever comes) forgets its oldest; a segment sent more
 * than COPY_LIMIT times keeps its first copies and its latest. */
#include "native.h"

#include <math.h>

#define OUT_LIMIT (1 << 18)
#define OUT_ROOM (OUT_LIMIT + OUT_LIMIT / 8) /* room for them: a slide moves them at most every
                                               OUT_LIMIT / 8 segments sent */
#define COPY_LIMIT 1024
#define UNKNOWN_SIZE 0

typedef struct {
    double ts;
    int64_t frame;
    int64_t size;
} Copy;

typedef struct {
    int64_t start, end, size;
    int data; /* carries data (not a FIN alone) */
    int n, cap; /* copies; copies[0] is `first`, the others in `more` */
    Copy first;
    Copy *more;
} Sent;

typedef struct {
    int64_t size, frame, order;
    double ts, first_ts; /* the latest send time, and the earliest */
} Entry;

typedef struct {
    Sent *out;
    int64_t head, n, cap; /* outstanding: out[head .. head + n) */
    Entry *sizes;
    int64_t n_sizes, cap_sizes;
    /* the most copies one segment had (counted up to COPY_LIMIT); -1: not known, it forgot
     * outstanding segments past OUT_LIMIT */
    int64_t most_copies;
} Dir;

struct Deliveries {
    Dir *dirs;
    int64_t n_dirs;
    int64_t order; /* deliveries counted so far */
    int64_t forgotten; /* outstanding segments forgotten past OUT_LIMIT */
};

static const char *CAPSULE = "pcapmtu.fast.deliveries";

static Copy *copy_at(Sent *s, int k) { return k == 0 ? &s->first : &s->more[k - 1]; }

static void free_sent(Sent *s) {
    PyMem_Free(s->more);
    s->more = NULL;
}

static void free_dir(void *item) {
    Dir *d = item;
    for (int64_t k = 0; k < d->n; k++) free_sent(&d->out[d->head + k]);
    PyMem_Free(d->out);
    PyMem_Free(d->sizes);
    memset(d, 0, sizeof(*d));
}

static void destroy(PyObject *capsule) {
    Deliveries *D = PyCapsule_GetPointer(capsule, CAPSULE);
    if (D == NULL) return;
    for (int64_t k = 0; k < D->n_dirs; k++) free_dir(&D->dirs[k]);
    PyMem_Free(D->dirs);
    PyMem_Free(D);
}

Deliveries *deliveries_of(PyObject *capsule) {
    return PyCapsule_GetPointer(capsule, CAPSULE);
}

/* deliveries_new() -> a capsule holding the state (for screen_rows). */
PyObject *deliveries_new(PyObject *self, PyObject *unused) {
    Deliveries *D = PyMem_Calloc(1, sizeof(Deliveries));
    if (D == NULL) return PyErr_NoMemory();
    PyObject *capsule = PyCapsule_New(D, CAPSULE, destroy);
    if (capsule == NULL) PyMem_Free(D);
    return capsule;
}

/* Room for direction `d`; 0, or -1 with MemoryError set. */
static int deliveries_grow(Deliveries *D, int64_t d) {
    return dirs_grow((void **)&D->dirs, &D->n_dirs, sizeof(Dir), d);
}

/* flows.PathSummary.add, per direction: the latest send time per size (the first on a tie),
 * and the earliest. */
static int add_size(Deliveries *D, Dir *d, int64_t size, double ts, int64_t frame) {
    if (size == UNKNOWN_SIZE) return 0;
    D->order++;
    for (int64_t k = 0; k < d->n_sizes; k++) {
        Entry *e = &d->sizes[k];
        if (e->size == size) {
            if (ts > e->ts) {
                e->ts = ts;
                e->frame = frame;
                e->order = D->order;
            }
            if (ts < e->first_ts) e->first_ts = ts;
            return 0;
        }
    }
    if (d->n_sizes == d->cap_sizes) {
        int64_t cap = d->cap_sizes ? 2 * d->cap_sizes : 4;
        Entry *grown = PyMem_Realloc(d->sizes, sizeof(Entry) * cap);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        d->sizes = grown;
        d->cap_sizes = cap;
    }
    d->sizes[d->n_sizes++] = (Entry){size, frame, D->order, ts, ts};
    return 0;
}

static int add_copy(Dir *d, Sent *s, Copy c) {
    if (s->n + 1 > d->most_copies && d->most_copies >= 0) d->most_copies = s->n + 1;
    if (s->n >= COPY_LIMIT) {
        *copy_at(s, s->n - 1) = c; /* the latest copy replaces the one before */
        return 0;
    }
    if (s->n == s->cap) {
        int cap = s->cap < 4 ? 4 : 2 * s->cap;
        Copy *more = PyMem_Realloc(s->more, sizeof(Copy) * (cap - 1));
        if (more == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        s->more = more;
        s->cap = cap;
    }
    *copy_at(s, s->n) = c;
    s->n++;
    return 0;
}

/* flows.Sent.smaller_copies: a copy in a smaller packet (not a super-packet's copy of unknown
 * wire size, which tells no size). */
static int smaller_copy(const Sent *s, const Copy *c) {
    return c->size != UNKNOWN_SIZE && c->size < s->size;
}

/* flows.Direction._delivered: fold a delivered segment into its direction's sizes. */
static int delivered(Deliveries *D, Dir *d, Sent *s) {
    int smaller = 0;
    for (int k = 0; k < s->n; k++) smaller |= smaller_copy(s, copy_at(s, k));
    if (!smaller) {
        Copy *last = copy_at(s, s->n - 1);
        return add_size(D, d, s->size, last->ts, last->frame);
    }
    for (int k = 0; k < s->n; k++) {
        Copy *c = copy_at(s, k);
        if (smaller_copy(s, c) && add_size(D, d, c->size, c->ts, c->frame) < 0) return -1;
    }
    return 0;
}

/* Make room for one more outstanding segment at position `at` (relative to head). */
static Sent *insert_at(Deliveries *D, Dir *d, int64_t at) {
    if (d->n >= OUT_LIMIT) { /* forget the oldest */
        free_sent(&d->out[d->head]);
        d->head++;
        d->n--;
        D->forgotten++;
        d->most_copies = -1; /* its copies after this cannot be counted */
        at = at > 0 ? at - 1 : 0;
    }
    if (d->head + d->n == d->cap) {
        /* slide to the front once half the room is behind the head (or the room is all there
         * is), else grow: each segment then moves a bounded number of times. (Sliding whenever
         * the head had moved made a direction held at OUT_LIMIT move all its segments for
         * each one it sent: 0.3 ms a packet.) */
        if (d->head > 0 && (d->head >= d->cap / 2 || d->cap >= OUT_ROOM)) {
            memmove(d->out, d->out + d->head, sizeof(Sent) * d->n);
            d->head = 0;
        }
        if (d->head + d->n == d->cap) {
            int64_t cap = d->cap ? 2 * d->cap : 8;
            if (cap > OUT_ROOM) cap = OUT_ROOM;
            Sent *out = PyMem_Realloc(d->out, sizeof(Sent) * cap);
            if (out == NULL) {
                PyErr_NoMemory();
                return NULL;
            }
            d->out = out;
            d->cap = cap;
        }
    }
    Sent *base = d->out + d->head;
    memmove(base + at + 1, base + at, sizeof(Sent) * (d->n - at));
    d->n++;
    memset(&base[at], 0, sizeof(Sent));
    return &base[at];
}

/* The first outstanding segment (relative to head) whose start is >= `seq`. */
static int64_t first_from(Dir *d, int64_t seq) {
    Sent *base = d->out + d->head;
    int64_t lo = 0, hi = d->n;
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (base[mid].start < seq) lo = mid + 1; else hi = mid;
    }
    return lo;
}

/* flows.Direction._cut_super_packets, at one edge: the outstanding super-packet of unknown
 * wire size that `edge` falls inside is followed from now on as two pieces, each with its
 * copies. Not past OUT_LIMIT (where the oldest segments are forgotten anyway). */
static int cut_at(Deliveries *D, Dir *d, int64_t edge) {
    int64_t k = first_from(d, edge + 1) - 1; /* the last segment starting at or before it */
    if (k < 0 || d->n >= OUT_LIMIT) return 0;
    Sent *s = d->out + d->head + k;
    if (s->size != UNKNOWN_SIZE || edge <= s->start || edge >= s->end) return 0;
    Copy *more = NULL;
    if (s->n > 1) {
        more = PyMem_Malloc(sizeof(Copy) * (s->n - 1));
        if (more == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(more, s->more, sizeof(Copy) * (s->n - 1));
    }
    Sent tail = {edge, s->end, UNKNOWN_SIZE, s->data, s->n, s->n, s->first, more};
    s->end = edge; /* (before insert_at, which may move the segments) */
    Sent *t = insert_at(D, d, k + 1);
    if (t == NULL) {
        PyMem_Free(more);
        return -1;
    }
    *t = tail;
    return 0;
}

/* flows.Direction.on_send (and _send_fin): direction `dir` sent [start, end) (`length` > 0)
 * when the highest byte it had sent was `before` (NONE: none yet) and its peer had
 * acknowledged up to `cum` (NONE: nothing). */
int deliveries_send(Deliveries *D, int64_t dir, int64_t start, int64_t end, int64_t before,
                    int64_t cum, int64_t none, int64_t payload, int fin_alone, int64_t ip_len,
                    int64_t wire, double ts, int64_t frame) {
    if (deliveries_grow(D, dir) < 0) return -1;
    Dir *d = &D->dirs[dir];
    Sent *base = d->out + d->head;
    if (d->most_copies == 0) d->most_copies = 1; /* the first copy of its first segment */
    if (payload == 0) {
        if (!fin_alone) return 0; /* a SYN: sequence space, but no data */
        Copy c = {ts, frame, ip_len};
        if (before == none || start >= before) {
            Sent *s = insert_at(D, d, d->n);
            if (s == NULL) return -1;
            *s = (Sent){start, end, ip_len, 0, 1, 1, c, NULL};
            return 0;
        }
        for (int64_t k = 0; k < d->n; k++) { /* a FIN sent again */
            if (base[k].start == start && base[k].end == end && add_copy(d, &base[k], c) < 0) {
                return -1;
            }
        }
        return 0;
    }
    Copy c = {ts, frame, wire};
    if (cum != none && end <= cum) return 0; /* bytes already acknowledged */
    int owned = 0;
    if (before != none && start < before) { /* re-sent bytes: their owners get a copy */
        if (cut_at(D, d, start) < 0 || cut_at(D, d, end) < 0) return -1;
        base = d->out + d->head; /* (cutting may have moved them) */
        /* the first owner that can overlap: outstanding segments do not overlap, so their
         * ends rise with their starts */
        int64_t lo = 0, hi = d->n;
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (base[mid].end <= start) lo = mid + 1; else hi = mid;
        }
        for (int64_t k = lo; k < d->n && base[k].start < end; k++) {
            if (start < base[k].end) {
                owned = 1;
                if (add_copy(d, &base[k], c) < 0) return -1;
                if (base[k].size == UNKNOWN_SIZE) base[k].size = wire;
            }
        }
    }
    if (start < 0 && !owned) { /* bytes sent before the capture began, re-sent now */
        Sent *s = insert_at(D, d, first_from(d, start));
        if (s == NULL) return -1;
        *s = (Sent){start, end, wire, 1, 1, 1, c, NULL};
        return 0;
    }
    int64_t from = before != none && before > start ? before : start;
    if (end > from) {
        Sent *s = insert_at(D, d, d->n);
        if (s == NULL) return -1;
        *s = (Sent){from, end, wire, 1, 1, 1, c, NULL};
    }
    return 0;
}

/* Deliver and remove the outstanding segments [a, b) (relative to head). */
static int deliver_run(Deliveries *D, Dir *d, int64_t a, int64_t b) {
    Sent *base = d->out + d->head;
    for (int64_t k = a; k < b; k++) {
        if (delivered(D, d, &base[k]) < 0) return -1;
        free_sent(&base[k]);
    }
    /* close the gap from the side with fewer segments: a SACK block delivers a run just
     * after a hole near the head, with most of the window still behind it (moving the window
     * for each SACK moved 2.4 GB for a gigabyte's capture) */
    if (a <= d->n - b) {
        memmove(base + (b - a), base, sizeof(Sent) * a);
        d->head += b - a;
    } else {
        memmove(base + a, base + b, sizeof(Sent) * (d->n - b));
    }
    d->n -= b - a;
    if (d->n == 0) d->head = 0;
    return 0;
}

/* flows.Direction._on_sack_block: the block [left, right) (unwrapped) of an ACK at `ack`. */
int deliveries_sack(Deliveries *D, int64_t dir, int64_t left, int64_t right, int64_t ack) {
    if (right <= left || right <= ack || dir >= D->n_dirs) return 0; /* D-SACK: nothing new */
    Dir *d = &D->dirs[dir];
    int64_t first = first_from(d, left), last = first;
    Sent *base = d->out + d->head;
    while (last < d->n && base[last].end <= right) last++;
    return deliver_run(D, d, first, last);
}

/* flows.Direction._deliver_cumulative: the cumulative ACK rose to `cum`. */
int deliveries_cumulative(Deliveries *D, int64_t dir, int64_t cum) {
    if (dir >= D->n_dirs) return 0;
    Dir *d = &D->dirs[dir];
    Sent *base = d->out + d->head;
    int64_t done = 0;
    while (done < d->n && base[done].end <= cum) done++;
    return done ? deliver_run(D, d, 0, done) : 0;
}

/* deliveries_compact(capsule, new_id): directions renumbered (int64 bytes: each old id's new
 * one, -1 for one forgotten, with what it had outstanding and delivered). */
PyObject *deliveries_compact(PyObject *self, PyObject *args) {
    PyObject *capsule, *ids;
    if (!PyArg_ParseTuple(args, "OO", &capsule, &ids)) return NULL;
    Deliveries *D = deliveries_of(capsule);
    if (D == NULL || dirs_renumber(ids, D->dirs, D->n_dirs, sizeof(Dir), free_dir) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* deliveries_sizes(capsule) -> (dirs, sizes, frames, orders, ts, forgotten, first_ts): every
 * direction's delivered sizes, as bytes of int64 (ts and first_ts: of float64, the latest and
 * the earliest send time), and the outstanding segments forgotten. */
PyObject *deliveries_sizes(PyObject *self, PyObject *args) {
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "O", &capsule)) return NULL;
    Deliveries *D = deliveries_of(capsule);
    if (D == NULL) return NULL;
    int64_t total = 0;
    for (int64_t k = 0; k < D->n_dirs; k++) total += D->dirs[k].n_sizes;
    int64_t *dirs = PyMem_Malloc(8 * (total + 1)), *sizes = PyMem_Malloc(8 * (total + 1));
    int64_t *frames = PyMem_Malloc(8 * (total + 1)), *orders = PyMem_Malloc(8 * (total + 1));
    double *ts = PyMem_Malloc(8 * (total + 1)), *first_ts = PyMem_Malloc(8 * (total + 1));
    PyObject *result = NULL;
    if (!dirs || !sizes || !frames || !orders || !ts || !first_ts) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t i = 0;
    for (int64_t k = 0; k < D->n_dirs; k++) {
        for (int64_t j = 0; j < D->dirs[k].n_sizes; j++, i++) {
            Entry *e = &D->dirs[k].sizes[j];
            dirs[i] = k;
            sizes[i] = e->size;
            frames[i] = e->frame;
            orders[i] = e->order;
            ts[i] = e->ts;
            first_ts[i] = e->first_ts;
        }
    }
    result = Py_BuildValue("(y#y#y#y#y#Ly#)", (char *)dirs, total * 8, (char *)sizes, total * 8,
                           (char *)frames, total * 8, (char *)orders, total * 8, (char *)ts,
                           total * 8, (long long)D->forgotten, (char *)first_ts, total * 8);
done:
    PyMem_Free(dirs);
    PyMem_Free(sizes);
    PyMem_Free(frames);
    PyMem_Free(orders);
    PyMem_Free(ts);
    PyMem_Free(first_ts);
    return result;
}


/* deliveries_most_copies(capsule) -> bytes of int64: per direction, the most copies one of
 * its segments had (flows.Sent.copies; up to COPY_LIMIT), -1 where that is not known. */
PyObject *deliveries_most_copies(PyObject *self, PyObject *args) {
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "O", &capsule)) return NULL;
    Deliveries *D = deliveries_of(capsule);
    if (D == NULL) return NULL;
    PyObject *result = PyBytes_FromStringAndSize(NULL, D->n_dirs * 8);
    if (result == NULL) return NULL;
    int64_t *most = (int64_t *)PyBytes_AS_STRING(result);
    for (int64_t k = 0; k < D->n_dirs; k++) most[k] = D->dirs[k].most_copies;
    return result;
}


/* deliveries_lowest(capsule) -> (sizes, first, heads): per direction, its lowest outstanding
 * segment with data: its IP size (int64; 0: none, -1: not known, outstanding segments were
 * forgotten) and the time of its first copy (float64; NaN: none); and where its first
 * outstanding segment of any kind starts (int64; INT64_MAX: none outstanding). */
PyObject *deliveries_lowest(PyObject *self, PyObject *args) {
    PyObject *capsule;
    if (!PyArg_ParseTuple(args, "O", &capsule)) return NULL;
    Deliveries *D = deliveries_of(capsule);
    if (D == NULL) return NULL;
    int64_t n = D->n_dirs;
    int64_t *sizes = PyMem_Malloc(8 * (size_t)(n + 1));
    double *first = PyMem_Malloc(8 * (size_t)(n + 1));
    int64_t *heads = PyMem_Malloc(8 * (size_t)(n + 1));
    PyObject *result = NULL;
    if (sizes == NULL || first == NULL || heads == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (int64_t k = 0; k < n; k++) {
        Dir *d = &D->dirs[k];
        sizes[k] = d->most_copies < 0 ? -1 : 0;
        first[k] = NAN;
        heads[k] = d->n ? d->out[d->head].start : INT64_MAX;
        for (int64_t j = 0; sizes[k] == 0 && j < d->n; j++) {
            Sent *s = &d->out[d->head + j];
            if (s->data) {
                sizes[k] = s->size;
                first[k] = s->first.ts;
            }
        }
    }
    result = Py_BuildValue("(y#y#y#)", (char *)sizes, n * 8, (char *)first, n * 8,
                           (char *)heads, n * 8);
done:
    PyMem_Free(sizes);
    PyMem_Free(first);
    PyMem_Free(heads);
    return result;
}
