/* The compiled parts of reading a capture: record walkers for pcapmtu.walk (where each record
 * or block starts), and the fast lane of decoding for pcapmtu.headers (common TCP/IP headers).
 *
 * The walk is the one loop of the reader that cannot be vectorised (each record's length says
 * where the next begins). pcapmtu/walk.py holds the same walk in Python and pcapmtu/headers.py
 * the same decoding in numpy, used when this module was not built; tests check that all of them
 * give the same answers.
 *
 * pcap(buffer, pos, big_endian, max_caplen) -> (offsets, heads, next_pos, status)
 *   offsets: bytes of int64, where each complete record starts; heads: its 16-byte record
 *   header, copied (n * 16 bytes); next_pos: the first byte not walked; status: 0 the buffer
 *   ran out, 1 a record claimed more than max_caplen bytes (at next_pos).
 * pcapng(buffer, pos, big_endian, max_len) -> (offsets, types, heads, next_pos, status)
 *   types: bytes of uint32, each block's type; heads: its first 28 bytes (an Enhanced Packet
 *   Block's fixed fields), zero-padded; status: 0 the buffer ran out, 1 a bad block length (at
 *   next_pos), 2 a Section Header Block starts at next_pos (its byte order may differ: the
 *   caller reads it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

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

/* ---- the fast lane of decoding (pcapmtu/headers.py explains; same rules as its numpy lane) */

#define LINK_NULL 0
#define LINK_ETHERNET 1
#define LINK_RAW_BSD 12
#define LINK_RAW_OPENBSD 14
#define LINK_RAW 101
#define LINK_LOOP 108
#define LINK_SLL 113
#define LINK_IPV4 228
#define LINK_IPV6 229
#define LINK_SLL2 276
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86DD
#define ETHERTYPE_VLAN 0x8100
#define SACK_KEPT 4 /* SACK blocks kept per segment: 40 option bytes hold no more */
#define FIELDS (16 + 2 * SACK_KEPT) /* per TCP row: see tcp_headers() */

enum { SLOW = 0, TCP = 1, UDP = 2 };

static unsigned be16(const unsigned char *p) { return ((unsigned)p[0] << 8) | p[1]; }
static uint64_t be32(const unsigned char *p) { return read_u32(p, 1); }
static uint64_t be64(const unsigned char *p) { return (be32(p) << 32) | be32(p + 4); }
static int is_ip(unsigned ethertype) {
    return ethertype == ETHERTYPE_IPV4 || ethertype == ETHERTYPE_IPV6;
}

/* Where the IP header starts in a record, or -1 when its link layer is not a common one. */
static long ip_offset(const unsigned char *r, int64_t caplen, int64_t link) {
    switch (link) {
    case LINK_RAW: case LINK_RAW_BSD: case LINK_RAW_OPENBSD: case LINK_IPV4: case LINK_IPV6:
        return 0;
    case LINK_NULL: case LINK_LOOP:
        return caplen > 4 ? 4 : -1;
    case LINK_ETHERNET:
        if (caplen < 14) return -1;
        if (is_ip(be16(r + 12))) return 14;
        if (be16(r + 12) == ETHERTYPE_VLAN && caplen >= 18 && is_ip(be16(r + 16))) return 18;
        return -1;
    case LINK_SLL:
        return caplen >= 16 && is_ip(be16(r + 14)) ? 16 : -1;
    case LINK_SLL2:
        return caplen >= 20 && is_ip(be16(r)) ? 20 : -1;
    default:
        return -1;
    }
}

/* TCP options read as pcapmtu/decode.py reads them (dpkt's parse_opts, stopped at
 * End-of-Options or at an option cut short): the MSS (the last one; 0 if none) and the SACK
 * blocks (their number, and the edges of the first SACK_KEPT). */
