/* The compiled record walk of reading a capture (pcapmtu/capture/walk.py explains): where each
 * record or block of a buffer starts. It cannot be vectorised, since each record's length says
 * where the next begins; walk.py holds the same walk in Python, tested equal.
 *
 * pcap(buffer, pos, big_endian, max_caplen) -> (offsets, heads, next_pos, status)
 *   offsets: bytes of int64, where each complete record starts; heads: its 16-byte record
 *   header, copied (n * 16 bytes); next_pos: the first byte not walked; status: 0 the buffer
 *   ran out, 1 a record claimed more than max_caplen bytes (at next_pos).
 * pcap_records(buffer, pos, big_endian, max_caplen, ticks)
 *   -> (offsets, caplens, orig_lens, ts, next_pos, status)
 *   the same walk, each record's fields instead of its header (int64, but ts float64): where
 *   its captured bytes start, their length, its length on the wire (never less than
 *   captured), its time (seconds + fraction / ticks).
 * pcapng(buffer, pos, big_endian, max_len) -> (offsets, types, heads, next_pos, status)
 *   types: bytes of uint32, each block's type; heads: its first 28 bytes (an Enhanced Packet
 *   Block's fixed fields), zero-padded; status: 0 the buffer ran out, 1 a bad block length (at
 *   next_pos), 2 a Section Header Block starts at next_pos (its byte order may differ: the
 *   caller reads it).
 * pack(buffer, offsets, keeps, big_endian) -> bytes
 *   pcap records again, each cut to its first `keeps[i]` captured bytes: for each record whose
 *   captured bytes start at offsets[i] (int64, its 16-byte header just before them), that
 *   header with its captured length set to keeps[i], then those bytes; one after another.
 * pack_epbs(buffer, offsets, keeps, big_endian) -> bytes
 *   the same for pcapng Enhanced Packet Blocks (each packet's 28-byte block head before it).
 * fill(fd, buffer, budget_s) -> (count, idle)
 *   a pipe read into a buffer (stdin's batches), without the GIL between reads: see below.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#define PCAP_RECORD_HEADER_LEN 16
#define PCAPNG_BLOCK_HEADER_LEN 8
#define PCAPNG_BLOCK_OVERHEAD 12
#define PCAPNG_SHB 0x0A0D0D0Au
#define PCAPNG_HEAD_LEN 28

static uint32_t read_u32(const unsigned char *p, int big_endian) {
    if (big_endian) {
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    }
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

static PyObject *walk_pcap(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos;
    int big_endian;
    unsigned long long max_caplen;
    if (!PyArg_ParseTuple(args, "y*npK", &view, &pos, &big_endian, &max_caplen)) {
        return NULL;
    }
    const unsigned char *buf = view.buf;
    Py_ssize_t len = view.len;
    Py_ssize_t capacity = (len - pos) / PCAP_RECORD_HEADER_LEN + 1;
    if (capacity < 1) {
        capacity = 1;
    }
    int64_t *offsets = PyMem_Malloc(sizeof(int64_t) * capacity);
    unsigned char *heads = PyMem_Malloc(PCAP_RECORD_HEADER_LEN * capacity);
    if (offsets == NULL || heads == NULL) {
        PyMem_Free(offsets);
        PyMem_Free(heads);
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    Py_ssize_t count = 0;
    int status = 0;
    Py_BEGIN_ALLOW_THREADS
    while (pos >= 0 && pos + PCAP_RECORD_HEADER_LEN <= len) {
        uint32_t caplen = read_u32(buf + pos + 8, big_endian);
        if (caplen > max_caplen) {
            status = 1;
            break;
        }
        Py_ssize_t end = pos + PCAP_RECORD_HEADER_LEN + (Py_ssize_t)caplen;
        if (end > len) {
            break;
        }
        memcpy(heads + count * PCAP_RECORD_HEADER_LEN, buf + pos, PCAP_RECORD_HEADER_LEN);
        offsets[count++] = pos;
        pos = end;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *result = Py_BuildValue(
        "(y#y#ni)", (const char *)offsets, (Py_ssize_t)(count * sizeof(int64_t)),
        (const char *)heads, (Py_ssize_t)(count * PCAP_RECORD_HEADER_LEN), pos, status);
    PyMem_Free(offsets);
    PyMem_Free(heads);
    return result;
}

/* pcap_records: the walk of `pcap`, giving each record's fields instead of its header: where
 * its captured bytes start, its captured length, its length on the wire (never less), and its
 * time (seconds + fraction / ticks, as the reading side computed it from the headers). */
