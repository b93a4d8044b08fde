/* screen_rows: the fast pass's per-row core (pcapmtu/fast/screen.py explains). Each rule here is
 * one of pcapmtu/tcp.py, applied row after row to a direction's segments and to the ACKs its peer
 * sends: sequence unwrapping, retransmission, keep-alive, duplicate ACK, SACK and D-SACK. Tests
 * check that the facts it yields equal the exact pass's (pcapmtu/flows.py) on every capture. */
#include "native.h"

#include <math.h>

#define NONE_SEQ (-(((int64_t)1) << 42))
#define SEQ_HALF (((int64_t)1) << 31)
#define SEQ_MASK ((((int64_t)1) << 32) - 1)
#define TCP_FIN 0x01
#define TCP_SYN_FLAG 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define ETHERNET_MTU 1500
#define STUCK_DUP_ACKS 2      /* tcp.STUCK_DUP_ACKS */
#define DUP_ACK_WITHIN_S 1.0  /* tcp.DUP_ACK_WITHIN_S */

static int64_t sd(int64_t delta) { return ((delta + SEQ_HALF) & SEQ_MASK) - SEQ_HALF; }

/* An int64 (or float64) array from a dict, `n` items at least (times `width`). */
static void *array_of(PyObject *dict, const char *name, Py_buffer *view, Py_ssize_t n,
                      Py_ssize_t width, int writable) {
    PyObject *value = PyDict_GetItemString(dict, name);
    if (value == NULL) {
        PyErr_Format(PyExc_KeyError, "%s", name);
        return NULL;
    }
    int how = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(value, view, how) < 0) return NULL;
    if (view->itemsize != 8 || view->len < n * width * 8) {
        PyBuffer_Release(view);
        view->obj = NULL;
        PyErr_Format(PyExc_ValueError, "%s: not 8-byte items, or too few", name);
        return NULL;
    }
    return view->buf;
}

enum {
    C_SEQ, C_ACK, C_FLAGS, C_WINDOW, C_PAYLOAD, C_IP_LEN, C_HEADER_LEN, C_TCP_HEADER_LEN, C_MSS,
    C_TS, C_FRAME, C_SACK_COUNT, C_SACK_LEFT, C_SACK_RIGHT, C_DIRS, N_COLUMNS
};
static const char *column_names[N_COLUMNS] = {
    "seq", "ack", "flags", "window", "payload_len", "ip_len", "header_len", "tcp_header_len",
    "mss", "ts", "frame", "sack_count", "sack_left", "sack_right", "dirs"};
/* per direction: the hosts it goes from and to, its peer (-1: none yet) and its flow; per host:
 * the largest MSS its SYNs announced */
enum { H_SRC, H_DST, H_PEER, H_FLOW, H_MAX, N_HOSTS };
static const char *host_names[N_HOSTS] = {"src_host", "dst_host", "peer_of", "flow_of",
                                          "host_max"};
enum {
    S_PACKETS, S_DATA_PACKETS, S_DATA_BYTES, S_RETRANSMISSIONS, S_DUP_ACKS, S_SACK_BLOCKS,
    S_DSACKS, S_LARGEST_IP_LEN, S_LAST_DATA_MSS_BYTES, S_MAX_HEADER_LEN, S_MAX_PAYLOAD,
    S_SYN_MSS, S_SYN_SEEN,
    S_HAS_SENT, S_LAST_RAW, S_LAST_ABS, S_SND_MAX, S_CUM_ACK, S_LAST_PURE_ACK,
    S_LAST_PURE_WINDOW, S_ACKED_UNSEEN, S_UNSEEN_START, S_UNSEEN_END, S_SKIP_START,
    S_SKIP_END, S_FIRST_FRAME, S_NEWEST_PUSH, S_NEWEST_MSS_BYTES, S_ENDED,
    S_LAST_FRAME, S_ACK_RAW, S_ACK_ABS, S_ACK_CUM, S_ACK_WINDOW, S_STUCK_DUPS,
    S_STUCK_HOLE, S_FIRST_TS, S_LAST_TS, S_LAST_DATA_TS, S_GAP_SINCE,
    S_ZERO_WINDOW_SINCE, S_ZERO_WINDOW_S, S_ACK_TS, S_STUCK_SINCE, S_FINISHED, N_STATE
};
static const char *state_names[N_STATE] = {
    "packets", "data_packets", "data_bytes", "retransmissions", "dup_acks", "sack_blocks",
    "dsacks", "largest_ip_len", "last_data_mss_bytes", "max_header_len", "max_payload",
    "syn_mss", "syn_seen",
    "has_sent", "last_raw", "last_abs", "snd_max", "cum_ack", "last_pure_ack",
    "last_pure_window", "acked_unseen", "unseen_start", "unseen_end", "skip_start",
    "skip_end", "first_frame", "newest_push", "newest_mss_bytes", "ended",
    "last_frame", "ack_raw", "ack_abs", "ack_cum", "ack_window", "stuck_dups",
    "stuck_hole", "first_ts", "last_ts", "last_data_ts", "gap_since",
    "zero_window_since", "zero_window_s", "ack_ts", "stuck_since", "finished"};