static void tcp_options(const unsigned char *x, int64_t len, int64_t *out) {
    int64_t i = 0, mss = 0, count = 0;
    while (i < len) {
        int kind = x[i];
        if (kind == 0) break;
        if (kind == 1) {
            i += 1;
            continue;
        }
        if (i + 1 >= len) break; /* no length byte */
        int64_t size = x[i + 1] < 2 ? 2 : x[i + 1];
        int64_t value_len = (i + size <= len ? size : len - i) - 2;
        const unsigned char *value = x + i + 2;
        if (kind == 2 && value_len == 2) {
            mss = be16(value);
        } else if (kind == 5 && value_len % 8 == 0) {
            for (int64_t k = 0; k < value_len / 8; k++, count++) {
                if (count < SACK_KEPT) {
                    out[16 + 2 * count] = (int64_t)be32(value + 8 * k);
                    out[17 + 2 * count] = (int64_t)be32(value + 8 * k + 4);
                }
            }
        }
        i += size;
    }
    out[15] = count < SACK_KEPT ? count : SACK_KEPT;
    out[16 + 2 * SACK_KEPT] = mss;
}

/* One record: SLOW, UDP, or TCP with its fields written to `out`. */
static int tcp_row(const unsigned char *r, int64_t caplen, int64_t orig_len, int64_t link,
                   int64_t *out) {
    long ip = ip_offset(r, caplen, link);
    if (ip < 0 || ip >= caplen) return SLOW;
    const unsigned char *o = r + ip;
    int64_t room = caplen - ip, wire = orig_len - ip, total, ip_header;
    int version = o[0] >> 4, proto;
    uint64_t src_hi = 0, src_lo, dst_hi = 0, dst_lo;
    if (version == 4) {
        ip_header = (o[0] & 0x0F) * 4;
        if (ip_header < 20 || ip_header > room) return SLOW;
        total = be16(o + 2);
        if (total == 0) total = wire;
        if (total < ip_header || (be16(o + 6) & 0x3FFF)) return SLOW;
        proto = o[9];
        src_lo = be32(o + 12);
        dst_lo = be32(o + 16);
    } else if (version == 6) {
        if (room < 40) return SLOW;
        unsigned payload = be16(o + 4);
        total = payload ? 40 + (int64_t)payload : wire;
        ip_header = 40;
        proto = o[6];
        src_hi = be64(o + 8);
        src_lo = be64(o + 16);
        dst_hi = be64(o + 24);
        dst_lo = be64(o + 32);
    } else {
        return SLOW;
    }
    if (proto == 17) return UDP;
    if (proto != 6 || ip_header + 20 > room) return SLOW;
    const unsigned char *t = o + ip_header;
    unsigned off_flags = be16(t + 12);
    int64_t tcp_header = (off_flags >> 12) * 4, payload = total - ip_header - tcp_header;
    int flags = off_flags & 0xFF;
    if (tcp_header < 20 || payload < 0 || ip_header + tcp_header > room) return SLOW;
    for (int k = 15; k < FIELDS + 1; k++) out[k] = 0;
    tcp_options(t + 20, tcp_header - 20, out);
    out[1] = version;
    out[2] = (int64_t)src_hi;
    out[3] = (int64_t)src_lo;
    out[4] = (int64_t)dst_hi;
    out[5] = (int64_t)dst_lo;
    out[6] = be16(t);
    out[7] = be16(t + 2);
    out[8] = (int64_t)be32(t + 4);
    out[9] = (int64_t)be32(t + 8);
    out[10] = flags;
    out[11] = be16(t + 14);
    out[12] = total;
    out[13] = ip_header + tcp_header;
    out[14] = payload;
    return TCP;
}

/* tcp_headers(buffer, offsets, caplens, orig_lens, link_types) -> (kinds, fields)
 *   inputs: the batch's bytes and four int64 arrays; kinds: one byte per record (0: for the
 *   one-by-one decoder, 1: TCP, 2: UDP); fields: FIELDS + 1 int64 per TCP record, in order:
 *   record index, IP version, src hi, src lo, dst hi, dst lo, sport, dport, seq, ack, flags,
 *   window, IP length, header length, payload length, SACK blocks, SACK_KEPT (left, right),
 *   MSS (0: none). */
