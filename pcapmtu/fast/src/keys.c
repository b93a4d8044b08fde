/* known_directions: each segment's flow direction, found by a 64-bit mix of its key in a sorted
 * table (the same mix as pcapmtu/fast/screen.py's `mix`), its key then compared in full. */
#include "native.h"

/* known_directions(keys, table_mix, table_dir, key_columns) -> bytes of int64
 *   keys: the 7 key columns of the segments (version, src hi, src lo, sport, dst hi, dst lo,
 *   dport; 8-byte integers); table_mix: sorted uint64 mixes of the known directions' keys
 *   (fast/screen.py mix), table_dir: their directions, key_columns: each direction's 7 key values.
 *   Returns each row's direction, or -1 where its key is not known (or its mix collides). */
static const uint64_t mix_multipliers[7] = {
    0x9E3779B97F4A7C15ULL, 0xBF58476D1CE4E5B9ULL, 0x94D049BB133111EBULL, 0xD6E8FEB86659FD93ULL,
    0xA0761D6478BD642FULL, 0xE7037ED1A0B428DBULL, 0x8EBC6AF09C88C6E3ULL};

PyObject *known_directions(PyObject *self, PyObject *args) {
    PyObject *keys;
    Py_buffer mv, dv, kv;
    if (!PyArg_ParseTuple(args, "O!y*y*y*", &PyTuple_Type, &keys, &mv, &dv, &kv)) return NULL;
    Py_buffer cols[7];
    const uint64_t *col[7];
    int got = 0;
    PyObject *result = NULL;
    int64_t *out = NULL;
    Py_ssize_t n = -1;
    if (PyTuple_GET_SIZE(keys) != 7) {
        PyErr_SetString(PyExc_ValueError, "7 key columns expected");
        goto done;
    }
    for (; got < 7; got++) {
        if (PyObject_GetBuffer(PyTuple_GET_ITEM(keys, got), &cols[got], PyBUF_C_CONTIGUOUS) < 0) {
            goto done;
        }
        Py_ssize_t len = cols[got].len / 8;
        if (cols[got].itemsize != 8 || (n >= 0 && len != n)) {
            got++;
            PyErr_SetString(PyExc_ValueError, "key columns: 8-byte items, all as long");
            goto done;
        }
        n = len;
        col[got] = cols[got].buf;
    }
    const uint64_t *table_mix = mv.buf, *key_columns = kv.buf;
    const int64_t *table_dir = dv.buf;
    Py_ssize_t size = mv.len / 8;
    out = PyMem_Malloc(sizeof(int64_t) * (n > 0 ? n : 1));
    if (out == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        uint64_t m = 0;
        for (int k = 0; k < 7; k++) {
            m = (m ^ col[k][r]) * mix_multipliers[k];
            m ^= m >> 29;
        }
        Py_ssize_t low = 0, high = size;
        while (low < high) {
            Py_ssize_t mid = (low + high) / 2;
            if (table_mix[mid] < m) low = mid + 1; else high = mid;
        }
        int64_t d = -1;
        if (low < size && table_mix[low] == m) {
            int64_t candidate = table_dir[low];
            int same = 1;
            for (int k = 0; k < 7 && same; k++) same = key_columns[7 * candidate + k] == col[k][r];
            if (same) d = candidate;
        }
        out[r] = d;
    }
    result = Py_BuildValue("y#", (const char *)out, n * 8);
done:
    for (int k = 0; k < got; k++) PyBuffer_Release(&cols[k]);
    PyBuffer_Release(&mv);
    PyBuffer_Release(&dv);
    PyBuffer_Release(&kv);
    PyMem_Free(out);
    return result;
}

