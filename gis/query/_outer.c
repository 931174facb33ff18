/* gis.query._outer — the coverage's outline matched in hash tables (issue 16).
 *
 * gis/query/lookup_outer.py keeps the edges a point outside every grid can be nearest to: an
 * edge is dropped when it and one edge of another polygon on its other side are alone on the
 * same segment.  Matched in numpy (a hash of every edge, one sort) that cost ~0.4 µs an edge:
 * 40 s for a province's 99 million, more than its whole index may take.  Here (~0.15 µs):
 *
 * - ring_edges(coords, ring, ring_owner, hole, starts, owner, right): the edges of rings
 *   (from each vertex to the next of its ring), each edge's polygon, and whether it is on the
 *   edge's right (a shell turning clockwise, a hole counter-clockwise: its area's sign, summed
 *   from the cross products about the ring's first vertex); their count.
 * - survive(coords, starts, right, owner, candidate, per_window, outer, kept): the edges
 *   matched a window of polygons at a time (owner // per_window; every polygon at once when
 *   per_window is 0), gathered and put in an open-addressing table that stays in the caches
 *   (a version's grids in code order are near one another).  outer: a candidate not matched;
 *   kept: outer, or starting at an end of an outer edge of its window.  Segments are
 *   compared on their exact coordinates: a hash only finds them, a collision changes nothing.
 *
 * Passes whose windows are unions of the last pass's keep what one pass over every polygon
 * keeps (gis.query.lookup_outer.outer_edges says why).  The GIL is released while matching.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_buffers.h"

static PyObject *ring_edges(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    static const Want wants[7] = {{"coords", 8, 0}, {"ring", 8, 0},   {"ring_owner", 8, 0},
                                  {"hole", 1, 0},   {"starts", 8, 1}, {"owner", 8, 1},
                                  {"right", 1, 1}};
    Py_buffer v[7];
    (void)module;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError,
                        "ring_edges(coords, ring, ring_owner, hole, starts, owner, right)");
        return NULL;
    }
    if (take_all(args, v, wants, 7) < 0) return NULL;
    const double *p = v[0].buf;
    const int64_t *ring = v[1].buf, *ring_owner = v[2].buf;
    const uint8_t *hole = v[3].buf;
    int64_t *starts = v[4].buf, *owner = v[5].buf;
    uint8_t *right = v[6].buf;
    Py_ssize_t n = v[1].len / 8, rings = v[3].len, m = 0;
    const char *problem = NULL;
    if (v[0].len != 16 * n || v[2].len != 8 * rings || v[4].len < 8 * n || v[5].len < 8 * n ||
        v[6].len < n)
        problem = "ring_edges: two coordinates a vertex, a polygon and a flag a ring, room for "
                  "an edge a vertex";
    for (Py_ssize_t i = 0; problem == NULL && i < n; i++)
        if (ring[i] < 0 || ring[i] >= rings) problem = "ring_edges: a vertex of no ring";
    if (problem != NULL) {
        release_all(v, 7);
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t a = 0, b; a < n; a = b) {
        double x0 = p[2 * a], y0 = p[2 * a + 1], area = 0.0;
        for (b = a + 1; b < n && ring[b] == ring[a]; b++) {
            double ux = p[2 * b - 2] - x0, uy = p[2 * b - 1] - y0;
            double vx = p[2 * b] - x0, vy = p[2 * b + 1] - y0;
            area += ux * vy - vx * uy;
        }
        uint8_t on_right = (area > 0.0) == (hole[ring[a]] != 0);
        for (Py_ssize_t i = a; i + 1 < b; i++, m++) {
            starts[m] = i;
            owner[m] = ring_owner[ring[a]];
            right[m] = on_right;
        }
    }
    Py_END_ALLOW_THREADS
    release_all(v, 7);
    return PyLong_FromSsize_t(m);
}

/* ------------------------------------------------------------------ matching */

typedef struct {
    uint32_t a, b; /* window positions + 1 of the first two edges on a segment; 0: none */
} Slot;

#define MANY UINT32_MAX /* b: three or more edges on the segment */

static inline uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

/* A point's hash: equal points (same_point) hash alike, -0.0 as 0.0. */
static inline uint64_t point_hash(const double *q) {
    double qx = q[0] + 0.0, qy = q[1] + 0.0; /* -0.0 + 0.0 is 0.0 */
    uint64_t x, y;
    memcpy(&x, &qx, 8);
    memcpy(&y, &qy, 8);
    return mix(x ^ mix(y + 0x9E3779B97F4A7C15ULL));
}

static inline int same_point(const double *q, const double *r) {
    return q[0] == r[0] && q[1] == r[1];
}

