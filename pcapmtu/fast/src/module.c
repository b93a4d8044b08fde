/* The method table of pcapmtu.fast._native (native.h lists what each source file does). */
#include "native.h"

static PyMethodDef methods[] = {
    {"tcp_headers", tcp_headers, METH_VARARGS, "The common TCP/IP headers: (kinds, fields)."},
    {"known_directions", known_directions, METH_VARARGS, "Directions of known keys."},
    {"screen_rows", screen_rows, METH_VARARGS, "The TCP rules, row after row."},
    {"state_fields", state_fields, METH_NOARGS, "The per-direction state, by name."},
    {"deliveries_new", deliveries_new, METH_NOARGS, "What each direction delivered: state."},
    {"deliveries_compact", deliveries_compact, METH_VARARGS, "Directions renumbered."},
    {"deliveries_sizes", deliveries_sizes, METH_VARARGS, "Delivered sizes per direction."},
    {"deliveries_most_copies", deliveries_most_copies, METH_VARARGS, "Most copies of a segment."},
    {"deliveries_lowest", deliveries_lowest, METH_VARARGS, "Lowest outstanding segment."},
    {"waiting_new", waiting_new, METH_NOARGS, "What waits for a cumulative ACK: state."},
    {"waiting_compact", waiting_compact, METH_VARARGS, "Directions renumbered."},
    {"waiting_gaps", waiting_gaps, METH_VARARGS, "The gaps still open."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native", "The compiled fast pass (pcapmtu/fast/).", -1, methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