/* The IP size of the largest packet a segment's bytes can have crossed the wire in, given the
 * MSS its receiver announced (0: none known): flows.wire_size. */
static int64_t wire_size(int64_t ip_len, int64_t payload, int64_t header_len, int64_t tcp_header,
                         int64_t peer_mss) {
    if (peer_mss <= 0) return ip_len <= ETHERNET_MTU ? ip_len : 0;
    if (payload <= peer_mss) return ip_len;
    int64_t room = peer_mss - (tcp_header - 20);
    return header_len + (room > 1 ? room : 1);
}

/* screen_rows(columns, state, deliveries, hosts, waiting) -> tally
 *   columns: the batch's segment columns, in frame order, plus "dirs" (each row's direction);
 *   state: the screen's per-direction arrays (per flow: "finished"), updated in place,
 *   "longest_gap" among them; deliveries: what each direction delivered (deliver.c), updated;
 *   hosts: per direction "src_host", "dst_host", "peer_of" (-1: none) and "flow_of", per host
 *   "host_max" (updated); waiting: new data and gaps waiting for an ACK (waiting.c), updated.
 *   Returns this call's tally by direction and IP size (waiting.c, tally_result): the payloads
 *   of new data, how many were acknowledged, what was re-sent. */
PyObject *screen_rows(PyObject *self, PyObject *args) {
    PyObject *columns, *state, *capsule, *hosts, *waiting;
    if (!PyArg_ParseTuple(args, "O!O!OO!O", &PyDict_Type, &columns, &PyDict_Type, &state,
                          &capsule, &PyDict_Type, &hosts, &waiting)) {
        return NULL;
    }
    Deliveries *D = deliveries_of(capsule);
    if (D == NULL) return NULL;
    Waiting *W = waiting_of(waiting);
    if (W == NULL) return NULL;
    Py_buffer cv[N_COLUMNS], sv[N_STATE], hv[N_HOSTS], gv;
    int64_t *c[N_COLUMNS], *st[N_STATE], *h[N_HOSTS];
    for (int k = 0; k < N_COLUMNS; k++) cv[k].obj = NULL;
    for (int k = 0; k < N_STATE; k++) sv[k].obj = NULL;
    for (int k = 0; k < N_HOSTS; k++) hv[k].obj = NULL;
    gv.obj = NULL;
    PyObject *result = NULL;
    Tally tally;
    if (tally_init(&tally) < 0) return NULL;
    PyObject *dirs_obj = PyDict_GetItemString(columns, "dirs");
    Py_ssize_t n = dirs_obj ? PyObject_Length(dirs_obj) : -1;
    if (n < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_KeyError, "dirs");
        return NULL;
    }
    for (int k = 0; k < N_COLUMNS; k++) {
        Py_ssize_t width = (k == C_SACK_LEFT || k == C_SACK_RIGHT) ? 4 : 1;
        c[k] = array_of(columns, column_names[k], &cv[k], n, width, 0);
        if (c[k] == NULL) goto done;
    }
    for (int k = 0; k < N_STATE; k++) {
        st[k] = array_of(state, state_names[k], &sv[k], 0, 1, 1);
        if (st[k] == NULL) goto done;
    }
    for (int k = 0; k < N_HOSTS; k++) {
        h[k] = array_of(hosts, host_names[k], &hv[k], 0, 1, k == H_MAX);
        if (h[k] == NULL) goto done;
    }
    double *longest = array_of(state, "longest_gap", &gv, 0, 1, 1);
    if (longest == NULL) goto done;
    double *ts = (double *)c[C_TS], *first_ts = (double *)st[S_FIRST_TS];
    double *last_ts = (double *)st[S_LAST_TS], *last_data_ts = (double *)st[S_LAST_DATA_TS];
    double *gap_since = (double *)st[S_GAP_SINCE];
    double *zero_since = (double *)st[S_ZERO_WINDOW_SINCE];
    double *zero_longest = (double *)st[S_ZERO_WINDOW_S];
    double *stuck_since = (double *)st[S_STUCK_SINCE], *ack_ts = (double *)st[S_ACK_TS];
    for (Py_ssize_t r = 0; r < n; r++) {
        int64_t d = c[C_DIRS][r], p = h[H_PEER][d], flags = c[C_FLAGS][r];
        int64_t payload = c[C_PAYLOAD][r], ip_len = c[C_IP_LEN][r], raw = c[C_SEQ][r];
        /* the segment as its sender's; tcp.unwrap */
        int64_t seq = st[S_HAS_SENT][d] ? st[S_LAST_ABS][d] + sd(raw - st[S_LAST_RAW][d]) : 0;
        st[S_LAST_RAW][d] = raw;
        st[S_LAST_ABS][d] = seq;
        st[S_HAS_SENT][d] = 1;
        /* tcp.seq_length, tcp.is_keepalive, tcp.is_retransmission */
        int64_t length = payload + ((flags & TCP_SYN_FLAG) != 0) + ((flags & TCP_FIN) != 0);
        int64_t end = seq + length, before = st[S_SND_MAX][d];
        int keepalive = payload <= 1 && seq == before - 1 && !(flags & (TCP_SYN_FLAG | TCP_FIN)) &&
                        st[S_CUM_ACK][d] != NONE_SEQ && st[S_CUM_ACK][d] >= before;
        int resent = length > 0 && before != NONE_SEQ && seq < before && !keepalive;
        /* tcp.fill_skip, then tcp.skips_data: the first bytes its data skipped, not filled */
        if (st[S_SKIP_START][d] != NONE_SEQ && seq <= st[S_SKIP_START][d] &&
            st[S_SKIP_START][d] < end) {
            st[S_SKIP_START][d] = end;
            if (end >= st[S_SKIP_END][d]) st[S_SKIP_START][d] = st[S_SKIP_END][d] = NONE_SEQ;
        }
        if (st[S_SKIP_START][d] == NONE_SEQ && payload > 0 && before != NONE_SEQ && seq > before) {
            st[S_SKIP_START][d] = before;
            st[S_SKIP_END][d] = seq;
        }
        /* tcp.skips_unseen: a segment without data numbered beyond every byte seen sent */
        if (payload == 0 && !(flags & (TCP_SYN_FLAG | TCP_RST)) && before != NONE_SEQ &&
            seq > before) {
            if (st[S_UNSEEN_START][d] == NONE_SEQ) st[S_UNSEEN_START][d] = before;
            if (seq > st[S_UNSEEN_END][d]) st[S_UNSEEN_END][d] = seq;
        }
        if (length > 0 && end > before) st[S_SND_MAX][d] = end;
        st[S_PACKETS][d] += 1;
        st[S_RETRANSMISSIONS][d] += resent;
        if (resent && tally_resent(&tally, d, ip_len, payload) < 0) goto done;
        if (payload > 0) {
            st[S_DATA_PACKETS][d] += 1;
            st[S_DATA_BYTES][d] += payload;
            last_data_ts[d] = ts[r];
            if (ip_len > st[S_LARGEST_IP_LEN][d]) st[S_LARGEST_IP_LEN][d] = ip_len;
            /* its payload and TCP options: what a full-size segment fills its MSS with */
            st[S_LAST_DATA_MSS_BYTES][d] = payload + c[C_TCP_HEADER_LEN][r] - 20;
            if (before == NONE_SEQ || seq >= before) { /* its newest data */
                st[S_NEWEST_PUSH][d] = (flags & TCP_PSH) != 0; /* the end of a write */
                st[S_NEWEST_MSS_BYTES][d] = st[S_LAST_DATA_MSS_BYTES][d];
            }
            if (c[C_HEADER_LEN][r] > st[S_MAX_HEADER_LEN][d]) {
                st[S_MAX_HEADER_LEN][d] = c[C_HEADER_LEN][r];
            }
            if (payload > st[S_MAX_PAYLOAD][d]) st[S_MAX_PAYLOAD][d] = payload;
            if ((before == NONE_SEQ || seq >= before) && ip_len <= ETHERNET_MTU &&
                waiting_new_data(W, &tally, d, end, ip_len, payload, st[S_CUM_ACK][d],
                                 NONE_SEQ) < 0) {
                goto done;
            }
        }
        if (flags & TCP_SYN_FLAG) {
            st[S_SYN_MSS][d] = c[C_MSS][r];
            st[S_SYN_SEEN][d] = 1;
            int64_t mss = c[C_MSS][r], *known = &h[H_MAX][h[H_SRC][d]];
            if (mss > 0 && mss > *known) *known = mss;
        }
        if (length > 0) { /* what the segment puts in flight: flows.Direction.on_send */
            int64_t peer_mss = p >= 0 && st[S_SYN_MSS][p] > 0 ? st[S_SYN_MSS][p]
                                                               : h[H_MAX][h[H_DST][d]];
            int64_t wire = wire_size(ip_len, payload, c[C_HEADER_LEN][r],
                                     c[C_TCP_HEADER_LEN][r], peer_mss);
            int fin_alone = (flags & TCP_FIN) && !(flags & TCP_SYN_FLAG);
            if (deliveries_send(D, d, seq, end, before, st[S_CUM_ACK][d], NONE_SEQ, payload,
                                fin_alone, ip_len, wire, ts[r], c[C_FRAME][r]) < 0) {
                goto done;
            }
        }
        if (first_ts[d] != first_ts[d]) { /* NaN: its first segment */
            first_ts[d] = ts[r];
            st[S_FIRST_FRAME][d] = c[C_FRAME][r];
        }
        last_ts[d] = ts[r];
        st[S_LAST_FRAME][d] = c[C_FRAME][r];
        if (flags & (TCP_FIN | TCP_RST)) { /* tcp.ends_connection */
            st[S_FINISHED][h[H_FLOW][d]] = 1;
            st[S_ENDED][d] = 1;
        }
        /* its peer not seen yet: what its own ACKs say of the peer's data (tcp.stuck_ack) */
        if ((p < 0 || !st[S_HAS_SENT][p]) && (flags & TCP_ACK) &&
            !(flags & (TCP_SYN_FLAG | TCP_RST))) {
            int64_t ack_raw = c[C_ACK][r], window = c[C_WINDOW][r], *cum = &st[S_ACK_CUM][d];
            int first = *cum == NONE_SEQ;
            int64_t ack = first ? 0 : st[S_ACK_ABS][d] + sd(ack_raw - st[S_ACK_RAW][d]);
            if (first || ack > *cum) {
                *cum = ack;
                st[S_STUCK_DUPS][d] = st[S_STUCK_HOLE][d] = 0;
                stuck_since[d] = NAN;
            }
            int probe = before != NONE_SEQ && seq < before; /* a keep-alive or window probe */
            if (!first && payload == 0 && !(flags & TCP_FIN) && !probe && window > 0 &&
                ack == *cum && ack == st[S_ACK_ABS][d] && window == st[S_ACK_WINDOW][d] &&
                ts[r] - ack_ts[d] < DUP_ACK_WITHIN_S) {
                st[S_STUCK_DUPS][d] += 1;
            }
            st[S_ACK_RAW][d] = ack_raw;
            st[S_ACK_ABS][d] = ack;
            st[S_ACK_WINDOW][d] = window;
            ack_ts[d] = ts[r];
            int beyond = 0;
            for (int64_t k = 0; k < c[C_SACK_COUNT][r] && k < 4; k++) {
                int64_t left_raw = c[C_SACK_LEFT][4 * r + k];
                int64_t left = ack + sd(left_raw - ack_raw);
                if (sd(c[C_SACK_RIGHT][4 * r + k] - left_raw) > 0 && left > *cum) {
                    beyond = 1;
                    int64_t hole = left - *cum, *known = &st[S_STUCK_HOLE][d];
                    if (*known == 0 || hole < *known) *known = hole;
                }
            }
            if ((beyond || st[S_STUCK_DUPS][d] >= STUCK_DUP_ACKS) &&
                stuck_since[d] != stuck_since[d]) {
                stuck_since[d] = ts[r];
            }
        }
        /* the segment as an acknowledgement of its peer's data */
        if (p >= 0 && st[S_HAS_SENT][p] && (flags & TCP_ACK)) {
            int64_t ack = st[S_LAST_ABS][p] + sd(c[C_ACK][r] - st[S_LAST_RAW][p]);
            int64_t old_cum = st[S_CUM_ACK][p];
            int64_t cum = old_cum > ack ? old_cum : ack;
            int64_t top = st[S_SND_MAX][p], window = c[C_WINDOW][r];
            /* what it delivers: flows.Direction.on_peer_ack (SACK blocks, then cumulative) */
            for (int64_t k = 0; k < c[C_SACK_COUNT][r] && k < 4; k++) {
                int64_t last_raw = st[S_LAST_RAW][p], last_abs = st[S_LAST_ABS][p];
                int64_t left = last_abs + sd(c[C_SACK_LEFT][4 * r + k] - last_raw);
                int64_t right = last_abs + sd(c[C_SACK_RIGHT][4 * r + k] - last_raw);
                if (deliveries_sack(D, p, left, right, ack) < 0) goto done;
            }
            if ((old_cum == NONE_SEQ || ack > old_cum) && deliveries_cumulative(D, p, ack) < 0) {
                goto done;
            }
            st[S_CUM_ACK][p] = cum;
            /* what waited for it: new data now acknowledged, gaps now closed */
            if (waiting_cumulative(W, &tally, p, cum, ts[r], longest) < 0) goto done;
            /* tcp.is_pure_ack, tcp.is_dup_ack */
            int pure = payload == 0 && !(flags & (TCP_SYN_FLAG | TCP_FIN | TCP_RST));
            int64_t pure_ack = pure ? ack : NONE_SEQ, prev = st[S_LAST_PURE_ACK][p];
            if (pure && prev != NONE_SEQ && pure_ack == prev &&
                window == st[S_LAST_PURE_WINDOW][p] && ack < top) {
                st[S_DUP_ACKS][p] += 1;
            }
            st[S_LAST_PURE_ACK][p] = pure_ack;
            st[S_LAST_PURE_WINDOW][p] = window;
            /* tcp.window_state: a zero window opens a closed spell (NaN: none), an open one
             * ends it */
            if (!(flags & (TCP_SYN_FLAG | TCP_RST))) {
                if (window == 0) {
                    if (zero_since[p] != zero_since[p]) zero_since[p] = ts[r];
                } else if (zero_since[p] == zero_since[p]) {
                    double spell = ts[r] - zero_since[p];
                    if (spell > zero_longest[p]) zero_longest[p] = spell;
                    zero_since[p] = NAN;
                }
            }
            int64_t blocks = c[C_SACK_COUNT][r];
            for (int64_t k = 0; k < blocks && k < 4; k++) {
                int64_t left = c[C_SACK_LEFT][4 * r + k], right = c[C_SACK_RIGHT][4 * r + k];
                if (sd(right - left) > 0) { /* tcp.is_valid_sack, tcp.is_dsack */
                    st[S_SACK_BLOCKS][p] += 1;
                    if (sd(right - c[C_ACK][r]) <= 0) st[S_DSACKS][p] += 1;
                }
            }
            if (cum != NONE_SEQ && cum > top) st[S_ACKED_UNSEEN][p] = 1;
            /* an ACK below the data sent opens a gap, until a cumulative ACK reaches it */
            if (cum != NONE_SEQ && top != NONE_SEQ && cum < top) {
                if (waiting_gap(W, p, top, ts[r]) < 0) goto done;
                /* since when the cumulative ACK, not moved since, stays below data sent */
                if (cum > old_cum || old_cum == NONE_SEQ || gap_since[p] != gap_since[p]) {
                    gap_since[p] = ts[r];
                }
            } else {
                gap_since[p] = NAN;
            }
        }
    }
    result = tally_result(&tally);
