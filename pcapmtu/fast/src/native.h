/* The compiled fast pass of pcapmtu (pcapmtu/fast/): one module, one source file per job.
 *
 *   decode.c  tcp_headers: the common TCP/IP header shapes of a batch of records, as columns
 *             (pcapmtu/fast/columns.py; tested equal to the exact decoder, pcapmtu/decode.py)
 *   keys.c    known_directions: each segment's flow direction, by a hash of its key
 *   screen.c  screen_rows: the TCP rules of pcapmtu/tcp.py, row after row, as facts per
 *             direction (pcapmtu/fast/screen.py; tested equal to the exact pass, flows.py)
 *   deliver.c what each direction delivered, by wire size (the exact pass's path evidence,
 *             flows.py; tested equal), for screen_rows
 *   module.c  the method table
 */
#ifndef PCAPMTU_FAST_NATIVE_H
#define PCAPMTU_FAST_NATIVE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

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

#endif
