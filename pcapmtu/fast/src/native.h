/* The compiled fast pass of pcapmtu (pcapmtu/fast/): one module, one source file per job.
 *
 *   decode.c  tcp_headers: the common TCP/IP header shapes of a batch of records, as columns
 *             (pcapmtu/fast/columns.py; tested equal to the exact decoder, pcapmtu/decode.py)
 *   keys.c    known_directions: each segment's flow direction, by a hash of its key
 *   screen.c  screen_rows: the TCP rules of pcapmtu/tcp.py, row after row, as facts per
 *             direction (pcapmtu/fast/screen.py; tested equal to the exact pass, flows.py)
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

#endif