typedef struct {
    double at[4]; /* x, y of the start, x, y of the end */
} Edge;

#define ON_RIGHT 1
#define CANDIDATE 2
#define OUTER 4
#define KEPT 8

typedef struct {
    Edge *edge;     /* the window's edges, gathered */
    uint8_t *flags; /* per edge of the window: ON_RIGHT, CANDIDATE in; OUTER, KEPT out */
    Slot *table;
    uint32_t *where;
} Window;

/* One window's k edges (gathered into w->edge, w->flags): matched, then kept. */
static void match_window(Window *w, Py_ssize_t k) {
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)k) cap <<= 1;
    uint64_t mask = cap - 1;
    Slot *t = w->table;
    const Edge *edge = w->edge;
    uint8_t *flags = w->flags;
    memset(t, 0, cap * sizeof(Slot));
    for (Py_ssize_t j = 0; j < k; j++) {
        const double *s = edge[j].at, *e = s + 2;
        int forward = s[0] < e[0] || (s[0] == e[0] && s[1] <= e[1]);
        const double *lo = forward ? s : e, *hi = forward ? e : s;
        uint64_t at = mix(point_hash(lo) * 0x9E3779B97F4A7C15ULL ^ point_hash(hi)) & mask;
        for (;; at = (at + 1) & mask) {
            if (t[at].a == 0) {
                t[at].a = (uint32_t)j + 1;
                break;
            }
            const double *os = edge[t[at].a - 1].at, *oe = os + 2;
            if ((same_point(s, os) && same_point(e, oe)) ||
                (same_point(s, oe) && same_point(e, os))) {
                t[at].b = t[at].b == 0 ? (uint32_t)j + 1 : MANY;
                break;
            }
        }
        w->where[j] = (uint32_t)at;
    }
    Py_ssize_t outers = 0;
    for (Py_ssize_t j = 0; j < k; j++) {
        Slot slot = t[w->where[j]];
        int matched = 0;
        if (slot.b != 0 && slot.b != MANY) {
            Py_ssize_t o = (slot.a - 1 == (uint32_t)j ? slot.b : slot.a) - 1;
            const double *p = edge[j].at, *q = edge[o].at;
            matched = (flags[j] & ON_RIGHT) == (flags[o] & ON_RIGHT)
                          ? same_point(p, q + 2) && same_point(p + 2, q) /* reversed */
                          : same_point(p, q) && same_point(p + 2, q + 2);
        }
        if ((flags[j] & CANDIDATE) && !matched) {
            flags[j] |= OUTER | KEPT;
            outers++;
        }
    }
    if (outers == 0) return;
    /* the ends of the outer edges, as a set of points (a: window position * 2 + end + 1) */
    cap = 16;
    while (cap < 4 * (uint64_t)outers) cap <<= 1;
    mask = cap - 1;
    memset(t, 0, cap * sizeof(Slot));
    for (Py_ssize_t j = 0; j < k; j++) {
        if (!(flags[j] & OUTER)) continue;
        for (int end = 0; end < 2; end++) {
            const double *q = edge[j].at + 2 * end;
            for (uint64_t at = point_hash(q) & mask;; at = (at + 1) & mask) {
                if (t[at].a == 0) {
                    t[at].a = (uint32_t)(2 * j + end + 1);
                    break;
                }
                uint32_t had = t[at].a - 1;
                if (same_point(q, edge[had / 2].at + 2 * (had % 2))) break;
            }
        }
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        if (flags[j] & OUTER) continue;
        const double *q = edge[j].at;
        for (uint64_t at = point_hash(q) & mask; t[at].a != 0; at = (at + 1) & mask) {
            uint32_t had = t[at].a - 1;
            if (same_point(q, edge[had / 2].at + 2 * (had % 2))) {
                flags[j] |= KEPT;
                break;
            }
        }
    }
}

