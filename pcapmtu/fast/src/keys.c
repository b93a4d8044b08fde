/* known_directions: each segment's flow direction, found by a 64-bit mix of its key in a sorted
 * table (the same mix as pcapmtu/fast/screen.py's `mix`), its key then compared in full; or,
 * first, by comparing its key with those of the two directions found last. */
#include "native.h"

/* known_directions(keys, table_mix, table_dir, key_columns) -> bytes of int64
 *   keys: the 7 key columns of the segments (version, src hi, src lo, sport, dst hi, dst lo,
 *   dport; 8-byte integers); table_mix: sorted uint64 mixes of the known directions' keys
 *   (fast/screen.py mix), table_dir: their directions, key_columns: each direction's 7 key values.
 *   Returns each row's direction, or -1 where its key is not known (or its mix collides). */
static const uint64_t mix_multipliers[7] = {
    0x9E3779B97F4A7C15ULL, 0xBF58476D1CE4E5B9ULL, 0x94D049BB133111EBULL, 0xD6E8FEB86659FD93ULL,
    0xA0761D6478BD642FULL, 0xE7037ED1A0B428DBULL, 0x8EBC6AF09C88C6E3ULL};

/* Whether row `r` of the key columns is this direction's key (its 7 values). */
static int same_key(const uint64_t *key, const uint64_t *const *col, Py_ssize_t r) {
    for (int k = 0; k < 7; k++) {
        if (key[k] != col[k][r]) return 0;
    }
    return 1;
}

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
    /* the two directions found last: a transfer's rows alternate between its data and its
     * ACKs, so most rows are one of them (their keys compared in full, no mix, no search) */
    int64_t recent[2] = {-1, -1};
    for (Py_ssize_t r = 0; r < n; r++) {
        int hit = -1;
        for (int j = 0; j < 2 && hit < 0; j++) {
            if (recent[j] >= 0 && same_key(key_columns + 7 * recent[j], col, r)) hit = j;
        }
        if (hit >= 0) {
            int64_t d = recent[hit];
            recent[hit] = recent[0];
            recent[0] = d;
            out[r] = d;
            continue;
        }
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
        if (low < size && table_mix[low] == m &&
            same_key(key_columns + 7 * table_dir[low], col, r)) {
            d = table_dir[low];
            recent[1] = recent[0];
            recent[0] = d;
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