static PyObject *walk_pcap_records(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos;
    int big_endian;
    unsigned long long max_caplen;
    double ticks;
    if (!PyArg_ParseTuple(args, "y*npKd", &view, &pos, &big_endian, &max_caplen, &ticks)) {
        return NULL;
    }
    const unsigned char *buf = view.buf;
    Py_ssize_t len = view.len;
    Py_ssize_t capacity = (len - pos) / PCAP_RECORD_HEADER_LEN + 1;
    if (capacity < 1) {
        capacity = 1;
    }
    int64_t *ints = PyMem_Malloc(3 * sizeof(int64_t) * capacity);
    double *ts = PyMem_Malloc(sizeof(double) * capacity);
    if (ints == NULL || ts == NULL) {
        PyMem_Free(ints);
        PyMem_Free(ts);
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    int64_t *offsets = ints, *caplens = ints + capacity, *orig_lens = ints + 2 * capacity;
    Py_ssize_t count = 0;
    int status = 0;
    Py_BEGIN_ALLOW_THREADS
    while (pos >= 0 && pos + PCAP_RECORD_HEADER_LEN <= len) {
        const unsigned char *head = buf + pos;
        uint32_t caplen = read_u32(head + 8, big_endian);
        if (caplen > max_caplen) {
            status = 1;
            break;
        }
        Py_ssize_t end = pos + PCAP_RECORD_HEADER_LEN + (Py_ssize_t)caplen;
        if (end > len) {
            break;
        }
        uint32_t orig_len = read_u32(head + 12, big_endian);
        offsets[count] = pos + PCAP_RECORD_HEADER_LEN;
        caplens[count] = caplen;
        orig_lens[count] = orig_len > caplen ? orig_len : caplen;
        ts[count] = (double)read_u32(head, big_endian) +
                    (double)read_u32(head + 4, big_endian) / ticks;
        count++;
        pos = end;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    Py_ssize_t size = count * (Py_ssize_t)sizeof(int64_t);
    PyObject *result = Py_BuildValue(
        "(y#y#y#y#ni)", (const char *)offsets, size, (const char *)caplens, size,
        (const char *)orig_lens, size, (const char *)ts, size, pos, status);
    PyMem_Free(ints);
    PyMem_Free(ts);
    return result;
}

static PyObject *walk_pcapng(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos;
    int big_endian;
    unsigned long long max_len;
    if (!PyArg_ParseTuple(args, "y*npK", &view, &pos, &big_endian, &max_len)) {
        return NULL;
    }
    const unsigned char *buf = view.buf;
    Py_ssize_t len = view.len;
    Py_ssize_t capacity = (len - pos) / PCAPNG_BLOCK_OVERHEAD + 1;
    if (capacity < 1) {
        capacity = 1;
    }
    int64_t *offsets = PyMem_Malloc(sizeof(int64_t) * capacity);
    uint32_t *types = PyMem_Malloc(sizeof(uint32_t) * capacity);
    unsigned char *heads = PyMem_Calloc(capacity, PCAPNG_HEAD_LEN);
    if (offsets == NULL || types == NULL || heads == NULL) {
        PyMem_Free(offsets);
        PyMem_Free(types);
        PyMem_Free(heads);
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    Py_ssize_t count = 0;
    int status = 0;
    Py_BEGIN_ALLOW_THREADS
    while (pos >= 0 && pos + PCAPNG_BLOCK_HEADER_LEN <= len) {
        uint32_t type = read_u32(buf + pos, big_endian);
        if (type == PCAPNG_SHB) {
            status = 2;
            break;
        }
        uint32_t length = read_u32(buf + pos + 4, big_endian);
        if (length < PCAPNG_BLOCK_OVERHEAD || length % 4 || length > max_len) {
            status = 1;
            break;
        }
        if (pos + (Py_ssize_t)length > len) {
            break;
        }
        offsets[count] = pos;
        types[count] = type;
        memcpy(heads + count * PCAPNG_HEAD_LEN, buf + pos,
               length < PCAPNG_HEAD_LEN ? length : PCAPNG_HEAD_LEN);
        count++;
        pos += length;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    PyObject *result = Py_BuildValue(
        "(y#y#y#ni)", (const char *)offsets, (Py_ssize_t)(count * sizeof(int64_t)),
        (const char *)types, (Py_ssize_t)(count * sizeof(uint32_t)), (const char *)heads,
        (Py_ssize_t)(count * PCAPNG_HEAD_LEN), pos, status);
    PyMem_Free(offsets);
    PyMem_Free(types);
    PyMem_Free(heads);
    return result;
}

static void write_u32(unsigned char *p, uint32_t value, int big_endian) {
    for (int k = 0; k < 4; k++) {
        p[big_endian ? 3 - k : k] = (unsigned char)(value >> (8 * k));
    }
}

/* The bytes a record kept to `keep` bytes takes when packed: a pcap record, or a pcapng
 * Enhanced Packet Block (its packet padded to a multiple of 4, then the block length again). */
static int64_t packed_size(int64_t keep, int pcapng) {
    return pcapng ? PCAPNG_HEAD_LEN + ((keep + 3) & ~(int64_t)3) + 4
                  : PCAP_RECORD_HEADER_LEN + keep;
}

/* pack and pack_epbs: each record's head (the bytes just before offsets[i]) with its lengths
 * set anew, then its first keeps[i] bytes (pcapng: padded, and the block length again). */
static PyObject *pack_records(PyObject *args, int pcapng) {
    Py_buffer view, off, keep;
    int big_endian;
    if (!PyArg_ParseTuple(args, "y*y*y*p", &view, &off, &keep, &big_endian)) {
        return NULL;
    }
    PyObject *result = NULL;
    const unsigned char *buf = view.buf;
    const int64_t *offsets = off.buf, *keeps = keep.buf;
    const int64_t head = pcapng ? PCAPNG_HEAD_LEN : PCAP_RECORD_HEADER_LEN;
    Py_ssize_t n = off.len / (Py_ssize_t)sizeof(int64_t), total = 0;
    if (keep.len != off.len) {
        PyErr_SetString(PyExc_ValueError, "offsets and keeps differ in length");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (offsets[i] < head || keeps[i] < 0 || keeps[i] > UINT32_MAX / 2 ||
            offsets[i] + keeps[i] > view.len) {
            PyErr_Format(PyExc_ValueError, "record %zd lies outside the buffer", i);
            goto done;
        }
        total += (Py_ssize_t)packed_size(keeps[i], pcapng);
    }
    result = PyBytes_FromStringAndSize(NULL, total);
    if (result == NULL) {
        goto done;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(result);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const unsigned char *record = buf + offsets[i];
        int64_t size = packed_size(keeps[i], pcapng);
        memcpy(out, record - head, (size_t)head);
        memcpy(out + head, record, (size_t)keeps[i]);
        if (pcapng) {
            write_u32(out + 4, (uint32_t)size, big_endian);
            write_u32(out + 20, (uint32_t)keeps[i], big_endian);
            memset(out + head + keeps[i], 0, (size_t)(size - 4 - head - keeps[i]));
            write_u32(out + size - 4, (uint32_t)size, big_endian);
        } else {
            write_u32(out + 8, (uint32_t)keeps[i], big_endian);
        }
        out += size;
    }
    Py_END_ALLOW_THREADS
done:
    PyBuffer_Release(&view);
    PyBuffer_Release(&off);
    PyBuffer_Release(&keep);
    return result;
}

static PyObject *walk_pack(PyObject *self, PyObject *args) { return pack_records(args, 0); }

/* pack_epbs(buffer, offsets, keeps, big_endian) -> bytes: pcapng Enhanced Packet Blocks
 * again, each with its packet cut to its first `keeps[i]` bytes: for each packet whose bytes
 * start at offsets[i] (its block's 28 fixed bytes just before them), those bytes with the
 * block length and captured length set anew, the kept bytes, zeros to a multiple of 4, and
 * the block length again (the block's options are left out); one after another. */
static PyObject *walk_pack_epbs(PyObject *self, PyObject *args) { return pack_records(args, 1); }

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* fill(fd, buffer, budget_s) -> (count, idle): read() `fd` into `buffer` until it is full,
 * the stream ends, or `budget_s` has passed, without the GIL. Waits (poll) for bytes within
 * the budget; a signal ends the wait early. idle: nothing came (the budget ran out or a signal
 * came first); (0, 0) is the end of the stream. An error after some bytes returns them (the
 * next call meets it again). */
static PyObject *walk_fill(PyObject *self, PyObject *args) {
    int fd;
    Py_buffer view;
    double budget;
    if (!PyArg_ParseTuple(args, "iw*d", &fd, &view, &budget)) {
        return NULL;
    }
    unsigned char *buf = view.buf;
    Py_ssize_t len = view.len, got = 0;
    int error = 0, idle = 0;
    Py_BEGIN_ALLOW_THREADS
    double until = now_s() + budget;
    while (got < len) {
        double left = until - now_s();
        if (left <= 0) {
            idle = 1;
            break;
        }
        struct pollfd wanted = {fd, POLLIN, 0};
        int ready = poll(&wanted, 1, (int)(left * 1000.0) + 1);
        if (ready <= 0) {
            if (ready < 0 && errno != EINTR) {
                error = errno;
            }
            idle = 1;
            break;
        }
        ssize_t n = read(fd, buf + got, (size_t)(len - got));
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
                continue;
            }
            error = errno;
            break;
        }
        if (n == 0) {
            break;
        }
        got += n;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (error && got == 0) {
        errno = error;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return Py_BuildValue("(ni)", got, idle && got == 0);
}

static PyMethodDef methods[] = {
    {"fill", walk_fill, METH_VARARGS,
     "Read fd into buffer until it is full, the stream ends or the budget passes."},
    {"pcap", walk_pcap, METH_VARARGS, "Walk pcap records: (offsets, heads, next_pos, status)."},
    {"pcap_records", walk_pcap_records, METH_VARARGS,
     "Walk pcap records: (offsets, caplens, orig_lens, ts, next_pos, status)."},
    {"pcapng", walk_pcapng, METH_VARARGS,
     "Walk pcapng blocks: (offsets, types, heads, next_pos, status)."},
    {"pack", walk_pack, METH_VARARGS, "pcap records cut to a length each: their bytes."},
    {"pack_epbs", walk_pack_epbs, METH_VARARGS,
     "pcapng Enhanced Packet Blocks cut to a length each: their bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_walk", "The compiled record walk (pcapmtu/capture/walk.py).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__walk(void) { return PyModule_Create(&module); }