static PyObject *tcp_headers(PyObject *self, PyObject *args) {
    Py_buffer data, off, cap, orig, link;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*", &data, &off, &cap, &orig, &link)) {
        return NULL;
    }
    Py_ssize_t n = off.len / (Py_ssize_t)sizeof(int64_t);
    const int64_t *offsets = off.buf, *caplens = cap.buf, *origs = orig.buf, *links = link.buf;
    unsigned char *kinds = PyMem_Malloc(n > 0 ? n : 1);
    int64_t *fields = PyMem_Malloc(sizeof(int64_t) * (FIELDS + 1) * (n > 0 ? n : 1));
    PyObject *result = NULL;
    if (kinds == NULL || fields == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t rows = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t *out = fields + rows * (FIELDS + 1);
        const unsigned char *r = (const unsigned char *)data.buf + offsets[i];
        int kind = offsets[i] + caplens[i] <= data.len ? tcp_row(r, caplens[i], origs[i], links[i], out)
                                                       : SLOW;
        kinds[i] = (unsigned char)kind;
        if (kind == TCP) {
            out[0] = i;
            rows++;
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(y#y#)", (const char *)kinds, n, (const char *)fields,
                           (Py_ssize_t)(rows * (FIELDS + 1) * sizeof(int64_t)));
done:
    PyMem_Free(kinds);
    PyMem_Free(fields);
    PyBuffer_Release(&data);
    PyBuffer_Release(&off);
    PyBuffer_Release(&cap);
    PyBuffer_Release(&orig);
    PyBuffer_Release(&link);
    return result;
}

/* ---- the screen's per-row core (pcapmtu/screen.py explains; same rules as its numpy path) */

#define NONE_SEQ (-(((int64_t)1) << 42))
#define SEQ_HALF (((int64_t)1) << 31)
#define SEQ_MASK ((((int64_t)1) << 32) - 1)
#define TCP_FIN 0x01
#define TCP_SYN_FLAG 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10
#define ETHERNET_MTU 1500
enum { RESENT = 1, NEW_DATA = 2, ACKING = 4, GAP = 8 };

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
    C_SEQ, C_ACK, C_FLAGS, C_WINDOW, C_PAYLOAD, C_IP_LEN, C_HEADER_LEN, C_MSS, C_TS, C_FRAME,
    C_SACK_COUNT, C_SACK_LEFT, C_SACK_RIGHT, C_DIRS, C_PEERS, C_FLOWS, N_COLUMNS
};
static const char *column_names[N_COLUMNS] = {
    "seq", "ack", "flags", "window", "payload_len", "ip_len", "header_len", "mss", "ts",
    "frame", "sack_count", "sack_left", "sack_right", "dirs", "peers", "flows"};
enum {
    S_PACKETS, S_DATA_PACKETS, S_DATA_BYTES, S_RETRANSMISSIONS, S_DUP_ACKS, S_SACK_BLOCKS,
    S_DSACKS, S_LARGEST_IP_LEN, S_MAX_HEADER_LEN, S_MAX_PAYLOAD, S_SYN_MSS, S_SYN_SEEN,
    S_HAS_SENT, S_LAST_RAW, S_LAST_ABS, S_SND_MAX, S_CUM_ACK, S_LAST_PURE_ACK,
    S_LAST_PURE_WINDOW, S_ACKED_UNSEEN, S_FIRST_FRAME, S_LAST_FRAME, S_FIRST_TS, S_LAST_TS,
    S_FINISHED, N_STATE
};
static const char *state_names[N_STATE] = {
    "packets", "data_packets", "data_bytes", "retransmissions", "dup_acks", "sack_blocks",
    "dsacks", "largest_ip_len", "max_header_len", "max_payload", "syn_mss", "syn_seen",
    "has_sent", "last_raw", "last_abs", "snd_max", "cum_ack", "last_pure_ack",
    "last_pure_window", "acked_unseen", "first_frame", "last_frame", "first_ts", "last_ts",
    "finished"};

/* screen_rows(columns, state) -> (end, code, cum, top)
 *   columns: the batch's segment columns, in frame order, plus "dirs", "peers" (-1: none)
 *   and "flows" per row; state: the screen's per-direction arrays (per flow: "finished"),
 *   updated in place. Returns, per row, bytes of int64 (end: its sequence end; cum: the
 *   cumulative ACK after it; top: the highest sequence its peer had sent) and of uint8
 *   (code: RESENT, NEW_DATA, ACKING, GAP bits). */
