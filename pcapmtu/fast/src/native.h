/* The compiled fast pass of pcapmtu (pcapmtu/fast/): one module, one source file per job.
 *
 *   decode.c  tcp_headers: the common TCP/IP header shapes of a batch of records, as columns
 *             (pcapmtu/fast/columns.py; tested equal to the exact decoder, pcapmtu/decode.py)
 *   keys.c    known_directions: each segment's flow direction, by a hash of its key
 *   screen.c  screen_rows: the TCP rules of pcapmtu/tcp.py, row after row, as facts per
 *             direction (pcapmtu/fast/screen.py; tested equal to the exact pass, flows.py)
 *   deliver.c what each direction delivered, by wire size (the exact pass's path evidence,
 *             flows.py; tested equal), for screen_rows
 *   waiting.c new data and gaps waiting for a cumulative ACK, and each batch's tally of new
 *             and re-sent data by size, for screen_rows
 *   dirs.c    the per-direction arrays of deliver.c and waiting.c: grown, renumbered
 *   module.c  the method table
 */
#ifndef PCAPMTU_FAST_NATIVE_H
#define PCAPMTU_FAST_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(address) __builtin_prefetch(address)
#else
#define PREFETCH(address) ((void)(address))
#endif

PyObject *tcp_headers(PyObject *self, PyObject *args);
PyObject *known_directions(PyObject *self, PyObject *args);
PyObject *screen_rows(PyObject *self, PyObject *args);
PyObject *state_fields(PyObject *self, PyObject *unused);

typedef struct Deliveries Deliveries;
Deliveries *deliveries_of(PyObject *capsule);
int deliveries_send(Deliveries *D, int64_t dir, int64_t start, int64_t end, int64_t before,
                    int64_t cum, int64_t none, int64_t payload, int fin_alone, int64_t ip_len,
                    int64_t wire, double ts, int64_t frame);
int deliveries_sack(Deliveries *D, int64_t dir, int64_t left, int64_t right, int64_t ack);
int deliveries_cumulative(Deliveries *D, int64_t dir, int64_t cum);
PyObject *deliveries_new(PyObject *self, PyObject *unused);
PyObject *deliveries_compact(PyObject *self, PyObject *args);
PyObject *deliveries_sizes(PyObject *self, PyObject *args);
PyObject *deliveries_most_copies(PyObject *self, PyObject *args);
PyObject *deliveries_lowest(PyObject *self, PyObject *args);

/* dirs.c: an array of per-direction items (item_size bytes each, *n of them): room for
 * direction d, new items zeroed (0, or -1 with MemoryError set); and renumbered by the fast
 * pass's new ids (int64 bytes, each old id's new one, -1: forgotten, then `forget` frees it) */
int dirs_grow(void **items, int64_t *n, size_t item_size, int64_t d);
int dirs_renumber(PyObject *ids_bytes, void *items, int64_t n, size_t item_size,
                  void (*forget)(void *item));

/* waiting.c: new data and gaps waiting for a cumulative ACK; each call's tally by size */
#define TALLY_SIZE_KEY (((int64_t)1) << 17) /* direction * TALLY_SIZE_KEY + IP size */
typedef struct {
    int64_t key, low, high, acked, resent, resent_bytes, resent_max;
} TallyRow;
typedef struct {
    int64_t *slots; /* open addressing: index into rows, -1: empty */
    int64_t cap;
    TallyRow *rows;
    int64_t n, n_rows;
} Tally;
typedef struct Waiting Waiting;
Waiting *waiting_of(PyObject *capsule);
int tally_init(Tally *t);
void tally_free(Tally *t);
int tally_resent(Tally *t, int64_t d, int64_t ip_len, int64_t payload);
PyObject *tally_result(Tally *t);
int waiting_new_data(Waiting *W, Tally *t, int64_t d, int64_t end, int64_t size, int64_t payload,
                     int64_t cum, int64_t none);
int waiting_cumulative(Waiting *W, Tally *t, int64_t d, int64_t cum, double ts, double *longest);
int waiting_gap(Waiting *W, int64_t d, int64_t top, double ts);
PyObject *waiting_new(PyObject *self, PyObject *unused);
PyObject *waiting_compact(PyObject *self, PyObject *args);
PyObject *waiting_gaps(PyObject *self, PyObject *args);

#endif