done:
    for (int k = 0; k < N_COLUMNS; k++) if (cv[k].obj) PyBuffer_Release(&cv[k]);
    for (int k = 0; k < N_STATE; k++) if (sv[k].obj) PyBuffer_Release(&sv[k]);
    for (int k = 0; k < N_HOSTS; k++) if (hv[k].obj) PyBuffer_Release(&hv[k]);
    if (gv.obj) PyBuffer_Release(&gv);
    tally_free(&tally);
    return result;
}


/* state_fields() -> (int names, float names): the per-direction state screen_rows keeps, by
 * name. The fast pass (pcapmtu/fast/screen.py) allocates these arrays, and a name that is also
 * a field of pcapmtu.model.DirectionFacts becomes that fact: a new fact is a field there, a
 * state here, and its rule in pcapmtu/flows.py. */
PyObject *state_fields(PyObject *self, PyObject *unused) {
    PyObject *ints = PyTuple_New(S_FIRST_TS), *floats = PyTuple_New(S_FINISHED - S_FIRST_TS);
    if (ints == NULL || floats == NULL) {
        Py_XDECREF(ints);
        Py_XDECREF(floats);
        return NULL;
    }
    for (int k = 0; k < S_FINISHED; k++) {
        PyObject *name = PyUnicode_FromString(state_names[k]);
        if (name == NULL) {
            Py_DECREF(ints);
            Py_DECREF(floats);
            return NULL;
        }
        if (k < S_FIRST_TS) {
            PyTuple_SET_ITEM(ints, k, name);
        } else {
            PyTuple_SET_ITEM(floats, k - S_FIRST_TS, name);
        }
    }
    return Py_BuildValue("(NN)", ints, floats);
}