static PyObject *screen_rows(PyObject *self, PyObject *args) {
    PyObject *columns, *state;
    if (!PyArg_ParseTuple(args, "O!O!", &PyDict_Type, &columns, &PyDict_Type, &state)) {
        return NULL;
    }
    Py_buffer cv[N_COLUMNS], sv[N_STATE];
    int64_t *c[N_COLUMNS], *st[N_STATE];
    for (int k = 0; k < N_COLUMNS; k++) cv[k].obj = NULL;
    for (int k = 0; k < N_STATE; k++) sv[k].obj = NULL;
    PyObject *result = NULL;
    int64_t *out_end = NULL, *out_cum = NULL, *out_top = NULL;
    unsigned char *out_code = NULL;
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
    double *ts = (double *)c[C_TS], *first_ts = (double *)st[S_FIRST_TS];
    double *last_ts = (double *)st[S_LAST_TS];
    out_end = PyMem_Malloc(sizeof(int64_t) * (n + 1));
    out_cum = PyMem_Malloc(sizeof(int64_t) * (n + 1));
    out_top = PyMem_Malloc(sizeof(int64_t) * (n + 1));
    out_code = PyMem_Malloc(n + 1);
    if (!out_end || !out_cum || !out_top || !out_code) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        int64_t d = c[C_DIRS][r], p = c[C_PEERS][r], flags = c[C_FLAGS][r];
        int64_t payload = c[C_PAYLOAD][r], ip_len = c[C_IP_LEN][r], raw = c[C_SEQ][r];
        unsigned char code = 0;
        /* the segment as its sender's */
        int64_t seq = st[S_HAS_SENT][d] ? st[S_LAST_ABS][d] + sd(raw - st[S_LAST_RAW][d]) : 0;
        st[S_LAST_RAW][d] = raw;
        st[S_LAST_ABS][d] = seq;
        st[S_HAS_SENT][d] = 1;
        int64_t length = payload + ((flags & TCP_SYN_FLAG) != 0) + ((flags & TCP_FIN) != 0);
        int64_t end = seq + length, before = st[S_SND_MAX][d];
        int keepalive = payload <= 1 && seq == before - 1 && !(flags & (TCP_SYN_FLAG | TCP_FIN));
        int resent = length > 0 && before != NONE_SEQ && seq < before && !keepalive;
        if (length > 0 && end > before) st[S_SND_MAX][d] = end;
        st[S_PACKETS][d] += 1;
        st[S_RETRANSMISSIONS][d] += resent;
        if (resent) code |= RESENT;
        if (payload > 0) {
            st[S_DATA_PACKETS][d] += 1;
            st[S_DATA_BYTES][d] += payload;
            if (ip_len > st[S_LARGEST_IP_LEN][d]) st[S_LARGEST_IP_LEN][d] = ip_len;
            if (c[C_HEADER_LEN][r] > st[S_MAX_HEADER_LEN][d]) {
                st[S_MAX_HEADER_LEN][d] = c[C_HEADER_LEN][r];
            }
            if (payload > st[S_MAX_PAYLOAD][d]) st[S_MAX_PAYLOAD][d] = payload;
            if ((before == NONE_SEQ || seq >= before) && ip_len <= ETHERNET_MTU) code |= NEW_DATA;
        }
        if (flags & TCP_SYN_FLAG) {
            st[S_SYN_MSS][d] = c[C_MSS][r];
            st[S_SYN_SEEN][d] = 1;
        }
        if (first_ts[d] != first_ts[d]) { /* NaN: its first segment */
            first_ts[d] = ts[r];
            st[S_FIRST_FRAME][d] = c[C_FRAME][r];
        }
        last_ts[d] = ts[r];
        st[S_LAST_FRAME][d] = c[C_FRAME][r];
        if (flags & (TCP_FIN | TCP_RST)) st[S_FINISHED][c[C_FLOWS][r]] = 1;
        out_end[r] = end;
        out_cum[r] = NONE_SEQ;
        out_top[r] = NONE_SEQ;
        /* the segment as an acknowledgement of its peer's data */
        if (p >= 0 && st[S_HAS_SENT][p] && (flags & TCP_ACK)) {
            int64_t ack = st[S_LAST_ABS][p] + sd(c[C_ACK][r] - st[S_LAST_RAW][p]);
            int64_t cum = st[S_CUM_ACK][p] > ack ? st[S_CUM_ACK][p] : ack;
            int64_t top = st[S_SND_MAX][p], window = c[C_WINDOW][r];
            st[S_CUM_ACK][p] = cum;
            int pure = payload == 0 && !(flags & (TCP_SYN_FLAG | TCP_FIN | TCP_RST));
            int64_t pure_ack = pure ? ack : NONE_SEQ, prev = st[S_LAST_PURE_ACK][p];
            if (pure && prev != NONE_SEQ && pure_ack == prev &&
                window == st[S_LAST_PURE_WINDOW][p] && ack < top) {
                st[S_DUP_ACKS][p] += 1;
            }
            st[S_LAST_PURE_ACK][p] = pure_ack;
            st[S_LAST_PURE_WINDOW][p] = window;
            int64_t blocks = c[C_SACK_COUNT][r];
            for (int64_t k = 0; k < blocks && k < 4; k++) {
                int64_t left = c[C_SACK_LEFT][4 * r + k], right = c[C_SACK_RIGHT][4 * r + k];
                if (sd(right - left) > 0) {
                    st[S_SACK_BLOCKS][p] += 1;
                    if (sd(right - c[C_ACK][r]) <= 0) st[S_DSACKS][p] += 1;
                }
            }
            if (cum != NONE_SEQ && cum > top) st[S_ACKED_UNSEEN][p] = 1;
            code |= ACKING;
            if (cum != NONE_SEQ && top != NONE_SEQ && cum < top) code |= GAP;
            out_cum[r] = cum;
            out_top[r] = top;
        }
        out_code[r] = code;
    }
    result = Py_BuildValue("(y#y#y#y#)", (const char *)out_end, n * 8, (const char *)out_code, n,
                           (const char *)out_cum, n * 8, (const char *)out_top, n * 8);
