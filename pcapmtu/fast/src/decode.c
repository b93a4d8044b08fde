/* tcp_headers: the fast lane of decoding (pcapmtu/fast/columns.py explains). The common shapes
 * only: raw IP, Ethernet with at most one VLAN tag, Linux cooked v1/v2, NULL/LOOP; IPv4
 * unfragmented or IPv6 unfragmented (its extension headers walked); TCP with its header
 * captured. Every other record is left to the exact decoder (pcapmtu/decode.py), which these
 * answers are tested equal to, field by field. */
#include "native.h"

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
#define ROW (FIELDS + 3) /* ... then the MSS, the TCP header's length, where the payload starts */
#define PREFETCH_AHEAD 8 /* records: the memory of one is asked for while 8 are decoded */

enum { SLOW = 0, TCP = 1, UDP = 2, UDP_WIREGUARD = 3, UDP_VXLAN = 4, UDP_GENEVE = 5, ICMP_OTHER = 6 };

static unsigned be16(const unsigned char *p) { return ((unsigned)p[0] << 8) | p[1]; }
static uint64_t be32(const unsigned char *p) {
    return ((uint64_t)p[0] << 24) | ((uint64_t)p[1] << 16) | ((uint64_t)p[2] << 8) | p[3];
}
static uint64_t be64(const unsigned char *p) { return (be32(p) << 32) | be32(p + 4); }
/* IPv6 extension headers walked (pcapmtu/decode.py, IPV6_EXTENSIONS) */
#define IPV6_HOP_BY_HOP 0
#define IPV6_ROUTING 43
#define IPV6_FRAGMENT 44
#define IPV6_AH 51
#define IPV6_DEST_OPTS 60
#define IPV6_MOBILITY 135
#define IPV6_HIP 139
#define IPV6_SHIM6 140
#define MAX_EXTENSION_HEADERS 16
static int ipv6_extension(int next) {
    switch (next) {
    case IPV6_HOP_BY_HOP: case IPV6_ROUTING: case IPV6_FRAGMENT: case IPV6_AH:
    case IPV6_DEST_OPTS: case IPV6_MOBILITY: case IPV6_HIP: case IPV6_SHIM6:
        return 1;
    default:
        return 0;
    }
}
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

/* TCP options read as pcapmtu/decode.py reads them with dpkt (stopped at End-of-Options or at
 * an option cut short): the MSS (the last one; 0 if none) and the SACK
 * blocks (their number, and the edges of the first SACK_KEPT: `sacks`, the row's left edges
 * then, `stride` further on, its right ones; unused edges are 0). */
static void tcp_options(const unsigned char *x, int64_t len, int64_t *out, Py_ssize_t stride,
                        int64_t *sacks) {
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
                    sacks[count] = (int64_t)be32(value + 8 * k);
                    sacks[SACK_KEPT * stride + count] = (int64_t)be32(value + 8 * k + 4);
                }
            }
        }
        i += size;
    }
    out[15 * stride] = count < SACK_KEPT ? count : SACK_KEPT;
    out[(16 + 2 * SACK_KEPT) * stride] = mss;
}

/* The tunnel a UDP datagram carries (pcapmtu/decode.py, udp_tunnel: the same rule): u is its
 * header, room the bytes captured from there, udp_len its length as the IP header says. */
static int udp_kind(const unsigned char *u, int64_t room, int64_t udp_len) {
    if (room < 8 + 4 || udp_len < 8 + 4) return UDP;
    unsigned dport = be16(u + 2), first = u[8];
    int64_t payload = udp_len - 8;
    int64_t wg_len = first == 1 ? 148 : first == 2 ? 92 : first == 3 ? 64 : -1;
    int shaped = payload == wg_len || (first == 4 && payload >= 32); /* any length: capped */
    if (shaped && u[9] == 0 && u[10] == 0 && u[11] == 0) return UDP_WIREGUARD;
    if ((dport == 4789 || dport == 8472) && (first & 0x08) && payload >= 8 + 14) return UDP_VXLAN;
    if (dport == 6081 && (first >> 6) == 0 && payload >= 8 + 14) return UDP_GENEVE;
    return UDP;
}

/* An IPv6 header's length with its extension headers (o: the header, room: the bytes captured
 * from there), its last next-header in *proto; -1 for those the exact decoder reads: a real
 * fragment, a header cut short, more than MAX_EXTENSION_HEADERS of them (pcapmtu/decode.py,
 * _ipv6: the same walk). An eth0 capture's multicast listener reports (ICMPv6 behind a
 * hop-by-hop header) are so skipped without loading the exact decoder. */
static int64_t ipv6_extensions(const unsigned char *o, int64_t room, int *proto) {
    int64_t pos = 40;
    int next = o[6];
    for (int k = 0;; k++) {
        if (k == MAX_EXTENSION_HEADERS) return -1; /* however the chain goes on */
        if (!ipv6_extension(next)) break;
        if (pos + 8 > room) return -1;
        const unsigned char *x = o + pos;
        if (next == IPV6_FRAGMENT) {
            if (be16(x + 2) & 0xFFF9) return -1; /* an offset or more to come: a real one */
            pos += 8;                          /* atomic: carry on */
        } else if (next == IPV6_AH) {
            pos += ((int64_t)x[1] + 2) * 4; /* in 4-byte units, less 2 (RFC 4302) */
        } else {
            pos += ((int64_t)x[1] + 1) * 8;
        }
        next = x[0];
    }
    *proto = next;
    return pos;
}

/* One record: SLOW, UDP (or a UDP_ kind: a tunnel's), or TCP with its fields written to
 * `out`, field k at out[k * stride] (column after column), but the SACK edges: at `sacks`
 * (tcp_options). */
