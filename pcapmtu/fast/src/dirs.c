/* Arrays of per-direction state in the compiled fast pass (deliver.c, waiting.c): grown as new
 * directions come, renumbered when the fast pass forgets some (pcapmtu/fast/screen.py,
 * Screen._compact). */
#include "native.h"

int dirs_grow(void **items, int64_t *n, size_t item_size, int64_t d) {
    if (d < *n) return 0;
    int64_t size = *n ? *n : 1024;
    while (size <= d) size *= 2;
    char *grown = PyMem_Realloc(*items, item_size * (size_t)size);
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(grown + item_size * (size_t)*n, 0, item_size * (size_t)(size - *n));
    *items = grown;
    *n = size;
    return 0;
}

int dirs_renumber(PyObject *ids_bytes, void *items, int64_t n, size_t item_size,
                  void (*forget)(void *item)) {
    Py_buffer ids;
    if (PyObject_GetBuffer(ids_bytes, &ids, PyBUF_SIMPLE) < 0) return -1;
    const int64_t *new_id = ids.buf;
    int64_t count = ids.len / (Py_ssize_t)sizeof(int64_t);
    if (count > n) count = n;
    char *base = items;
    for (int64_t k = 0; k < count; k++) { /* new ids keep the old order: new_id[k] <= k */
        char *item = base + item_size * (size_t)k;
        if (new_id[k] < 0) {
            forget(item);
        } else if (new_id[k] != k) {
            memcpy(base + item_size * (size_t)new_id[k], item, item_size);
            memset(item, 0, item_size);
        }
    }
    PyBuffer_Release(&ids);
    return 0;
}