done:
    for (int k = 0; k < N_COLUMNS; k++) if (cv[k].obj) PyBuffer_Release(&cv[k]);
    for (int k = 0; k < N_STATE; k++) if (sv[k].obj) PyBuffer_Release(&sv[k]);
    PyMem_Free(out_end);
    PyMem_Free(out_cum);
    PyMem_Free(out_top);
    PyMem_Free(out_code);
    return result;
}

/* known_directions(keys, table_mix, table_dir, key_columns) -> bytes of int64
 *   keys: the 7 key columns of the segments (version, src hi, src lo, sport, dst hi, dst lo,
 *   dport; 8-byte integers); table_mix: sorted uint64 mixes of the known directions' keys
 *   (screen.mix), table_dir: their directions, key_columns: each direction's 7 key values.
 *   Returns each row's direction, or -1 where its key is not known (or its mix collides). */
static const uint64_t mix_multipliers[7] = {
    0x9E3779B97F4A7C15ULL, 0xBF58476D1CE4E5B9ULL, 0x94D049BB133111EBULL, 0xD6E8FEB86659FD93ULL,
    0xA0761D6478BD642FULL, 0xE7037ED1A0B428DBULL, 0x8EBC6AF09C88C6E3ULL};

static PyObject *known_directions(PyObject *self, PyObject *args) {
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

static PyMethodDef methods[] = {
    {"known_directions", known_directions, METH_VARARGS, "Directions of known keys."},
    {"screen_rows", screen_rows, METH_VARARGS, "The screen's per-row core."},
    {"tcp_headers", tcp_headers, METH_VARARGS, "The fast lane of decoding: (kinds, fields)."},
    {"pcap", walk_pcap, METH_VARARGS, "Walk pcap records: (offsets, next_pos, status)."},
    {"pcapng", walk_pcapng, METH_VARARGS, "Walk pcapng blocks: (offsets, types, next_pos, status)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native", "Compiled record walkers (see pcapmtu/walk.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