static int tcp_row(const unsigned char *r, int64_t caplen, int64_t orig_len, int64_t link,
                   int64_t *out, Py_ssize_t stride, int64_t *sacks) {
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
        ip_header = ipv6_extensions(o, room, &proto);
        if (ip_header < 0 || total < ip_header) return SLOW;
        src_hi = be64(o + 8);
        src_lo = be64(o + 16);
        dst_hi = be64(o + 24);
        dst_lo = be64(o + 32);
    } else {
        return SLOW;
    }
    if (proto == 17) return udp_kind(o + ip_header, room - ip_header, total - ip_header);
    if ((proto == 1 && version == 4) || (proto == 58 && version == 6)) {
        /* an ICMP message that is no "fragmentation needed" (ICMPv6: "packet too big") is
         * skipped as the exact decoder skips it; those, and any cut short, are its to read */
        const unsigned char *m = o + ip_header;
        if (total < ip_header || ip_header + 8 > room) return SLOW;
        int too_big = version == 4 ? (m[0] == 3 && m[1] == 4) : m[0] == 2;
        return too_big ? SLOW : ICMP_OTHER;
    }
    if (proto != 6 || ip_header + 20 > room) return SLOW;
    const unsigned char *t = o + ip_header;
    unsigned off_flags = be16(t + 12);
    int64_t tcp_header = (off_flags >> 12) * 4, payload = total - ip_header - tcp_header;
    int flags = off_flags & 0xFF;
    if (tcp_header < 20 || payload < 0 || ip_header + tcp_header > room) return SLOW;
    for (int k = 0; k < SACK_KEPT; k++) sacks[k] = sacks[SACK_KEPT * stride + k] = 0;
    tcp_options(t + 20, tcp_header - 20, out, stride, sacks);
    out[(FIELDS + 1) * stride] = tcp_header;
    out[(FIELDS + 2) * stride] = ip + ip_header + tcp_header;
    out[1 * stride] = version;
    out[2 * stride] = (int64_t)src_hi;
    out[3 * stride] = (int64_t)src_lo;
    out[4 * stride] = (int64_t)dst_hi;
    out[5 * stride] = (int64_t)dst_lo;
    out[6 * stride] = be16(t);
    out[7 * stride] = be16(t + 2);
    out[8 * stride] = (int64_t)be32(t + 4);
    out[9 * stride] = (int64_t)be32(t + 8);
    out[10 * stride] = flags;
    out[11 * stride] = be16(t + 14);
    out[12 * stride] = total;
    out[13 * stride] = ip_header + tcp_header;
    out[14 * stride] = payload;
    return TCP;
}

/* tcp_headers(buffer, offsets, caplens, orig_lens, link_types) -> (kinds, fields)
 *   inputs: the batch's bytes and four int64 arrays; kinds: one byte per record (0: for the
 *   one-by-one decoder, 1: TCP, 2: UDP, 3 to 5: UDP of WireGuard, VXLAN, GENEVE, 6: ICMP
 *   other than too-big); fields: ROW columns of n int64 each (n: the number of records), the
 *   TCP records' values first in each column (the rest unused), in order:
 *   record index, IP version, src hi, src lo, dst hi, dst lo, sport, dport, seq, ack, flags,
 *   window, IP length, header length, payload length, SACK blocks, then SACK_KEPT columns'
 *   room for the left edges, row after row (SACK_KEPT per row: a (rows, SACK_KEPT) array),
 *   as much for the right edges, then the MSS (0: none), the TCP header length, and where in
 *   the record its payload starts (the bytes its headers take, link layer included). Written
 *   as they are decoded: no copy later. */
PyObject *tcp_headers(PyObject *self, PyObject *args) {
    Py_buffer data, off, cap, orig, link;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*", &data, &off, &cap, &orig, &link)) {
        return NULL;
    }
    Py_ssize_t n = off.len / (Py_ssize_t)sizeof(int64_t);
    const int64_t *offsets = off.buf, *caplens = cap.buf, *origs = orig.buf, *links = link.buf;
    PyObject *result = NULL;
    PyObject *kinds_bytes = PyBytes_FromStringAndSize(NULL, n);
    PyObject *columns = PyBytes_FromStringAndSize(NULL, ROW * n * (Py_ssize_t)sizeof(int64_t));
    if (kinds_bytes == NULL || columns == NULL) goto done;
    unsigned char *kinds = (unsigned char *)PyBytes_AS_STRING(kinds_bytes);
    int64_t *fields = (int64_t *)PyBytes_AS_STRING(columns);
    Py_ssize_t rows = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n && offsets[i + PREFETCH_AHEAD] + 128 <= data.len) {
            /* the headers of a record a few ahead: their cache lines arrive meanwhile */
            const char *ahead = (const char *)data.buf + offsets[i + PREFETCH_AHEAD];
            PREFETCH(ahead);
            PREFETCH(ahead + 64);
        }
        int64_t *out = fields + rows, *sacks = fields + 16 * n + SACK_KEPT * rows;
        const unsigned char *r = (const unsigned char *)data.buf + offsets[i];
        int kind = offsets[i] + caplens[i] <= data.len
                       ? tcp_row(r, caplens[i], origs[i], links[i], out, n, sacks)
                       : SLOW;
        kinds[i] = (unsigned char)kind;
        if (kind == TCP) {
            out[0] = i;
            rows++;
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(NNn)", kinds_bytes, columns, rows);
    kinds_bytes = columns = NULL; /* the result holds them */
done:
    Py_XDECREF(kinds_bytes);
    Py_XDECREF(columns);
    PyBuffer_Release(&data);
    PyBuffer_Release(&off);
    PyBuffer_Release(&cap);
    PyBuffer_Release(&orig);
    PyBuffer_Release(&link);
    return result;
}