static PyObject *survive(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    static const Want wants[7] = {{"coords", 8, 0},    {"starts", 8, 0}, {"right", 1, 0},
                                  {"owner", 8, 0},     {"candidate", 1, 0},
                                  {"outer", 1, 1},     {"kept", 1, 1}};
    Py_buffer v[7];
    if (nargs != 8) {
        PyErr_SetString(PyExc_TypeError,
                        "survive(coords, starts, right, owner, candidate, per_window, outer, "
                        "kept)");
        return NULL;
    }
    Py_ssize_t per_window = PyLong_AsSsize_t(args[5]);
    if (per_window == -1 && PyErr_Occurred()) return NULL;
    PyObject *arrays[7] = {args[0], args[1], args[2], args[3], args[4], args[6], args[7]};
    if (take_all(arrays, v, wants, 7) < 0) return NULL;
    Py_ssize_t n = v[0].len / 16, m = v[1].len / 8;
    const int64_t *starts = v[1].buf, *owner = v[3].buf;
    const char *problem = NULL;
    if (v[0].len != 16 * n || v[2].len != m || v[3].len != 8 * m || v[4].len != m ||
        v[5].len != m || v[6].len != m)
        problem = "survive: one start, side, owner and flag an edge";
    else if ((uint64_t)m >= MANY / 2)
        problem = "survive: too many edges";
    for (Py_ssize_t i = 0; problem == NULL && i < m; i++)
        if (starts[i] < 0 || starts[i] + 1 >= n)
            problem = "survive: an edge starts outside the coordinates";
        else if (per_window > 0 && owner[i] < 0)
            problem = "survive: an edge without a polygon";
    if (problem != NULL) {
        release_all(v, 7);
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    /* the edges in window order: counted, then placed (a counting sort of owner // per_window) */
    int64_t windows = 1;
    for (Py_ssize_t i = 0; per_window > 0 && i < m; i++)
        if (owner[i] / per_window + 1 > windows) windows = owner[i] / per_window + 1;
    Py_ssize_t *first = PyMem_Calloc((size_t)windows + 1, sizeof(Py_ssize_t));
    Py_ssize_t *order = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(m ? m : 1));
    if (first == NULL || order == NULL) {
        PyMem_Free(first);
        PyMem_Free(order);
        release_all(v, 7);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < m; i++) first[(per_window > 0 ? owner[i] / per_window : 0) + 1]++;
    Py_ssize_t largest = 0;
    for (int64_t w = 0; w < windows; w++) {
        largest = first[w + 1] > largest ? first[w + 1] : largest;
        first[w + 1] += first[w];
    }
    uint64_t cap = 16;
    while (cap < 4 * (uint64_t)largest) cap <<= 1; /* the second table holds two ends an edge */
    size_t most = (size_t)(largest ? largest : 1);
    Window win = {PyMem_Malloc(sizeof(Edge) * most), PyMem_Malloc(most),
                  PyMem_Malloc(cap * sizeof(Slot)), PyMem_Malloc(sizeof(uint32_t) * most)};
    Py_ssize_t *next = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)windows);
    int failed = win.edge == NULL || win.flags == NULL || win.table == NULL ||
                 win.where == NULL || next == NULL;
    if (!failed) {
        const double *coords = v[0].buf;
        const uint8_t *right = v[2].buf, *candidate = v[4].buf;
        uint8_t *outer = v[5].buf, *kept = v[6].buf;
        Py_BEGIN_ALLOW_THREADS
        memcpy(next, first, sizeof(Py_ssize_t) * (size_t)windows);
        for (Py_ssize_t i = 0; i < m; i++)
            order[next[per_window > 0 ? owner[i] / per_window : 0]++] = i;
        for (int64_t w = 0; w < windows; w++) {
            const Py_ssize_t *mine = order + first[w];
            Py_ssize_t k = first[w + 1] - first[w];
            for (Py_ssize_t j = 0; j < k; j++) {
                memcpy(win.edge[j].at, coords + 2 * starts[mine[j]], sizeof(Edge));
                win.flags[j] =
                    (right[mine[j]] ? ON_RIGHT : 0) | (candidate[mine[j]] ? CANDIDATE : 0);
            }
            match_window(&win, k);
            for (Py_ssize_t j = 0; j < k; j++) {
                outer[mine[j]] = (win.flags[j] & OUTER) != 0;
                kept[mine[j]] = (win.flags[j] & KEPT) != 0;
            }
        }
        Py_END_ALLOW_THREADS
    }
    PyMem_Free(first);
    PyMem_Free(order);
    PyMem_Free(win.edge);
    PyMem_Free(win.flags);
    PyMem_Free(win.table);
    PyMem_Free(win.where);
    PyMem_Free(next);
    release_all(v, 7);
    if (failed) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"ring_edges", (PyCFunction)(void (*)(void))ring_edges, METH_FASTCALL,
     "ring_edges(coords, ring, ring_owner, hole, starts, owner, right) -> how many edges "
     "(written into starts, owner, right): see the module."},
    {"survive", (PyCFunction)(void (*)(void))survive, METH_FASTCALL,
     "survive(coords, starts, right, owner, candidate, per_window, outer, kept): the edges "
     "matched a window of polygons at a time (written into outer and kept): see the module."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_outer",
                                    "The coverage's outline matched in hash tables.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__outer(void) { return PyModule_Create(&module); }
